#!/usr/bin/env python3
"""A stand-in for `java -jar bundletool.jar build-apks ...`, for hosts without Java.

It takes the arguments exactly as bundletool does for a universal APK set, refuses anything
else as bundletool would (exit 1, "[BT:...] Error: ..." on stderr), reads the bundle as an
Android App Bundle, and writes a real APK set: a zip with toc.pb and universal.apk, the
Demo Shop APK, which the simulator installs and runs.

Knobs come from the "jar" file, a JSON object: {"mode": "ok" | "fail" | "no-universal" |
"not-a-zip" | "hang"}; "hang" also starts a child that would outlive a careless kill (its
pid is written to <jar>.child).

Run it with the test's interpreter (tests/builds/test_bundletool.py copies it with that
shebang) so that it can import qualgent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

VERSION = "1.17.2"
FLAGS = ("--bundle", "--output", "--mode", "--overwrite")
DEMO_PACKAGE = "com.qualgent.demo"


def fail(message: str) -> None:
    print(f"[BT:{VERSION}] Error: {message}", file=sys.stderr)
    sys.exit(1)


def parse(argv: list[str]) -> tuple[dict, dict[str, str | None]]:
    if len(argv) < 3 or argv[0] != "-jar":
        print("Usage: java [options] -jar <jarfile> [args...]", file=sys.stderr)
        sys.exit(1)
    knobs = json.loads(Path(argv[1]).read_text())
    if argv[2] != "build-apks":
        fail(f"Unrecognized command '{argv[2]}'.")
    flags: dict[str, str | None] = {}
    for arg in argv[3:]:
        name, eq, value = arg.partition("=")
        if name not in FLAGS:
            fail(f"Unrecognized flags: {name}.")
        if name in flags:
            fail(f"Flag {name} has been set more than once.")
        flags[name] = value if eq else None
    for name in ("--bundle", "--output"):
        if not flags.get(name):
            fail(f"Missing the required {name} flag.")
    if flags.get("--mode") != "universal":
        fail("This stand-in only builds universal APK sets (--mode=universal).")
    if "--overwrite" in flags and flags["--overwrite"] is not None:
        fail("Flag --overwrite takes no value.")
    return knobs, flags


def main(argv: list[str]) -> None:
    knobs, flags = parse(argv)
    bundle, output = Path(flags["--bundle"] or ""), Path(flags["--output"] or "")
    if not bundle.is_absolute() or not output.is_absolute():
        fail("The stand-in expects absolute paths (the caller runs it in another directory).")
    if not bundle.is_file():
        fail(f"File '{bundle}' was not found.")
    if output.suffix != ".apks":
        fail(f"Flag --output should be the path where to generate the APK Set. Its extension "
             f"must be '.apks'. ({output})")
    if output.exists() and "--overwrite" not in flags:
        fail(f"File '{output}' already exists.")
    mode = knobs.get("mode", "ok")
    if mode == "hang":  # at once, before anything slow
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        Path(argv[1] + ".child").write_text(str(child.pid))
        time.sleep(3600)
    from qualgent.builds import InvalidBuild, inspect_build

    try:
        with bundle.open("rb") as fh:
            package = inspect_build(fh, "aab").package_name
    except InvalidBuild as exc:
        fail(f"The App Bundle is invalid: {exc}")
    print(f"INFO: building a universal APK of {package}")
    if mode == "fail":
        fail("com.android.tools.build.bundletool.model.exceptions.InvalidBundleException: "
             "Modules 'base' and 'feature' have conflicting resources.")
    if package != DEMO_PACKAGE:
        fail(f"This stand-in only converts the Demo Shop ({DEMO_PACKAGE}), not {package}.")
    if mode == "not-a-zip":
        output.write_bytes(b"PK\x03\x04 cut short")
        return
    from qualgent.builds.demo import write_demo_build

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(output, "w") as zf:
        zf.writestr("toc.pb", b"")
        if mode != "no-universal":
            apk = Path(tmp) / "universal.apk"
            write_demo_build(apk, "android")
            zf.write(apk, "universal.apk")
        else:
            zf.writestr("splits/base-master.apk", b"")


if __name__ == "__main__":
    main(sys.argv[1:])
