"""An Android App Bundle (.aab) turned into one installable APK with Google's bundletool.

    java -jar <jar> build-apks --bundle=<aab> --output=<out>/app.apks --mode=universal
        --overwrite

writes an APK set (a zip) holding `universal.apk`, every module and density in one file,
which `pm install` takes like any APK. bundletool signs it with the debug key it finds
(~/.android/debug.keystore, or under ANDROID_SDK_HOME); without one the APK is unsigned and
the device refuses it, which the install step reports.

The tool is optional (QUALGENT_BUNDLETOOL, and a Java runtime): without it the conversion
raises BundletoolMissing, a host's setup problem; a bundle the tool cannot convert raises
ConversionFailed, the app's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import zipfile
import zlib
from pathlib import Path

from qualgent.builds._archive import ArchiveError, find_entry, open_zip

APK_SET = "app.apks"
UNIVERSAL = "universal.apk"
MAX_APK_BYTES = 4 * 1024 * 1024 * 1024
"""Largest universal APK copied out of the set (Android's own limit for an APK is 4 GiB)."""
STDERR_TAIL = 2000
"""Characters of bundletool's output quoted in a ConversionFailed."""
_CHUNK = 1024 * 1024


class BundletoolError(Exception):
    """The bundle was not converted; str(exc) says why, for a run's explanation."""


class BundletoolMissing(BundletoolError):
    """This host cannot convert bundles: no bundletool jar configured, or no Java."""


class ConversionFailed(BundletoolError):
    """bundletool ran and gave no universal APK (the bundle, or the tool, refused)."""


def universal_apk(aab: Path, out_dir: Path, jar: Path | None, java: str = "java",
                  timeout: float = 300.0) -> Path:
    """The universal APK of bundle `aab`, written to `out_dir`/universal.apk (the directory
    is created). Blocking: run it in a worker thread."""
    if jar is None:
        raise BundletoolMissing("Android App Bundles need bundletool to become an APK: set "
                                "QUALGENT_BUNDLETOOL to bundletool's jar (and have Java) on "
                                "the worker.")
    if not Path(jar).is_file():
        raise BundletoolMissing(f"QUALGENT_BUNDLETOOL names {jar}, which is not a file: set it "
                                "to bundletool's jar.")
    runtime = shutil.which(java)
    if runtime is None:
        raise BundletoolMissing(f"bundletool needs Java, and {java!r} was not found: install a "
                                "Java runtime or set QUALGENT_JAVA to its java command.")
    out_dir = out_dir.resolve()  # bundletool runs in out_dir: no path may be relative
    out_dir.mkdir(parents=True, exist_ok=True)
    apks = out_dir / APK_SET
    output = _run([runtime, "-jar", str(Path(jar).resolve()), "build-apks",
                   f"--bundle={aab.resolve()}",
                   f"--output={apks}", "--mode=universal", "--overwrite"], out_dir, timeout)
    if not apks.is_file():
        raise ConversionFailed(f"bundletool wrote no APK set{_quoted(output)}")
    return _extract_universal(apks, out_dir / UNIVERSAL, output)


def _run(command: list[str], out_dir: Path, timeout: float) -> str:
    """Run bundletool with its output in a file (never a pipe a stray child could hold open)
    and its own process group (killed whole on timeout); the output's tail."""
    log = out_dir / "bundletool.log"
    with log.open("wb") as out:
        try:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    cwd=out_dir, start_new_session=True)
        except OSError as exc:
            raise BundletoolMissing(f"Java could not be started to run bundletool: {exc}.") \
                from exc
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ConversionFailed(f"bundletool did not finish within {timeout:g} s"
                                   f"{_quoted(_tail(log))}") from None
    output = _tail(log)
    if code != 0:
        raise ConversionFailed(f"bundletool failed (exit status {code}){_quoted(output)}")
    return output


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(log: Path) -> str:
    with log.open("rb") as fh:
        fh.seek(max(0, log.stat().st_size - STDERR_TAIL * 4))
        text = fh.read().decode("utf-8", "replace")
    return text.strip()[-STDERR_TAIL:]


def _quoted(output: str) -> str:
    return f": {output}" if output else "."


def _extract_universal(apks: Path, target: Path, output: str) -> Path:
    """Copy universal.apk out of the APK set, within MAX_APK_BYTES whatever its headers say."""
    try:
        with apks.open("rb") as fh, open_zip(fh) as zf:
            entry = find_entry(zf, UNIVERSAL)
            if entry is None:
                raise ConversionFailed(f"bundletool's APK set has no {UNIVERSAL}"
                                       f"{_quoted(output)}")
            _copy_entry(zf, entry, target)
    except ArchiveError as exc:
        raise ConversionFailed(f"bundletool's APK set cannot be read: {exc}.") from exc
    return target


def _copy_entry(zf: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path) -> None:
    if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(f"its {entry.filename} uses zip compression method "
                           f"{entry.compress_type}")
    if entry.file_size > MAX_APK_BYTES:
        raise ArchiveError(f"its {entry.filename} declares {entry.file_size} bytes, more than "
                           f"the {MAX_APK_BYTES} allowed")
    copied = 0
    try:
        with zf.open(entry) as src, target.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                copied += len(chunk)
                if copied > MAX_APK_BYTES:
                    raise ArchiveError(f"its {entry.filename} inflates past {MAX_APK_BYTES} "
                                       "bytes")
                dst.write(chunk)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"its {entry.filename} could not be extracted ({exc})") from exc
