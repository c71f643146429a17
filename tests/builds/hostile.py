"""Hostile builds for the tests, written byte by byte the way an attacker would write them.

Zips are assembled here from their records (local headers, central directory, end record)
rather than with zipfile's writer, so that headers can lie: a size that understates what the
stream inflates to, an entry count that understates the directory. Deflate streams of zeros
are made by repeating one fully flushed block, so a 1 GiB bomb costs ~1 MB and no time.
"""

from __future__ import annotations

import plistlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from qualgent.builds.demo import XmlElement, android_manifest, encode_axml

MiB = 1024 * 1024
GiB = 1024 * MiB
LABEL_REF = 0x7F010000


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes  # as stored in the archive (already deflated when method is 8)
    method: int = 0  # 0 stored, 8 deflated
    size: int | None = None  # declared uncompressed size; default: the real one
    crc: int | None = None  # declared CRC-32; default: that of the stored data


def zeros_deflate(size: int) -> bytes:
    """A raw deflate stream that inflates to ``size`` zero bytes (a multiple of 1 MiB)."""
    assert size % MiB == 0
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(bytes(MiB)) + co.flush(zlib.Z_FULL_FLUSH)
    return block * (size // MiB) + co.flush()


def zeros_crc(size: int) -> int:
    crc, chunk = 0, bytes(MiB)
    for _ in range(size // MiB):
        crc = zlib.crc32(chunk, crc)
    return crc


def deflated(name: str, data: bytes) -> Entry:
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Entry(name, co.compress(data) + co.flush(), 8, len(data), zlib.crc32(data))


def build_zip(entries: list[Entry], declared_count: int | None = None,
              zip64_end: bool = False) -> bytes:
    """A zip of ``entries``; the end record may understate the entry count, and may be a
    zip64 end record (needed past 65,535 entries)."""
    body, directory = bytearray(), bytearray()
    for e in entries:
        name = e.name.encode()
        size = len(e.data) if e.size is None else e.size
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        offset = len(body)
        body += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0x800, e.method, 0, 0x21, crc,
                            len(e.data), size, len(name), 0) + name + e.data
        directory += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0x800, e.method,
                                 0, 0x21, crc, len(e.data), size, len(name), 0, 0, 0, 0, 0,
                                 offset) + name
    count = len(entries) if declared_count is None else declared_count
    cd_offset, cd_size = len(body), len(directory)
    out = body + directory
    if zip64_end:
        end64_at = len(out)
        out += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count,
                           cd_size, cd_offset)
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, end64_at, 1)
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                           0xFFFFFFFF, 0)
    else:
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)
    return bytes(out)


# ------------------------------------------------------------------ identity entries

def label_ref_manifest(package: str = "com.evil.arsc") -> bytes:
    """A binary manifest whose application label references resource LABEL_REF."""
    manifest = encode_axml(XmlElement(
        "manifest", {"android:versionCode": 1, "android:versionName": "1", "package": package},
        [XmlElement("application", {"android:label": LABEL_REF})],
    ))
    # encode_axml writes ints as decimal values: retype this one as a reference (0x01).
    decimal = struct.pack("<HBBI", 8, 0, 0x10, LABEL_REF)
    assert manifest.count(decimal) == 1
    return manifest.replace(decimal, struct.pack("<HBBI", 8, 0, 0x01, LABEL_REF))


def manifest_entry(name: str = "AndroidManifest.xml") -> Entry:
    return deflated(name, android_manifest("com.evil.app", "1.0", 1, "Evil"))


def plist_entry(plist: dict, fmt: plistlib.PlistFormat = plistlib.FMT_BINARY) -> Entry:
    return deflated("Payload/Evil.app/Info.plist", plistlib.dumps(plist, fmt=fmt))


# ------------------------------------------------------------------ the hostile builds

ENTRY_OF_KIND = {
    "apk": "AndroidManifest.xml",
    "ipa": "Payload/Evil.app/Info.plist",
    "aab": "base/manifest/AndroidManifest.xml",
}


def lying_build(kind: str, inflates_to: int = GiB) -> bytes:
    """~1 MB: the identity entry declares 1000 bytes but its stream inflates to 1 GiB."""
    return build_zip([Entry(ENTRY_OF_KIND[kind], zeros_deflate(inflates_to), 8, size=1000,
                            crc=zlib.crc32(bytes(1000)))])


def arsc_bomb_apk(size: int = 250 * MiB) -> bytes:
    """255 KB: a valid manifest whose label is a resource reference, and a resources.arsc
    of 250 MB of zeros (honest sizes)."""
    return build_zip([
        deflated("AndroidManifest.xml", label_ref_manifest()),
        Entry("resources.arsc", zeros_deflate(size), 8, size, zeros_crc(size)),
    ])


def lying_arsc_apk() -> bytes:
    """A valid manifest, and a resources.arsc declaring 1000 bytes that inflates to 1 GiB."""
    return build_zip([
        deflated("AndroidManifest.xml", label_ref_manifest()),
        Entry("resources.arsc", zeros_deflate(GiB), 8, size=1000, crc=zlib.crc32(bytes(1000))),
    ])


