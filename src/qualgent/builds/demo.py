"""Write builds for the simulator: an .apk or .ipa that carries an app model (e.g. Demo Shop).

``write_demo_build(path, "android" | "ios")`` writes Demo Shop (com.qualgent.demo 1.0.0 (1),
label "Demo Shop"); ``write_app_build`` writes any app model. The archives are what
``qualgent.builds.inspect_build`` and the upload API read, and what ``SimulatedDevice.install``
runs:

* APK: a zip with a binary ``AndroidManifest.xml`` (package, versionCode, versionName, a
  literal ``android:label``, a launcher activity) and ``assets/qualgent-app.json``. There is
  no code, resource table or signature: it identifies itself like a real APK but a real
  device would refuse it.
* IPA: ``Payload/<Name>.app/Info.plist`` (binary plist: CFBundleIdentifier,
  CFBundleShortVersionString, CFBundleVersion, CFBundleDisplayName, ...) and
  ``Payload/<Name>.app/qualgent-app.json``.

Zip entries carry a fixed timestamp, so the same model writes byte-identical builds.

Why a small AXML encoder here rather than a library: the only maintained Python package that
writes Android binary XML, ``pyaxml`` (0.1.x), does produce a manifest pyaxmlparser reads back,
but it is GPL-licensed (this project is Apache-2.0) and ships a 2.4 MB native extension plus
lxml and click, all for one ~700-byte file. ``androguard``/``pyaxmlparser`` only read AXML. The
subset a manifest needs is small and stable (it is frozen in AOSP's ResourceTypes.h): a chunk
header, a UTF-16 string pool, a resource map giving android: attributes their framework ids,
and start/end namespace and element chunks with typed attribute values; ``encode_axml`` below
writes exactly that, and the tests read its output back with pyaxmlparser.
"""

from __future__ import annotations

import json
import plistlib
import re
import struct
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qualgent.builds._restypes import (
    ANDROID_ATTR_IDS,
    ANDROID_NS,
    NO_INDEX,
    RES_STRING_POOL_TYPE,
    RES_XML_END_ELEMENT_TYPE,
    RES_XML_END_NAMESPACE_TYPE,
    RES_XML_RESOURCE_MAP_TYPE,
    RES_XML_START_ELEMENT_TYPE,
    RES_XML_START_NAMESPACE_TYPE,
    RES_XML_TYPE,
    TYPE_INT_BOOLEAN,
    TYPE_INT_DEC,
    TYPE_STRING,
)
from qualgent.drivers.simulator.demo_shop import demo_shop_model
from qualgent.drivers.simulator.field_notes import field_notes_model
from qualgent.drivers.simulator.model import load_model

APK_MODEL_ENTRY = "assets/qualgent-app.json"
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


@dataclass
class XmlElement:
    """An element for ``encode_axml``. Attribute keys are ``"android:name"`` or plain names;
    values are str (string), bool (boolean) or int (decimal integer)."""

    tag: str
    attrs: Mapping[str, str | bool | int] = field(default_factory=dict)
    children: Sequence[XmlElement] = ()


def encode_axml(root: XmlElement) -> bytes:
    """Android binary XML for the tree under ``root``, declaring the android namespace."""
    elements = list(_walk(root))
    android_names: list[str] = []
    for el in elements:
        for key in el.attrs:
            if key.startswith("android:"):
                name = key.split(":", 1)[1]
                if name not in ANDROID_ATTR_IDS:
                    raise ValueError(f"no resource id known for android:{name}")
                if name not in android_names:
                    android_names.append(name)
    android_names.sort(key=ANDROID_ATTR_IDS.__getitem__)
    # Strings with a resource id come first, in the order of the resource map.
    pool: dict[str, int] = {}

    def index(s: str) -> int:
        return pool.setdefault(s, len(pool))

    for name in android_names:
        index(name)
    index("android")
    index(ANDROID_NS)

    body = bytearray()
    line = 1

    def node(kind: int, ext: bytes) -> None:
        nonlocal line
        body.extend(struct.pack("<HHIII", kind, 16, 16 + len(ext), line, NO_INDEX) + ext)
        line += 1

    ns_ext = struct.pack("<II", index("android"), index(ANDROID_NS))
    node(RES_XML_START_NAMESPACE_TYPE, ns_ext)

    def element(el: XmlElement) -> None:
        attrs = []
        for key, value in el.attrs.items():
            if key.startswith("android:"):
                ns, name = index(ANDROID_NS), index(key.split(":", 1)[1])
                order = ANDROID_ATTR_IDS[key.split(":", 1)[1]]
            else:
                ns, name, order = NO_INDEX, index(key), 1 << 32
            if isinstance(value, bool):
                raw, vtype, data = NO_INDEX, TYPE_INT_BOOLEAN, 0xFFFFFFFF if value else 0
            elif isinstance(value, int):
                raw, vtype, data = NO_INDEX, TYPE_INT_DEC, value & 0xFFFFFFFF
            else:
                raw = data = index(str(value))
                vtype = TYPE_STRING
            attrs.append((order, struct.pack("<IIIHBBI", ns, name, raw, 8, 0, vtype, data)))
        attrs.sort(key=lambda a: a[0])  # by resource id, as aapt writes them
        ext = struct.pack("<IIHHHHHH", NO_INDEX, index(el.tag), 20, 20, len(attrs), 0, 0, 0)
        node(RES_XML_START_ELEMENT_TYPE, ext + b"".join(a for _, a in attrs))
        for child in el.children:
            element(child)
        node(RES_XML_END_ELEMENT_TYPE, struct.pack("<II", NO_INDEX, index(el.tag)))

    element(root)
    node(RES_XML_END_NAMESPACE_TYPE, ns_ext)

    strings = _string_pool(list(pool))
    res_map = struct.pack("<HHI", RES_XML_RESOURCE_MAP_TYPE, 8, 8 + 4 * len(android_names))
    res_map += b"".join(struct.pack("<I", ANDROID_ATTR_IDS[n]) for n in android_names)
    payload = strings + res_map + bytes(body)
    return struct.pack("<HHI", RES_XML_TYPE, 8, 8 + len(payload)) + payload


