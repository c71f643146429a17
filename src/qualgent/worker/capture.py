"""A run's capture: stopping the device's log and video capture at the end of a run, and
storing what it captured in the blob store (streamed: a video is never read whole)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from qualgent.drivers.base import Device, DeviceFailure, RunCapture
from qualgent.queue import lifecycle as q
from qualgent.storage import BlobStore
from qualgent.storage.keys import device_log_key, video_key

log = logging.getLogger(__name__)
UPLOAD_CHUNK = 1 << 20


def end_run(device: Device, out_dir: Path) -> RunCapture:
    """Stop the device's capture; a failure loses the capture, never the run's outcome."""
    try:
        return device.end_run(out_dir)
    except DeviceFailure as exc:
        log.warning("device %s: capture lost at the end of the run (%s)", device.profile.name,
                    exc)
    except Exception:  # noqa: BLE001 - a driver bug must not change the run's outcome
        log.exception("device %s: end_run failed", device.profile.name)
    return RunCapture()


def store(blobs: BlobStore, run_id: uuid.UUID, attempt: int, capture: RunCapture
          ) -> list[q.Artifact]:
    """The device log and video chunks into the blob store; one that cannot be stored is left
    out (logged)."""
    files = []
    if capture.log is not None:
        files.append(("log", 1, capture.log, device_log_key(run_id, attempt)))
    files += [("video", n, path, video_key(run_id, attempt, n))
              for n, path in enumerate(capture.videos, 1)]
    stored = []
    for kind, seq, path, key in files:
        try:
            size = _upload(blobs, key, path)
        except OSError as exc:
            log.warning("run %s: the %s %s could not be stored (%s)", run_id, kind, path, exc)
            continue
        stored.append(q.Artifact(kind, seq, key, size))
    return stored


def _upload(blobs: BlobStore, key: str, path: Path) -> int:
    size = 0
    with path.open("rb") as fh:
        upload = blobs.begin_multipart(key)
        try:
            while chunk := fh.read(UPLOAD_CHUNK):
                upload.write_part(chunk)
                size += len(chunk)
            upload.complete()
        except BaseException:
            upload.abort()
            raise
    return size
