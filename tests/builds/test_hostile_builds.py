"""inspect_build on hostile builds: each is refused with a clear sentence or read, in bounded
memory, and identity values that are not clean text never come out of it."""

from __future__ import annotations

import io
import plistlib
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyaxmlparser import APK  # type: ignore[import-untyped]

from qualgent.builds import BuildInfo, InvalidBuild, inspect_build
from qualgent.builds._archive import MAX_ENTRIES, read_entry
from qualgent.builds.demo import XmlElement, android_manifest, encode_axml
from tests.builds import hostile as h
from tests.builds.test_inspect import FIXTURE_APK, aab_manifest, aab_resources

MiB = 1024 * 1024


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/self/status")


def peak_growth(action: Callable[[], Any]) -> tuple[Any, int]:
    """Run action; return its result and how far this process's resident memory peaked above
    where it started (the kernel's VmHWM, reset first through /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pytest.skip("needs Linux /proc/self/clear_refs to measure peak memory")
    start = _proc_status("VmRSS")
    result = action()
    return result, _proc_status("VmHWM") - start


def inspect_bytes(data: bytes, kind: str) -> BuildInfo | InvalidBuild:
    try:
        return inspect_build(io.BytesIO(data), kind)
    except InvalidBuild as exc:
        return exc


# name -> a phrase of the refusal, or the package name of an accepted build (whose label,
# a reference into a resource table that is not read, must come out as None)
HOSTILE: dict[str, tuple[str, str]] = {
    "lying_1g.apk": ("refused", "its AndroidManifest.xml could not be decoded"),
    "lying_1g.ipa": ("refused", "its Info.plist could not be parsed"),
    "lying_1g.aab": ("refused", "its base/manifest/AndroidManifest.xml could not be decoded"),
    "bomb_arsc_ref.apk": ("read", "com.evil.arsc"),
    "lying_arsc.apk": ("read", "com.evil.arsc"),
    "many_entries.apk": ("refused", "it has 400001 zip entries, more than the 50000 allowed"),
    "many_entries_understated.apk": ("refused", "it has more than the 50000 zip entries allowed"),
    "fat_directory.ipa": ("read", "com.evil.fat"),
    "axml_bigpool.apk": ("refused", "AndroidManifest.xml is implausibly large (15900544 bytes"),
    "axml_7mb.apk": ("read", "com.evil.pool"),
    "axml_attribute_copy.apk": ("read", "com.evil.attrs"),
    "plist_objects.ipa": ("read", "com.evil.plist"),
    "aab_empty_children.aab": ("refused", "AndroidManifest.xml could not be decoded"),
    "aab_table_bomb.aab": ("read", "com.evil.aab"),
}


def test_every_hostile_build_has_an_expected_outcome() -> None:
    assert set(HOSTILE) == set(h.BUILDS)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_build_in_bounded_memory(name: str, hostile: Callable[[str], Path]) -> None:
    data = hostile(name).read_bytes()
    outcome, expected = HOSTILE[name]
    result, growth = peak_growth(lambda: inspect_bytes(data, name.rsplit(".", 1)[1]))
    if outcome == "refused":
        assert isinstance(result, InvalidBuild), result
        assert expected in str(result)
    else:
        assert isinstance(result, BuildInfo), result
        assert (result.package_name, result.label) == (expected, None)
    assert growth < 64 * MiB, f"{name}: peak grew by {growth / MiB:.0f} MB"


# ---------------------------------------------------------------- the zip layer


def test_entries_inflate_in_bounded_chunks_and_stop_at_the_cap() -> None:
    """An entry that honestly inflates past the cap is cut off there: read_entry never holds
    more than the cap plus one chunk, whatever the entry's size."""
    size = 64 * MiB
    data = h.build_zip([h.Entry("big.bin", h.zeros_deflate(size), 8, size, h.zeros_crc(size))])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert len(read_entry(zf, "big.bin", size)) == size
        with pytest.raises(ValueError, match="implausibly large"):
            read_entry(zf, "big.bin", MiB)
    result, growth = peak_growth(lambda: inspect_bytes(data, "apk"))
    assert "has no AndroidManifest.xml" in str(result)
    assert growth < 16 * MiB