def _walk(el: XmlElement) -> Any:
    yield el
    for child in el.children:
        yield from _walk(child)


def _string_pool(strings: list[str]) -> bytes:
    """A UTF-16 string pool chunk (no styles)."""
    offsets, data = [], bytearray()
    for s in strings:
        offsets.append(len(data))
        units = s.encode("utf-16-le")
        n = len(units) // 2
        if n > 0x7FFF:
            data += struct.pack("<HH", 0x8000 | (n >> 16), n & 0xFFFF)
        else:
            data += struct.pack("<H", n)
        data += units + b"\x00\x00"
    data += b"\x00" * (-len(data) % 4)
    header_size = 28
    strings_start = header_size + 4 * len(strings)
    header = struct.pack("<HHIIIIII", RES_STRING_POOL_TYPE, header_size,
                         strings_start + len(data), len(strings), 0, 0, strings_start, 0)
    return header + b"".join(struct.pack("<I", o) for o in offsets) + bytes(data)


def android_manifest(package: str, version_name: str, version_code: int, label: str,
                     min_sdk: int = 24, target_sdk: int = 34) -> bytes:
    """A binary AndroidManifest.xml with a literal label and one launcher activity."""
    launcher = XmlElement("intent-filter", children=[
        XmlElement("action", {"android:name": "android.intent.action.MAIN"}),
        XmlElement("category", {"android:name": "android.intent.category.LAUNCHER"}),
    ])
    activity = XmlElement("activity", {"android:name": f"{package}.MainActivity",
                                       "android:exported": True}, [launcher])
    return encode_axml(XmlElement(
        "manifest",
        {"android:versionCode": version_code, "android:versionName": version_name,
         "package": package},
        [XmlElement("uses-sdk", {"android:minSdkVersion": min_sdk,
                                 "android:targetSdkVersion": target_sdk}),
         XmlElement("application", {"android:label": label}, [activity])],
    ))


def write_app_build(path: Path, model: Mapping[str, Any], platform: str = "android",
                    version_name: str = "1.0.0", version_code: int = 1) -> None:
    """Write an .apk (platform "android") or .ipa ("ios") carrying the app ``model``.

    The model is validated first (``ModelError``); its package and label identify the build.
    """
    path = Path(path)
    platform = platform.lower()
    suffix = {"android": ".apk", "ios": ".ipa"}.get(platform)
    if suffix is None:
        raise ValueError(f"platform must be 'android' or 'ios', not {platform!r}")
    if path.suffix.lower() != suffix:
        raise ValueError(f"a {platform} build is written to a {suffix} file, not {path.name}")
    app = load_model(model)
    model_json = json.dumps(app.raw, indent=1, ensure_ascii=False).encode()
    if platform == "android":
        entries = {
            "AndroidManifest.xml": android_manifest(app.package, version_name, version_code,
                                                    app.label),
            APK_MODEL_ENTRY: model_json,
        }
    else:
        name = re.sub(r"[^A-Za-z0-9]", "", app.label) or "App"
        info = {
            "CFBundleIdentifier": app.package,
            "CFBundleName": name,
            "CFBundleDisplayName": app.label,
            "CFBundleExecutable": name,
            "CFBundlePackageType": "APPL",
            "CFBundleShortVersionString": version_name,
            "CFBundleVersion": str(version_code),
            "CFBundleSupportedPlatforms": ["iPhoneOS"],
            "MinimumOSVersion": "15.0",
            "UIDeviceFamily": [1, 2],
        }
        entries = {
            f"Payload/{name}.app/Info.plist": plistlib.dumps(info, fmt=plistlib.FMT_BINARY),
            f"Payload/{name}.app/qualgent-app.json": model_json,
        }
    with zipfile.ZipFile(path, "w") as zf:
        for entry, data in entries.items():
            info_ = zipfile.ZipInfo(entry, date_time=_ZIP_TIME)
            info_.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info_, data)


def write_demo_build(path: Path, platform: str = "android") -> None:
    """Write the Demo Shop build (com.qualgent.demo 1.0.0 (1), "Demo Shop") to path."""
    write_app_build(path, demo_shop_model(), platform, version_name="1.0.0", version_code=1)


def write_field_notes_build(path: Path, platform: str = "android") -> None:
    """Write the Field Notes build (com.qualgent.fieldnotes 2.3.1 (23), "Field Notes"), the
    second built-in app (dialogs, permission prompts, toggles, a long form, a date picker)."""
    write_app_build(path, field_notes_model(), platform, version_name="2.3.1", version_code=23)
