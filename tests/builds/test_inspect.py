"""Tests for qualgent.builds.inspect_build on a real APK and on AAB/IPA archives built here."""

from __future__ import annotations

import io
import os
import plistlib
import random
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from qualgent.builds import BuildInfo, InvalidBuild, inspect_build

FIXTURE_APK = Path(__file__).resolve().parents[1] / "fixtures" / "settings_apk-debug.apk"
ANDROID_NS = "http://schemas.android.com/apk/res/android"


# ---------------------------------------------------------------- helpers


def make_zip(entries: dict[str, bytes], stored: tuple[str, ...] = ()) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            zf.writestr(name, data, compress_type=method)
    buf.seek(0)
    return buf


def fixture_entries(*names: str) -> dict[str, bytes]:
    with zipfile.ZipFile(FIXTURE_APK) as zf:
        return {name: zf.read(name) for name in names}


class CountingReader(io.BytesIO):
    """A BytesIO that counts every byte handed out by read-like calls."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def read1(self, size: int | None = -1) -> bytes:
        data = super().read1(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self.bytes_read += n
        return n


def _aapt_messages() -> dict[str, Any]:
    """aapt.pb messages transcribed from AOSP frameworks/base/tools/aapt2/Resources.proto and
    Configuration.proto, independently of qualgent.builds._aab, so that the AAB fixtures are
    encoded by the protobuf runtime against the upstream field numbers (enums as int32)."""
    F = descriptor_pb2.FieldDescriptorProto
    S, U32, I32, B = F.TYPE_STRING, F.TYPE_UINT32, F.TYPE_INT32, F.TYPE_BOOL
    # name -> [(field, number, type or message, "repeated" | "oneof:<name>" | None)]
    schema: dict[str, list[tuple[str, int, Any, str | None]]] = {
        "SourcePosition": [("line_number", 1, U32, None), ("column_number", 2, U32, None)],
        "XmlNamespace": [
            ("prefix", 1, S, None),
            ("uri", 2, S, None),
            ("source", 3, "SourcePosition", None),
        ],
        "XmlNode": [
            ("element", 1, "XmlElement", "oneof:node"),
            ("text", 2, S, "oneof:node"),
            ("source", 3, "SourcePosition", None),
        ],
        "XmlElement": [
            ("namespace_declaration", 1, "XmlNamespace", "repeated"),
            ("namespace_uri", 2, S, None),
            ("name", 3, S, None),
            ("attribute", 4, "XmlAttribute", "repeated"),
            ("child", 5, "XmlNode", "repeated"),
        ],
        "XmlAttribute": [
            ("namespace_uri", 1, S, None),
            ("name", 2, S, None),
            ("value", 3, S, None),
            ("source", 4, "SourcePosition", None),
            ("resource_id", 5, U32, None),
            ("compiled_item", 6, "Item", None),
        ],
        "Item": [
            ("ref", 1, "Reference", "oneof:value"),
            ("str", 2, "String", "oneof:value"),
            ("raw_str", 3, "RawString", "oneof:value"),
            ("prim", 7, "Primitive", "oneof:value"),
        ],
        "Reference": [
            ("type", 1, I32, None),
            ("id", 2, U32, None),
            ("name", 3, S, None),
            ("private", 4, B, None),
        ],
        "String": [("value", 1, S, None)],
        "RawString": [("value", 1, S, None)],
        "Primitive": [
            ("int_decimal_value", 6, I32, "oneof:oneof_value"),
            ("int_hexadecimal_value", 7, U32, "oneof:oneof_value"),
            ("boolean_value", 8, B, "oneof:oneof_value"),
        ],
        "ToolFingerprint": [("tool", 1, S, None), ("version", 2, S, None)],
        "ResourceTable": [
            ("package", 2, "Package", "repeated"),
            ("tool_fingerprint", 4, "ToolFingerprint", "repeated"),
        ],
        "PackageId": [("id", 1, U32, None)],
        "Package": [
            ("package_id", 1, "PackageId", None),
            ("package_name", 2, S, None),
            ("type", 3, "Type", "repeated"),
        ],
        "TypeId": [("id", 1, U32, None)],
        "Type": [
            ("type_id", 1, "TypeId", None),
            ("name", 2, S, None),
            ("entry", 3, "Entry", "repeated"),
        ],
        "EntryId": [("id", 1, U32, None)],
        "Entry": [
            ("entry_id", 1, "EntryId", None),
            ("name", 2, S, None),
            ("config_value", 6, "ConfigValue", "repeated"),
        ],
        "ConfigValue": [("config", 1, "Configuration", None), ("value", 2, "Value", None)],
        "Configuration": [
            ("mcc", 1, U32, None),
            ("mnc", 2, U32, None),
            ("locale", 3, S, None),
            ("density", 18, U32, None),
        ],
        "Value": [
            ("comment", 2, S, None),
            ("weak", 3, B, None),
            ("item", 4, "Item", "oneof:value"),
        ],
    }
    fdp = descriptor_pb2.FileDescriptorProto(
        name="test_aapt.proto", package="aapt.pb", syntax="proto3"
    )
    for msg_name, fields in schema.items():
        msg = fdp.message_type.add(name=msg_name)
        oneofs: list[str] = []
        for name, number, ftype, flag in fields:
            field = msg.field.add(name=name, number=number)
            field.label = F.LABEL_REPEATED if flag == "repeated" else F.LABEL_OPTIONAL
            if isinstance(ftype, str):
                field.type, field.type_name = F.TYPE_MESSAGE, f".aapt.pb.{ftype}"
            else:
                field.type = ftype
            if flag and flag.startswith("oneof:"):
                oneof = flag.split(":", 1)[1]
                if oneof not in oneofs:
                    oneofs.append(oneof)
                    msg.oneof_decl.add(name=oneof)
                field.oneof_index = oneofs.index(oneof)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"aapt.pb.{n}"))
        for n in schema
    }


PB = _aapt_messages()
LABEL_ID = 0x7F0C0001


def aab_manifest(
    package: str | None = "com.example.bundle",
    label: str | int | None = LABEL_ID,
    version_code_as_prim_only: bool = False,
) -> bytes:
    """An aapt2-style protobuf manifest; ``label`` int = reference to that resource id."""
    root = PB["XmlNode"]()
    el = root.element
    el.name = "manifest"
    el.namespace_declaration.add(prefix="android", uri=ANDROID_NS)
    if package is not None:
        el.attribute.add(name="package", value=package)
    code = el.attribute.add(namespace_uri=ANDROID_NS, name="versionCode", resource_id=0x0101021B)
    if not version_code_as_prim_only:
        code.value = "4021"
    code.compiled_item.prim.int_decimal_value = 4021
    el.attribute.add(
        namespace_uri=ANDROID_NS, name="versionName", value="3.1.4", resource_id=0x0101021C
    )
    el.child.add().element.name = "uses-sdk"
    app = el.child.add().element
    app.name = "application"
    if isinstance(label, int):
        attr = app.attribute.add(
            namespace_uri=ANDROID_NS, name="label", value="@string/app_name", resource_id=0x01010001
        )
        attr.compiled_item.ref.id = label
        attr.compiled_item.ref.name = "string/app_name"
    elif label is not None:
        app.attribute.add(
            namespace_uri=ANDROID_NS, name="label", value=label, resource_id=0x01010001
        )
    return bytes(root.SerializeToString())


def aab_resources() -> bytes:
    """ResourceTable where 0x7f0c0001 is string/app_name (a French and a default value),
    surrounded by decoys sharing its entry id or type."""
    table = PB["ResourceTable"]()
    table.tool_fingerprint.add(tool="Android Asset Packaging Tool (aapt)", version="2.19")
    pkg = table.package.add(package_name="com.example.bundle")
    pkg.package_id.id = 0x7F
    drawable = pkg.type.add(name="drawable")
    drawable.type_id.id = 0x07
    decoy = drawable.entry.add(name="icon")
    decoy.entry_id.id = 0x0001
    decoy.config_value.add().value.item.str.value = "WRONG: drawable"
    strings = pkg.type.add(name="string")
    strings.type_id.id = 0x0C
    other = strings.entry.add(name="other")
    other.entry_id.id = 0x0000
    other.config_value.add().value.item.str.value = "WRONG: other"
    entry = strings.entry.add(name="app_name")
    entry.entry_id.id = 0x0001
    fr = entry.config_value.add()
    fr.config.locale = "fr"
    fr.value.item.str.value = "Mon Appli"
    entry.config_value.add().value.item.str.value = "Bundle App"  # default configuration
    return bytes(table.SerializeToString())


def info_plist(fmt: plistlib.PlistFormat, **overrides: Any) -> bytes:
    plist: dict[str, Any] = {
        "CFBundleIdentifier": "com.example.ios",
        "CFBundleShortVersionString": "2.5.0",
        "CFBundleVersion": "250",
        "CFBundleName": "ExampleApp",
        "CFBundleDisplayName": "Example App",
        "CFBundleExecutable": "ExampleApp",
    }
    plist.update(overrides)
    return plistlib.dumps({k: v for k, v in plist.items() if v is not None}, fmt=fmt)


def ipa(plist: bytes) -> io.BytesIO:
    return make_zip(
        {
            # A nested bundle's plist comes first and must not be mistaken for the app's.
            "Payload/Example.app/Frameworks/Lib.framework/Info.plist": plistlib.dumps(
                {"CFBundleIdentifier": "com.example.lib"}
            ),
            "Payload/Example.app/ExampleApp": b"\xcf\xfa\xed\xfe" + b"\0" * 64,
            "Payload/Example.app/Info.plist": plist,
        }
    )


# ---------------------------------------------------------------- APK


def test_real_apk() -> None:
    with FIXTURE_APK.open("rb") as f:
        f.seek(12345)  # any position
        info = inspect_build(f, "apk")
    assert info == BuildInfo(
        kind="apk",
        os="Android",
        package_name="io.appium.settings",
        version_name="8.0.10",
        version_code="192",
        label="Appium Settings",
    )


def test_real_apk_prints_nothing() -> None:
    """Inspecting a real APK writes to neither stream (pyaxmlparser, which the inspector
    used to call, warns "res1 is not zero!" on this APK).

    Run in a fresh interpreter: pytest's own log handlers would hide the logging module's
    last-resort stderr output here.
    """
    code = textwrap.dedent(f"""
        from qualgent.builds import inspect_build
        with open({str(FIXTURE_APK)!r}, "rb") as f:
            assert inspect_build(f, "apk").label == "Appium Settings"
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert proc.stderr == b""


