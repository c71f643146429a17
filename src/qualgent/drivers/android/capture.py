"""What a run records on an Android device: the app's log lines and a screen recording.

`screenrecord` stops at its time limit (3 minutes at most), so a background shell records one
segment after another (/sdcard/qualgent-<n>.mp4) until stopped with `pkill -INT screenrecord`
(which lets it finish the file); the segments are then pulled and deleted. The log is
`logcat -d -v threadtime -T <start>` read at the end and kept to the app's processes and the
lines that name its package.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from adbutils import AdbError

from qualgent.drivers.android.transport import RemoteFileMissing, Transport
from qualgent.drivers.base import DeviceLost

log = logging.getLogger(__name__)

VIDEO_PREFIX = "/sdcard/qualgent-"
BIT_RATE = 4_000_000
_THREADTIME_RE = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+(\d+)\s+\d+\s+[VDIWEFS]\s")


class ScreenRecorder:
    """Records the screen in segments of `segment_seconds` on a background shell."""

    def __init__(self, transport: Transport, segment_seconds: int) -> None:
        self._t = transport
        self._segment = max(1, min(180, segment_seconds))
        self._stop = threading.Event()
        self._files: list[str] = []
        self._conn = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._record, daemon=True,
                                        name=f"screenrecord {transport.serial}")

    def start(self) -> None:
        self._thread.start()

    def _record(self) -> None:
        n = 0
        while not self._stop.is_set():
            path = f"{VIDEO_PREFIX}{n}.mp4"
            cmd = f"screenrecord --time-limit {self._segment} --bit-rate {BIT_RATE} {path}"
            started = time.monotonic()
            try:
                with self._lock:
                    if self._stop.is_set():
                        return
                    self._conn = self._t.stream(cmd)
                    self._files.append(path)
                output = self._conn.read_until_close()
            except (DeviceLost, AdbError, OSError) as exc:
                log.warning("screen recording on %s stopped: %s", self._t.serial, exc)
                return
            finally:
                with self._lock:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
            if time.monotonic() - started < 1.0 and not self._stop.is_set():
                log.warning("screenrecord on %s ended at once: %s", self._t.serial,
                            output.strip()[:200])
                return
            n += 1

    def stop(self, out_dir: Path) -> list[Path]:
        """Stop recording, pull the segments into `out_dir` and delete them on the device.
        Raises DeviceLost only."""
        self._stop.set()
        self._t.shell("pkill -INT screenrecord")
        self._thread.join(timeout=self._t.timeout)
        with self._lock:
            if self._conn is not None:  # still running: cut it
                self._conn.close()
        videos: list[Path] = []
        for i, remote in enumerate(self._files):
            local = Path(out_dir) / f"video-{i}.mp4"
            try:
                with local.open("wb") as fh:
                    size = self._t.pull(remote, fh)
            except RemoteFileMissing as exc:
                log.warning("no video segment %s on %s: %s", remote, self._t.serial, exc)
                size = 0
            if size:
                videos.append(local)
            else:
                local.unlink(missing_ok=True)
        if self._files:
            self._t.shell("rm -f " + " ".join(self._files))
        return videos


def app_log_lines(logcat: str, pids: Iterable[int], package: str) -> list[str]:
    """The lines of a threadtime logcat from the app's processes or naming its package."""
    wanted = {str(p) for p in pids}
    out = []
    for line in logcat.splitlines():
        m = _THREADTIME_RE.match(line)
        if m is None:
            continue  # "--------- beginning of main" and the like
        if m.group(1) in wanted or package in line:
            out.append(line)
    return out
