"""An .aab turned into a universal APK by bundletool, here a stand-in (tests/fakes/bundletool)
that checks bundletool's arguments and writes a real APK set holding the Demo Shop APK."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import psutil
import pytest

from qualgent.builds import inspect_build
from qualgent.builds.bundletool import BundletoolMissing, ConversionFailed, universal_apk
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.conftest import eventually
from tests.demo import PACKAGE, demo_bundle

STAND_IN = Path(__file__).resolve().parents[1] / "fakes" / "bundletool" / "java.py"


@pytest.fixture
def java(tmp_path: Path) -> str:
    """The stand-in as an executable `java` run by this test's interpreter."""
    path = tmp_path / "bin" / "java"
    path.parent.mkdir()
    source = STAND_IN.read_text().split("\n", 1)[1]
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _jar(tmp_path: Path, mode: str = "ok") -> Path:
    jar = tmp_path / f"bundletool-{mode}.jar"
    jar.write_text(json.dumps({"mode": mode}))
    return jar


def _bundle(path: Path, package: str = PACKAGE) -> Path:
    path.write_bytes(demo_bundle(package))
    return path


def test_a_bundle_becomes_a_universal_apk_that_installs_and_runs(
        tmp_path: Path, java: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths in, absolute ones to the tool
    _bundle(tmp_path / "app.aab")
    apk = universal_apk(Path("app.aab"), Path("work/apk"), Path(_jar(tmp_path).name), java)
    assert apk == tmp_path / "work" / "apk" / "universal.apk"
    with apk.open("rb") as fh:
        info = inspect_build(fh, "apk")
    assert (info.package_name, info.label) == (PACKAGE, "Demo Shop")
    sim = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14"))
    assert sim.install(apk).package == PACKAGE
    sim.launch(PACKAGE)
    assert any(e.text for e in sim.hierarchy().elements)
    # Converting again into the same directory overwrites (bundletool's --overwrite).
    assert universal_apk(tmp_path / "app.aab", tmp_path / "work" / "apk",
                         _jar(tmp_path), java) == apk


def test_without_a_jar_the_host_is_told_to_set_qualgent_bundletool(tmp_path: Path,
                                                                   java: str) -> None:
    aab = _bundle(tmp_path / "app.aab")
    with pytest.raises(BundletoolMissing, match="set QUALGENT_BUNDLETOOL to bundletool's jar"):
        universal_apk(aab, tmp_path / "out", None, java)
    with pytest.raises(BundletoolMissing, match="not a file"):
        universal_apk(aab, tmp_path / "out", tmp_path / "missing.jar", java)


def test_without_java_the_host_is_told_so(tmp_path: Path) -> None:
    aab = _bundle(tmp_path / "app.aab")
    with pytest.raises(BundletoolMissing, match="needs Java.*QUALGENT_JAVA"):
        universal_apk(aab, tmp_path / "out", _jar(tmp_path), "no-such-java-runtime")


def test_a_failing_tool_is_quoted(tmp_path: Path, java: str) -> None:
    aab = _bundle(tmp_path / "app.aab")
    with pytest.raises(ConversionFailed, match=r"(?s)exit status 1.*conflicting resources"):
        universal_apk(aab, tmp_path / "out", _jar(tmp_path, "fail"), java)
    other = _bundle(tmp_path / "other.aab", package="com.example.other")
    with pytest.raises(ConversionFailed, match="only converts the Demo Shop"):
        universal_apk(other, tmp_path / "out", _jar(tmp_path), java)


def test_an_apk_set_without_a_readable_universal_apk_is_refused(tmp_path: Path,
                                                                java: str) -> None:
    aab = _bundle(tmp_path / "app.aab")
    with pytest.raises(ConversionFailed, match="has no universal.apk"):
        universal_apk(aab, tmp_path / "a", _jar(tmp_path, "no-universal"), java)
    assert not (tmp_path / "a" / "universal.apk").exists()
    with pytest.raises(ConversionFailed, match="cannot be read: it is not a zip archive"):
        universal_apk(aab, tmp_path / "b", _jar(tmp_path, "not-a-zip"), java)


def test_a_tool_that_does_not_finish_is_killed_with_its_children(tmp_path: Path,
                                                                 java: str) -> None:
    aab = _bundle(tmp_path / "app.aab")
    jar = _jar(tmp_path, "hang")
    with pytest.raises(ConversionFailed, match="did not finish within 3 s"):
        universal_apk(aab, tmp_path / "out", jar, java, timeout=3)
    child = int(Path(f"{jar}.child").read_text())

    def gone() -> bool:
        try:
            return psutil.Process(child).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    eventually(gone, timeout=10)