def test_a_lying_entry_with_a_wrong_checksum_is_refused_quickly() -> None:
    data = h.build_zip([h.Entry("AndroidManifest.xml", h.zeros_deflate(h.GiB), 8, 1000, 0)])
    result, growth = peak_growth(lambda: inspect_bytes(data, "apk"))
    assert "its AndroidManifest.xml could not be extracted (Bad CRC-32" in str(result)
    assert growth < 16 * MiB


def test_only_stored_and_deflated_entries_are_inflated() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("AndroidManifest.xml", android_manifest("com.a", "1", 1, "A"))
    result = inspect_bytes(buf.getvalue(), "apk")
    assert isinstance(result, InvalidBuild)
    assert "its AndroidManifest.xml uses zip compression method 12" in str(result)


def test_entry_count_cap_is_exact() -> None:
    fillers = [h.Entry(f"assets/{k}", b"") for k in range(MAX_ENTRIES - 1)]
    at_cap = h.build_zip([h.manifest_entry(), *fillers])
    info = inspect_bytes(at_cap, "apk")
    assert isinstance(info, BuildInfo) and info.package_name == "com.evil.app"
    over = inspect_bytes(h.build_zip([h.manifest_entry(), *fillers, h.Entry("x", b"")]), "apk")
    assert f"it has {MAX_ENTRIES + 1} zip entries" in str(over)
    understated = h.build_zip([h.manifest_entry(), *fillers, h.Entry("x", b"")],
                              declared_count=1)
    assert f"it has more than the {MAX_ENTRIES} zip entries allowed" in str(
        inspect_bytes(understated, "apk"))


def test_a_zip64_archive_written_by_zipfile_is_counted() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("AndroidManifest.xml", android_manifest("com.a", "1", 1, "A"))
        for k in range(70_000):  # past 65,535: zipfile writes a zip64 end record
            zf.writestr(zipfile.ZipInfo(f"{k:x}"), b"")
    assert b"PK\x06\x06" in buf.getvalue()[-200:]
    assert "it has 70001 zip entries" in str(inspect_bytes(buf.getvalue(), "apk"))


def test_an_oversized_zip_index_is_refused_before_it_is_read() -> None:
    names = [h.Entry("n" * 60_000 + str(k), b"") for k in range(300)]  # 18 MB of names
    result = inspect_bytes(h.build_zip([h.manifest_entry(), *names]), "apk")
    assert "its zip index (central directory) is" in str(result)
    assert "more than the 16777216 allowed" in str(result)


# ---------------------------------------------------------------- identity values


def ipa_with(**plist: Any) -> bytes:
    return h.build_zip([h.plist_entry({"CFBundleIdentifier": "com.example", **plist})])


@pytest.mark.parametrize(
    ("plist", "message"),
    [
        ({"CFBundleIdentifier": "com.a\x00b"},
         "its Info.plist CFBundleIdentifier contains a control character (U+0000)"),
        ({"CFBundleIdentifier": "com.a\nb"},
         "its Info.plist CFBundleIdentifier contains a control character (U+000A)"),
        ({"CFBundleIdentifier": 5}, "its Info.plist CFBundleIdentifier is not a string"),
        ({"CFBundleIdentifier": b"com.a"}, "its Info.plist CFBundleIdentifier is not a string"),
        ({"CFBundleIdentifier": "c" * 256},
         "its Info.plist CFBundleIdentifier is longer than 255 characters"),
        ({"CFBundleShortVersionString": "1" * 256},
         "its Info.plist CFBundleShortVersionString is longer than 255 characters"),
        ({"CFBundleDisplayName": "D" * 1000},
         "its Info.plist CFBundleDisplayName is longer than 255 characters"),
    ],
)
def test_ipa_values_that_are_refused(plist: dict[str, Any], message: str) -> None:
    result = inspect_bytes(ipa_with(**plist), "ipa")
    assert isinstance(result, InvalidBuild)
    assert str(result) == f"The uploaded file is not a valid iOS app (IPA): {message}."


def test_ipa_optional_values_that_are_not_text_are_dropped() -> None:
    info = inspect_bytes(ipa_with(
        CFBundleShortVersionString=b"\x00\x01",
        CFBundleVersion={"a": 1},
        CFBundleDisplayName="Bad\x00Name",
        CFBundleName="Good Name",
    ), "ipa")
    assert isinstance(info, BuildInfo)
    assert (info.package_name, info.version_name, info.version_code, info.label) == (
        "com.example", None, None, "Good Name")
    info = inspect_bytes(ipa_with(CFBundleVersion=42, CFBundleShortVersionString=True), "ipa")
    assert isinstance(info, BuildInfo)
    assert (info.version_code, info.version_name) == ("42", None)


