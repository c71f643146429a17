"""Demo builds: written by qualgent.builds.demo, read back by inspect_build and the simulator."""

from __future__ import annotations

import json
import plistlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from pyaxmlparser import APK  # type: ignore[import-untyped]

from qualgent.builds import inspect_build
from qualgent.builds.demo import (
    XmlElement,
    android_manifest,
    encode_axml,
    write_app_build,
    write_demo_build,
)
from qualgent.drivers.simulator import SIMULATED_FLEET, SimulatedDevice, demo_shop_model


def _zip_with_manifest(tmp_path: Path, manifest: bytes) -> Path:
    path = tmp_path / "m.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("AndroidManifest.xml", manifest)
    return path


def test_demo_apk_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "demo.apk"
    write_demo_build(path)
    with path.open("rb") as f:
        info = inspect_build(f, "apk")
    assert (info.kind, info.os, info.package_name, info.version_name, info.version_code,
            info.label) == ("apk", "Android", "com.qualgent.demo", "1.0.0", "1", "Demo Shop")
    apk = APK(str(path))
    assert apk.is_valid_APK()
    assert apk.get_main_activity() == "com.qualgent.demo.MainActivity"
    assert (apk.get_min_sdk_version(), apk.get_target_sdk_version()) == ("24", "34")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["AndroidManifest.xml", "assets/qualgent-app.json"]
        assert json.loads(zf.read("assets/qualgent-app.json")) == demo_shop_model()


def test_demo_ipa_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "demo.ipa"
    write_demo_build(path, "ios")
    with path.open("rb") as f:
        info = inspect_build(f, "ipa")
    assert (info.kind, info.os, info.package_name, info.version_name, info.version_code,
            info.label) == ("ipa", "iOS", "com.qualgent.demo", "1.0.0", "1", "Demo Shop")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["Payload/DemoShop.app/Info.plist",
                                         "Payload/DemoShop.app/qualgent-app.json"]
        plist = plistlib.loads(zf.read("Payload/DemoShop.app/Info.plist"))
        assert plist["CFBundleIdentifier"] == "com.qualgent.demo"
        assert plist["CFBundleExecutable"] == "DemoShop"
        assert json.loads(zf.read("Payload/DemoShop.app/qualgent-app.json")) == demo_shop_model()


def test_builds_are_reproducible(tmp_path: Path) -> None:
    for suffix, platform in ((".apk", "android"), (".ipa", "iOS")):
        a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        write_demo_build(a, platform)
        write_demo_build(b, platform)
        assert a.read_bytes() == b.read_bytes()


def test_simulator_installs_demo_builds(tmp_path: Path) -> None:
    pixel, iphone, ipad = SIMULATED_FLEET
    apk, ipa = tmp_path / "demo.apk", tmp_path / "demo.ipa"
    write_demo_build(apk, "android")
    write_demo_build(ipa, "ios")
    for device, build in ((pixel, apk), (iphone, ipa), (ipad, ipa)):
        sim = SimulatedDevice(device)
        app = sim.install(build)
        assert (app.package, app.label) == ("com.qualgent.demo", "Demo Shop")
        sim.launch(app.package)
        assert sim.hierarchy().elements[0].text == "Sign in"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="platform must be"):
        write_demo_build(tmp_path / "demo.apk", "windows")
    with pytest.raises(ValueError, match=r"\.ipa file"):
        write_demo_build(tmp_path / "demo.apk", "ios")
    with pytest.raises(ValueError, match=r"\.apk file"):
        write_demo_build(tmp_path / "demo.zip")
    bad = demo_shop_model()
    bad["start"] = "nowhere"
    with pytest.raises(ValueError, match="unknown screen"):  # ModelError is a ValueError
        write_app_build(tmp_path / "bad.apk", bad)
    assert not (tmp_path / "bad.apk").exists()


def test_manifest_with_other_values(tmp_path: Path) -> None:
    manifest = android_manifest("org.example.caf\u00e9", "2.3.4-beta", 20304,
                                "Caf\u00e9 \u2615 \u65e5\u672c")
    with _zip_with_manifest(tmp_path, manifest).open("rb") as f:
        info = inspect_build(f, "apk")
    assert (info.package_name, info.version_name, info.version_code, info.label) == (
        "org.example.caf\u00e9", "2.3.4-beta", "20304", "Caf\u00e9 \u2615 \u65e5\u672c")


def test_encode_axml_tree() -> None:
    tree = XmlElement("manifest", {"package": "a.b", "android:versionCode": 7}, [
        XmlElement("application", {"android:label": "L", "android:icon": "@x"}),
    ])
    data = encode_axml(tree)
    assert data[:2] == b"\x03\x00" and int.from_bytes(data[4:8], "little") == len(data)
    with pytest.raises(ValueError, match="no resource id known for android:theme"):
        encode_axml(XmlElement("application", {"android:theme": "x"}))


@pytest.mark.skipif(shutil.which("aapt") is None, reason="Android's aapt is not installed")
def test_aapt_reads_the_manifest(tmp_path: Path) -> None:
    """Cross-check with AOSP's own parser (Debian package `aapt`) when it is available."""
    path = tmp_path / "demo.apk"
    write_demo_build(path)
    out = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert "package: name='com.qualgent.demo' versionCode='1' versionName='1.0.0'" in out
    assert "launchable-activity: name='com.qualgent.demo.MainActivity'" in out
    tree = subprocess.run(["aapt", "dump", "xmltree", str(path), "AndroidManifest.xml"],
                          capture_output=True, text=True, check=True).stdout
    assert 'android:label(0x01010001)="Demo Shop"' in tree
