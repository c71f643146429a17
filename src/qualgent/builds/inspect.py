"""Read the identity (package, version, label) of an uploaded APK, AAB or IPA.

Builds can be 1 GB and anyone with an API key can upload one, so every step is bounded.
The archive is opened with the stdlib ``zipfile`` on the caller's file object, after its
index is checked, and only the entries needed are inflated, each under a cap (``_archive``).

| what                                   | cap                 | past the cap               |
|----------------------------------------|---------------------|----------------------------|
| zip entries / zip index size           | 50,000 / 16 MiB     | refused                    |
| AndroidManifest.xml (APK and AAB)      | 8 MiB uncompressed  | refused                    |
| Info.plist (IPA)                       | 1 MiB uncompressed  | refused                    |
| resources.arsc / resources.pb          | 32 MiB uncompressed | label read as absent       |
| package, version, label                | 255 characters      | refused                    |

Real manifests are KBs and real Info.plists tens of KBs; plistlib decodes a plist of tiny
objects into some 30 times its size, hence its lower cap. A large app's resource table is
several MB: past the cap the build is still accepted, only a label that is a resource
reference goes unresolved, as when the table is missing or broken.

Readers: the APK's binary manifest and resources.arsc are read in place by ``_axml`` and
``_arsc``, and the AAB's protobuf by ``_aab`` (why not pyaxmlparser or the protobuf runtime
alone: see those modules; both keep memory at the input's size). IPA: stdlib ``plistlib``.
The values found are checked by ``_values`` before they leave this module.
"""

from __future__ import annotations

import logging
import plistlib
import re
import typing
import zipfile
from dataclasses import dataclass

from qualgent.builds import _aab, _arsc, _axml, _values
from qualgent.builds._archive import ArchiveError, MiB, find_entry, open_zip, read_entry

_log = logging.getLogger(__name__)

MAX_MANIFEST = 8 * MiB
MAX_PLIST = 1 * MiB
MAX_RESOURCES = 32 * MiB

_KIND_NAMES = {"apk": "APK", "aab": "Android App Bundle (AAB)", "ipa": "iOS app (IPA)"}
_APK_MANIFEST = "AndroidManifest.xml"
_APK_RESOURCES = "resources.arsc"
_AAB_MANIFEST = "base/manifest/AndroidManifest.xml"
_AAB_RESOURCES = "base/resources.pb"
_IPA_PLIST = re.compile(r"Payload/[^/]+\.app/Info\.plist")


@dataclass(frozen=True)
class BuildInfo:
    """What identifies a build: which app, which version, and its display name."""

    kind: str  # "apk" | "aab" | "ipa"
    os: str  # "Android" | "iOS"
    package_name: str  # Android package / iOS CFBundleIdentifier
    version_name: str | None  # versionName / CFBundleShortVersionString
    version_code: str | None  # versionCode / CFBundleVersion
    label: str | None  # app label / CFBundleDisplayName or CFBundleName


class InvalidBuild(ValueError):
    """The file is not a valid build of its kind; str(exc) is a clear sentence for an API user."""


def inspect_build(f: typing.BinaryIO, kind: str) -> BuildInfo:
    """Identify the build in seekable file ``f`` (any position) of ``kind`` apk, aab or ipa.

    Raises InvalidBuild when the file is not a readable build of that kind, or is one whose
    index, manifest or identity values are past the caps above.
    """
    readers = {"apk": _read_apk, "aab": _read_aab, "ipa": _read_ipa}
    if kind not in readers:
        raise InvalidBuild(f"Unknown build kind {kind!r}; expected 'apk', 'aab' or 'ipa'.")
    try:
        with open_zip(f) as zf:
            return readers[kind](zf)
    except (ArchiveError, _values.BadValue) as exc:
        raise _invalid(kind, str(exc)) from exc


def _invalid(kind: str, reason: str) -> InvalidBuild:
    return InvalidBuild(f"The uploaded file is not a valid {_KIND_NAMES[kind]}: {reason}.")