def test_ipa_with_a_255_character_bundle_id_is_read() -> None:
    info = inspect_bytes(ipa_with(CFBundleIdentifier="c" * 255), "ipa")
    assert isinstance(info, BuildInfo) and info.package_name == "c" * 255


def test_an_oversized_info_plist_is_refused() -> None:
    result = inspect_bytes(ipa_with(CFBundleIdentifier="c" * 2_000_000), "ipa")
    assert "its Payload/Evil.app/Info.plist is implausibly large" in str(result)


def apk_with(package: str, version: str, label: str) -> bytes:
    return h.build_zip([h.deflated("AndroidManifest.xml",
                                   android_manifest(package, version, 3, label))])


@pytest.mark.parametrize(
    ("package", "message"),
    [
        ("com.a\x00b", "its AndroidManifest.xml package contains a control character (U+0000)"),
        ("c" * 256, "its AndroidManifest.xml package is longer than 255 characters"),
        ("c" * 30_000, "its AndroidManifest.xml package is longer than 255 characters"),
    ],
)
def test_apk_packages_that_are_refused(package: str, message: str) -> None:
    result = inspect_bytes(apk_with(package, "1", "L"), "apk")
    assert str(result) == f"The uploaded file is not a valid APK: {message}."


def test_apk_optional_values_with_control_characters_are_dropped() -> None:
    info = inspect_bytes(apk_with("com.a", "1\x00", "L\x00"), "apk")
    assert isinstance(info, BuildInfo)
    assert (info.package_name, info.version_name, info.version_code, info.label) == (
        "com.a", None, "3", None)
    result = inspect_bytes(apk_with("com.a", "1", "L" * 256), "apk")
    assert "its AndroidManifest.xml label is longer than 255 characters" in str(result)


def test_aab_package_with_nul_is_refused() -> None:
    build = h.build_zip([h.deflated("base/manifest/AndroidManifest.xml",
                                    aab_manifest(package="com.a\x00b"))])
    assert "its manifest package contains a control character (U+0000)" in str(
        inspect_bytes(build, "aab"))


# ---------------------------------------------------------------- same answers as pyaxmlparser


def test_fixture_apk_reads_as_pyaxmlparser_reads_it() -> None:
    """The in-place readers agree with pyaxmlparser (androguard's parsers) on a real APK."""
    apk = APK(FIXTURE_APK.read_bytes(), raw=True)
    with FIXTURE_APK.open("rb") as f:
        info = inspect_build(f, "apk")
    assert (info.package_name, info.version_name, info.version_code, info.label) == (
        apk.package, apk.get_androidversion_name(), apk.get_androidversion_code(),
        apk.get_app_name())


def test_every_string_of_the_fixture_resolves_as_pyaxmlparser_resolves_it() -> None:
    from pyaxmlparser.arscparser import ARSCParser  # type: ignore[import-untyped]
    from pyaxmlparser.arscutil import ARSCResTableConfig  # type: ignore[import-untyped]

    from qualgent.builds import _arsc

    with zipfile.ZipFile(FIXTURE_APK) as zf:
        table = zf.read("resources.arsc")
    parser = ARSCParser(table)
    parser.get_resolved_strings()  # indexes the table (get_res_id_by_key needs it)
    string_type = parser.get_res_id_by_key("io.appium.settings", "string", "app_name") >> 16
    compared = 0
    for res_id in parser.resource_values:
        if res_id >> 16 != string_type:
            continue
        expected = parser.get_resolved_res_configs(res_id, ARSCResTableConfig.default_config())
        assert _arsc.resolve_string(table, res_id, 10_000) == expected[0][1], hex(res_id)
        compared += 1
    assert compared > 20