def test_apk_without_resources_has_no_label() -> None:
    """A label that references resources.arsc is dropped, not returned as "@7F..."."""
    build = make_zip(fixture_entries("AndroidManifest.xml"))
    info = inspect_build(build, "apk")
    assert info.package_name == "io.appium.settings"
    assert info.label is None


# ---------------------------------------------------------------- IPA


@pytest.mark.parametrize("fmt", [plistlib.FMT_XML, plistlib.FMT_BINARY], ids=["xml", "binary"])
def test_ipa(fmt: plistlib.PlistFormat) -> None:
    info = inspect_build(ipa(info_plist(fmt)), "ipa")
    assert info == BuildInfo(
        kind="ipa",
        os="iOS",
        package_name="com.example.ios",
        version_name="2.5.0",
        version_code="250",
        label="Example App",
    )


def test_ipa_falls_back_to_bundle_name_and_tolerates_missing_versions() -> None:
    plist = info_plist(
        plistlib.FMT_BINARY,
        CFBundleDisplayName=None,
        CFBundleShortVersionString=None,
        CFBundleVersion=None,
    )
    info = inspect_build(ipa(plist), "ipa")
    assert (info.label, info.version_name, info.version_code) == ("ExampleApp", None, None)


# ---------------------------------------------------------------- AAB