def _optional_entry(zf: zipfile.ZipFile, name: str, limit: int) -> bytearray | None:
    """An entry that only improves the answer (a resource table): None if absent, past
    ``limit`` or unreadable, rather than refusing the build."""
    entry = find_entry(zf, name)
    if entry is None:
        return None
    try:
        return read_entry(zf, entry, limit)
    except ArchiveError as exc:
        _log.info("build inspection skips %s: %s", name, exc)
        return None


def _read_apk(zf: zipfile.ZipFile) -> BuildInfo:
    entry = find_entry(zf, _APK_MANIFEST)
    if entry is None:
        raise _invalid("apk", "it has no AndroidManifest.xml at the archive root")
    data = read_entry(zf, entry, MAX_MANIFEST)
    try:
        manifest = _axml.read_manifest(data, _values.MAX_CHARS)
    except ValueError as exc:
        raise _invalid("apk", "its AndroidManifest.xml could not be decoded") from exc
    del data
    table: bytearray | None = None

    def text(value: _axml.Value) -> object:
        nonlocal table
        if not isinstance(value, _axml.Ref):
            return value
        if table is None:
            table = _optional_entry(zf, _APK_RESOURCES, MAX_RESOURCES) or bytearray()
        return _arsc.resolve_string(table, value.id, _values.MAX_CHARS)

    if manifest.package is None or manifest.package == "":
        raise _invalid("apk", "its AndroidManifest.xml declares no package name")
    where = "its AndroidManifest.xml"
    return BuildInfo(
        kind="apk",
        os="Android",
        package_name=_values.required(manifest.package, f"{where} package"),
        version_name=_values.optional(text(manifest.version_name), f"{where} versionName"),
        version_code=_values.optional(text(manifest.version_code), f"{where} versionCode"),
        label=_values.optional(text(manifest.label), f"{where} label"),
    )


def _read_aab(zf: zipfile.ZipFile) -> BuildInfo:
    entry = find_entry(zf, _AAB_MANIFEST)
    if entry is None:
        raise _invalid("aab", f"it has no {_AAB_MANIFEST}")
    data = read_entry(zf, entry, MAX_MANIFEST)
    try:
        manifest = _aab.parse_manifest(data)
    except ValueError as exc:
        raise _invalid("aab", f"its {_AAB_MANIFEST} could not be decoded") from exc
    del data
    if not manifest.package:
        raise _invalid("aab", "its manifest declares no package name")
    label = manifest.label
    if manifest.label_ref is not None:
        table = _optional_entry(zf, _AAB_RESOURCES, MAX_RESOURCES)
        label = _aab.resolve_string(table, manifest.label_ref) if table is not None else None
    where = "its manifest"
    return BuildInfo(
        kind="aab",
        os="Android",
        package_name=_values.required(manifest.package, f"{where} package"),
        version_name=_values.optional(manifest.version_name, f"{where} versionName"),
        version_code=_values.optional(manifest.version_code, f"{where} versionCode"),
        label=_values.optional(label, f"{where} label"),
    )


def _read_ipa(zf: zipfile.ZipFile) -> BuildInfo:
    plist_name = next((n for n in zf.namelist() if _IPA_PLIST.fullmatch(n)), None)
    if plist_name is None:
        raise _invalid("ipa", "it has no Payload/<Name>.app/Info.plist")
    data = read_entry(zf, plist_name, MAX_PLIST)
    try:
        plist = plistlib.loads(data)
    except Exception as exc:  # plistlib raises several unrelated types on bad input
        raise _invalid("ipa", "its Info.plist could not be parsed") from exc
    if not isinstance(plist, dict):
        raise _invalid("ipa", "its Info.plist is not a dictionary")
    bundle_id = plist.get("CFBundleIdentifier")
    if bundle_id is None or bundle_id == "":
        raise _invalid("ipa", "its Info.plist has no CFBundleIdentifier")

    def text(key: str) -> str | None:
        return _values.optional(plist.get(key), f"its Info.plist {key}")

    return BuildInfo(
        kind="ipa",
        os="iOS",
        package_name=_values.required(bundle_id, "its Info.plist CFBundleIdentifier"),
        version_name=text("CFBundleShortVersionString"),
        version_code=text("CFBundleVersion"),
        label=text("CFBundleDisplayName") or text("CFBundleName"),
    )