def test_label_of_the_launcher_activity_when_the_application_has_none() -> None:
    launcher = XmlElement("intent-filter", children=[
        XmlElement("action", {"android:name": "android.intent.action.MAIN"}),
        XmlElement("category", {"android:name": "android.intent.category.LAUNCHER"}),
    ])
    manifest = encode_axml(XmlElement("manifest", {"package": "com.act"}, [
        XmlElement("application", {}, [
            XmlElement("service", {"android:label": "Not a service"}, [launcher]),
            XmlElement("activity", {"android:name": "com.act.Settings",
                                    "android:label": "Settings"}),
            XmlElement("activity", {"android:name": "com.act.Main",
                                    "android:label": "Launcher Label"}, [launcher]),
        ]),
    ]))
    build = h.build_zip([h.deflated("AndroidManifest.xml", manifest)])
    info = inspect_bytes(build, "apk")
    assert isinstance(info, BuildInfo)
    assert info.label == "Launcher Label" == APK(build, raw=True).get_app_name()


def test_demo_builds_are_still_read(tmp_path: Path) -> None:
    from qualgent.builds.demo import write_demo_build

    for platform, kind in (("android", "apk"), ("ios", "ipa")):
        path = tmp_path / f"demo.{kind}"
        write_demo_build(path, platform)
        with path.open("rb") as f:
            info = inspect_build(f, kind)
        assert (info.package_name, info.version_name, info.version_code, info.label) == (
            "com.qualgent.demo", "1.0.0", "1", "Demo Shop")


def test_plist_values_in_xml_format_are_checked_too() -> None:
    data = plistlib.dumps({"CFBundleIdentifier": "com.x", "CFBundleVersion": "7"},
                          fmt=plistlib.FMT_XML)
    info = inspect_bytes(h.build_zip([h.deflated("Payload/X.app/Info.plist", data)]), "ipa")
    assert isinstance(info, BuildInfo) and info.version_code == "7"


# ---------------------------------------------------------------- corrupted builds


def test_a_zip64_offset_past_any_file_is_refused() -> None:
    name, data = b"AndroidManifest.xml", b"x"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0x21, zlib.crc32(data),
                        1, 1, len(name), 0) + name + data
    extra = struct.pack("<HHQ", 1, 8, 2**64 - 1)  # zip64 extra: the local header offset
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0, 0, 0, 0x21,
                          zlib.crc32(data), 1, 1, len(name), len(extra), 0, 0, 0, 0,
                          0xFFFFFFFF) + name + extra
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)
    result = inspect_bytes(local + central + end, "apk")
    assert isinstance(result, InvalidBuild), result


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out)) if out else 0
        op = rng.random()
        if op < 0.6 and out:
            out[i] = rng.randrange(256)
        elif op < 0.8 and out:
            out[i:i + 4] = rng.randbytes(4)
        elif op < 0.9:
            del out[i:i + rng.randint(1, 64)]
        else:
            out[i:i] = rng.randbytes(rng.randint(1, 16))
    return bytes(out)


def test_corrupted_builds_are_read_or_refused_never_crash() -> None:
    """1500 seeded random corruptions of real manifests, resource tables, plists and whole
    zips: each comes back as a BuildInfo or an InvalidBuild, never another exception."""
    with zipfile.ZipFile(FIXTURE_APK) as zf:
        manifest, table = zf.read("AndroidManifest.xml"), zf.read("resources.arsc")
    plist = plistlib.dumps({"CFBundleIdentifier": "com.x", "CFBundleVersion": "1"},
                           fmt=plistlib.FMT_BINARY)
    rng = random.Random(6)
    builders: list[Callable[[], tuple[bytes, str]]] = [
        lambda: (h.build_zip([h.deflated("AndroidManifest.xml", _mutate(rng, manifest)),
                              h.Entry("resources.arsc", table)]), "apk"),
        lambda: (h.build_zip([h.deflated("AndroidManifest.xml", manifest),
                              h.Entry("resources.arsc", _mutate(rng, table))]), "apk"),
        lambda: (h.build_zip([
            h.deflated("base/manifest/AndroidManifest.xml", _mutate(rng, aab_manifest())),
            h.deflated("base/resources.pb", _mutate(rng, aab_resources()))]), "aab"),
        lambda: (_mutate(rng, h.build_zip([h.deflated("Payload/A.app/Info.plist", plist)])),
                 "ipa"),
        lambda: (_mutate(rng, h.build_zip([h.deflated("AndroidManifest.xml", manifest),
                                           h.Entry("resources.arsc", table)])), "apk"),
    ]
    outcomes = {BuildInfo: 0, InvalidBuild: 0}
    for n in range(1500):
        data, kind = builders[n % len(builders)]()
        outcomes[type(inspect_bytes(data, kind))] += 1
    assert outcomes[BuildInfo] and outcomes[InvalidBuild]