def test_aab_resolves_label_from_resources_pb() -> None:
    build = make_zip(
        {
            "BundleConfig.pb": b"",
            "base/manifest/AndroidManifest.xml": aab_manifest(),
            "base/resources.pb": aab_resources(),
            "base/dex/classes.dex": b"dex\n035\0",
        }
    )
    info = inspect_build(build, "aab")
    assert info == BuildInfo(
        kind="aab",
        os="Android",
        package_name="com.example.bundle",
        version_name="3.1.4",
        version_code="4021",
        label="Bundle App",
    )


def test_aab_literal_label_and_compiled_only_version_code() -> None:
    build = make_zip(
        {
            "base/manifest/AndroidManifest.xml": aab_manifest(
                label="Plain Label", version_code_as_prim_only=True
            )
        }
    )
    info = inspect_build(build, "aab")
    assert (info.label, info.version_code) == ("Plain Label", "4021")


def test_aab_unresolvable_label_is_none() -> None:
    build = make_zip({"base/manifest/AndroidManifest.xml": aab_manifest()})
    assert inspect_build(build, "aab").label is None
    build = make_zip(
        {
            "base/manifest/AndroidManifest.xml": aab_manifest(label=0x7F0C0099),
            "base/resources.pb": aab_resources(),
        }
    )
    assert inspect_build(build, "aab").label is None


