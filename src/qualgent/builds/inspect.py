"""Read the identity (package, version, label) of an uploaded APK, AAB or IPA.

Builds can be 1 GB, so the archive is opened with the stdlib ``zipfile`` on the caller's file
object: it reads the central directory and then only the entries asked for.

Parsers used, and why:

* APK: ``pyaxmlparser`` (androguard's AXML and resources.arsc code, packaged alone with three
  small dependencies) decodes the binary manifest and resolves ``@string`` labels. Rejected:
  ``androguard`` pulls in IPython, SQLAlchemy, networkx and more; ``apkInspector`` calls
  ``logging.basicConfig(level=DEBUG)`` on import and cannot resolve resources.arsc.
  pyaxmlparser reports quirks such as "res1 is not zero!" as warnings on its "pyaxmlparser"
  logger; every failure it could report becomes an ``InvalidBuild`` here, so that logger is
  muted (below) unless the application already set a level on it.
* AAB: aapt2 protobuf XML, see ``_aab``.
* IPA: stdlib ``plistlib`` (binary and XML plists).
"""

from __future__ import annotations

import logging
import plistlib
import re
import typing
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from pyaxmlparser import APK  # type: ignore[import-untyped]

from qualgent.builds import _aab

_pyaxml_log = logging.getLogger("pyaxmlparser")
_pyaxml_log.addHandler(logging.NullHandler())
if _pyaxml_log.level == logging.NOTSET:
    _pyaxml_log.setLevel(logging.CRITICAL)

_log = logging.getLogger(__name__)

# Largest uncompressed manifest / plist, and resource table, that we agree to inflate.
# Real ones are KBs and tens of MBs; the caps stop zip bombs from exhausting memory.
_MAX_MANIFEST = 16 * 1024 * 1024
_MAX_RESOURCES = 256 * 1024 * 1024

_KIND_NAMES = {"apk": "APK", "aab": "Android App Bundle (AAB)", "ipa": "iOS app (IPA)"}
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

    Raises InvalidBuild when the file is not a readable build of that kind.
    """
    readers = {"apk": _read_apk, "aab": _read_aab, "ipa": _read_ipa}
    if kind not in readers:
        raise InvalidBuild(f"Unknown build kind {kind!r}; expected 'apk', 'aab' or 'ipa'.")
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise _invalid(kind, "it is not a zip archive") from exc
    with zf:
        return readers[kind](zf, f)


def _invalid(kind: str, reason: str) -> InvalidBuild:
    return InvalidBuild(f"The uploaded file is not a valid {_KIND_NAMES[kind]}: {reason}.")


def _check_size(zf: zipfile.ZipFile, name: str, kind: str, limit: int) -> None:
    """Refuse to inflate an entry beyond ``limit``.

    zipfile never inflates past the declared size, so checking that size is enough."""
    size = zf.getinfo(name).file_size
    if size > limit:
        raise _invalid(kind, f"its {name} is implausibly large ({size} bytes uncompressed)")


def _read(zf: zipfile.ZipFile, name: str, kind: str, limit: int) -> bytes:
    _check_size(zf, name, kind, limit)
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise _invalid(kind, f"its {name} could not be extracted ({exc})") from exc


def _read_apk(zf: zipfile.ZipFile, f: typing.BinaryIO) -> BuildInfo:
    names = set(zf.namelist())
    if "AndroidManifest.xml" not in names:
        raise _invalid("apk", "it has no AndroidManifest.xml at the archive root")
    # pyaxmlparser inflates these two entries itself: bound them first.
    _check_size(zf, "AndroidManifest.xml", "apk", _MAX_MANIFEST)
    if "resources.arsc" in names:
        _check_size(zf, "resources.arsc", "apk", _MAX_RESOURCES)
    try:
        apk = APK(f)
    except Exception as exc:  # third-party parser on untrusted input
        raise _invalid("apk", "its AndroidManifest.xml could not be decoded") from exc
    if not apk.is_valid_APK():
        raise _invalid("apk", "its AndroidManifest.xml could not be decoded")
    if not apk.package:
        raise _invalid("apk", "its AndroidManifest.xml declares no package name")
    return BuildInfo(
        kind="apk",
        os="Android",
        package_name=apk.package,
        version_name=apk.get_androidversion_name() or None,
        version_code=apk.get_androidversion_code() or None,
        label=_apk_label(apk),
    )


def _apk_label(apk: Any) -> str | None:
    """The app label with @string references resolved via resources.arsc, else None."""
    try:
        return _literal(apk.get_app_name())
    except Exception:  # noqa: BLE001 - a broken resource table must not reject the build
        _log.debug("could not resolve the APK label", exc_info=True)
        return None


def _literal(value: str | None) -> str | None:
    """Drop empty values and references that could not be resolved."""
    return value if value and not value.startswith("@") else None


def _read_aab(zf: zipfile.ZipFile, f: typing.BinaryIO) -> BuildInfo:
    names = set(zf.namelist())
    if _AAB_MANIFEST not in names:
        raise _invalid("aab", f"it has no {_AAB_MANIFEST}")
    data = _read(zf, _AAB_MANIFEST, "aab", _MAX_MANIFEST)
    try:
        manifest = _aab.parse_manifest(data)
    except ValueError as exc:
        raise _invalid("aab", f"its {_AAB_MANIFEST} could not be decoded") from exc
    if not manifest.package:
        raise _invalid("aab", "its manifest declares no package name")
    label = manifest.label
    if manifest.label_ref is not None and _AAB_RESOURCES in names:
        table = _read(zf, _AAB_RESOURCES, "aab", _MAX_RESOURCES)
        label = _aab.resolve_string(table, manifest.label_ref)
    return BuildInfo(
        kind="aab",
        os="Android",
        package_name=manifest.package,
        version_name=manifest.version_name or None,
        version_code=manifest.version_code or None,
        label=label or None,
    )


def _read_ipa(zf: zipfile.ZipFile, f: typing.BinaryIO) -> BuildInfo:
    plist_name = next((n for n in zf.namelist() if _IPA_PLIST.fullmatch(n)), None)
    if plist_name is None:
        raise _invalid("ipa", "it has no Payload/<Name>.app/Info.plist")
    data = _read(zf, plist_name, "ipa", _MAX_MANIFEST)
    try:
        plist = plistlib.loads(data)
    except Exception as exc:  # plistlib raises several unrelated types on bad input
        raise _invalid("ipa", "its Info.plist could not be parsed") from exc
    if not isinstance(plist, dict):
        raise _invalid("ipa", "its Info.plist is not a dictionary")
    bundle_id = plist.get("CFBundleIdentifier")
    if not isinstance(bundle_id, str) or not bundle_id:
        raise _invalid("ipa", "its Info.plist has no CFBundleIdentifier")

    def text(key: str) -> str | None:
        value = plist.get(key)
        return str(value) if value not in (None, "") else None

    return BuildInfo(
        kind="ipa",
        os="iOS",
        package_name=bundle_id,
        version_name=text("CFBundleShortVersionString"),
        version_code=text("CFBundleVersion"),
        label=text("CFBundleDisplayName") or text("CFBundleName"),
    )