def many_entries_apk(count: int = 400_000, declared_count: int | None = None) -> bytes:
    """A valid manifest and ``count`` empty stored entries (34 MB for 400k)."""
    empties = [Entry(f"{k:x}", b"") for k in range(count)]
    return build_zip([manifest_entry(), *empties], declared_count=declared_count,
                     zip64_end=count >= 0xFFFF)


def fat_directory_ipa(count: int = 49_000, name_len: int = 280) -> bytes:
    """Just under the zip index caps: ``count`` entries with long names (~16 MB index)."""
    pad = "d" * (name_len - 20)
    empties = [Entry(f"Payload/Evil.app/{pad}{k:06d}", b"") for k in range(count)]
    return build_zip([plist_entry({"CFBundleIdentifier": "com.evil.fat"}), *empties])


def big_pool_apk(elements: int = 150_000) -> bytes:
    """A manifest with one distinct string per element: 15.9 MB for 150k elements."""
    kids = [XmlElement("uses-permission", {"android:name": f"p.{k:07d}"})
            for k in range(elements)]
    manifest = encode_axml(XmlElement(
        "manifest", {"android:versionCode": 1, "android:versionName": "1",
                     "package": "com.evil.pool"}, kids))
    return build_zip([deflated("AndroidManifest.xml", manifest)])


def attribute_copy_apk(elements: int = 70_000, chars: int = 1_000_000) -> bytes:
    """7.6 MB manifest (350 KB zipped): ``elements`` elements whose attribute all point at one
    1M-character string. A reader that copies the string per attribute needs 70 GB."""
    big = "x" * chars
    kids = [XmlElement("meta-data", {"android:name": big}) for _ in range(elements)]
    manifest = encode_axml(XmlElement(
        "manifest", {"package": "com.evil.attrs", "android:versionCode": 1}, kids))
    return build_zip([deflated("AndroidManifest.xml", manifest)])


def plist_objects_ipa(objects: int = 110_000) -> bytes:
    """A ~1 MB binary Info.plist of empty dictionaries (plistlib's worst case per byte)."""
    return build_zip([plist_entry({"CFBundleIdentifier": "com.evil.plist",
                                   "Junk": [{} for _ in range(objects)]})])


def _ld(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def aab_empty_children(children: int = 4_000_000) -> bytes:
    """An 8 MB protobuf manifest: <manifest> with 4M empty child nodes (2 bytes each)."""
    element = b"\x1a\x08manifest" + b"\x2a\x00" * children
    node = b"\x0a" + _ld(len(element)) + element
    return build_zip([deflated("base/manifest/AndroidManifest.xml", node)])


def _field(number: int, payload: bytes) -> bytes:
    return _ld(number << 3 | 2) + _ld(len(payload)) + payload


def aab_label_ref_manifest(package: str = "com.evil.aab") -> bytes:
    """A protobuf manifest (aapt2 XmlNode) whose application label references LABEL_REF."""
    ns = b"http://schemas.android.com/apk/res/android"
    ref = _field(1, b"\x10" + _ld(LABEL_REF))  # Item.ref = Reference{id}
    label = _field(1, ns) + _field(2, b"label") + _field(6, ref)
    application = _field(3, b"application") + _field(4, label)
    package_attr = _field(2, b"package") + _field(3, package.encode())
    manifest = (_field(3, b"manifest") + _field(4, package_attr)
                + _field(5, _field(1, application)))
    return _field(1, manifest)


def aab_table_bomb(entries: int = 16_000_000) -> bytes:
    """A valid AAB manifest and a 32 MB resources.pb whose label's type holds 16M empty
    entries (2 bytes each on the wire, ~60 bytes each if decoded)."""
    rtype = _field(1, b"\x08\x01") + b"\x1a\x00" * entries  # type_id 1, entries
    package = _field(1, b"\x08\x7f") + _field(3, rtype)  # package_id 0x7f
    table = _field(2, package)
    return build_zip([deflated("base/manifest/AndroidManifest.xml", aab_label_ref_manifest()),
                      deflated("base/resources.pb", table)])


# name (its extension is the build kind) -> builder; conftest.py writes each once per session.
BUILDS: dict[str, Callable[[], bytes]] = {
    "lying_1g.apk": lambda: lying_build("apk"),
    "lying_1g.ipa": lambda: lying_build("ipa"),
    "lying_1g.aab": lambda: lying_build("aab"),
    "bomb_arsc_ref.apk": arsc_bomb_apk,
    "lying_arsc.apk": lying_arsc_apk,
    "many_entries.apk": many_entries_apk,
    "many_entries_understated.apk": lambda: many_entries_apk(300_000, declared_count=1),
    "fat_directory.ipa": fat_directory_ipa,
    "axml_bigpool.apk": big_pool_apk,
    "axml_7mb.apk": lambda: big_pool_apk(70_000),
    "axml_attribute_copy.apk": attribute_copy_apk,
    "plist_objects.ipa": plist_objects_ipa,
    "aab_empty_children.aab": aab_empty_children,
    "aab_table_bomb.aab": aab_table_bomb,
}