# ---------------------------------------------------------------- invalid input

RANDOM = random.Random(1234).randbytes(64 * 1024)


@pytest.mark.parametrize(
    ("kind", "build", "message"),
    [
        ("apk", io.BytesIO(RANDOM), "not a valid APK: it is not a zip archive"),
        ("aab", io.BytesIO(RANDOM), "not a valid Android App Bundle (AAB): it is not a zip"),
        ("ipa", io.BytesIO(RANDOM), "not a valid iOS app (IPA): it is not a zip archive"),
        ("ipa", io.BytesIO(b""), "it is not a zip archive"),
        ("apk", make_zip({"classes.dex": b"dex"}), "it has no AndroidManifest.xml"),
        ("apk", make_zip({"res/AndroidManifest.xml": b"x"}), "it has no AndroidManifest.xml"),
        ("apk", make_zip({"AndroidManifest.xml": RANDOM[:4096]}), "could not be decoded"),
        (
            "apk",
            make_zip({"AndroidManifest.xml": b"\x03\x00\x08\x00" + RANDOM[:512]}),
            "could not be decoded",
        ),
        (
            "apk",
            make_zip({"AndroidManifest.xml": b"<manifest package='a.b'/>"}),
            "could not be decoded",
        ),
        ("aab", make_zip({"AndroidManifest.xml": b""}), "has no base/manifest/AndroidManifest"),
        (
            "aab",
            make_zip({"base/manifest/AndroidManifest.xml": RANDOM[:4096]}),
            "could not be decoded",
        ),
        (
            "aab",
            make_zip({"base/manifest/AndroidManifest.xml": aab_manifest(package=None)}),
            "declares no package name",
        ),
        ("ipa", make_zip({"Payload/Example.app/Example": b"\0"}), "has no Payload/<Name>.app"),
        (
            "ipa",
            make_zip({"Example.app/Info.plist": info_plist(plistlib.FMT_XML)}),
            "has no Payload/<Name>.app/Info.plist",
        ),
        ("ipa", ipa(b"not a plist"), "Info.plist could not be parsed"),
        ("ipa", ipa(plistlib.dumps(["a", "list"])), "Info.plist is not a dictionary"),
        (
            "ipa",
            ipa(info_plist(plistlib.FMT_XML, CFBundleIdentifier=None)),
            "Info.plist has no CFBundleIdentifier",
        ),
        (
            "ipa",
            ipa(info_plist(plistlib.FMT_BINARY, CFBundleIdentifier="")),
            "Info.plist has no CFBundleIdentifier",
        ),
        ("exe", make_zip({"x": b""}), "Unknown build kind 'exe'"),
    ],
)
def test_invalid_builds(kind: str, build: io.BytesIO, message: str) -> None:
    with pytest.raises(InvalidBuild) as excinfo:
        inspect_build(build, kind)
    text = str(excinfo.value)
    assert message in text
    assert text[0].isupper() and text.endswith(".")
    assert isinstance(excinfo.value, ValueError)


def test_zip_bomb_manifest_is_refused_before_inflating() -> None:
    build = make_zip({"base/manifest/AndroidManifest.xml": b"\0" * (17 * 1024 * 1024)})
    with pytest.raises(InvalidBuild, match="implausibly large"):
        inspect_build(build, "aab")


# ---------------------------------------------------------------- reads only what it needs

PAD = 48 * 1024 * 1024  # a large stored entry placed before the manifest


@pytest.mark.parametrize(
    ("kind", "entries"),
    [
        ("apk", lambda: fixture_entries("AndroidManifest.xml", "resources.arsc")),
        (
            "aab",
            lambda: {
                "base/manifest/AndroidManifest.xml": aab_manifest(),
                "base/resources.pb": aab_resources(),
            },
        ),
        ("ipa", lambda: {"Payload/Example.app/Info.plist": info_plist(plistlib.FMT_BINARY)}),
    ],
)
def test_reads_only_what_it_needs(kind: str, entries: Any) -> None:
    build = make_zip(
        {"assets/padding.bin": bytes(PAD), **entries()}, stored=("assets/padding.bin",)
    )
    reader = CountingReader(build.getvalue())
    reader.seek(PAD // 2)
    info = inspect_build(reader, kind)
    assert info.package_name and info.label
    assert 0 < reader.bytes_read < 1024 * 1024, reader.bytes_read
