"""Streaming upload of a large APK to `qualgent serve`: throughput vs the disk, and memory.

Builds a valid APK of --size-mb MB (the fixture APK plus one large ZIP_STORED entry) in a temp
dir, measures a plain write + fsync of the same bytes into the server's data-dir filesystem,
then uploads the file to a fresh `qualgent serve` with a streaming client and reports MB/s,
the ratio upload/disk (target: at least 50%), and the server's peak RSS growth during the
upload (target: under 64 MB), sampled every ~5 ms. 1 MB = 2^20 bytes throughout.

    python benchmarks/upload_throughput.py [--size-mb 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from _common import (
    FIXTURE_APK,
    Database,
    MiB,
    Server,
    check,
    log,
    median,
    run_benchmark,
    upload_file,
)

THROUGHPUT_TARGET = 0.50
MEMORY_TARGET_MB = 64.0
CHUNK = MiB  # client read size, and disk-baseline write size below
DISK_CHUNK = 8 * MiB  # the server writes 8 MB segments too
PADDING = "assets/qualgent-benchmark-padding.bin"


def build_apk(dest: Path, size_mb: int) -> None:
    """The fixture APK with a ZIP_STORED entry appended (zipfile append mode) up to size_mb."""
    shutil.copyfile(FIXTURE_APK, dest)
    dest.chmod(0o644)
    pad = max(0, size_mb * MiB - FIXTURE_APK.stat().st_size - 4096)
    block = os.urandom(MiB)
    info = zipfile.ZipInfo(PADDING, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    with zipfile.ZipFile(dest, "a") as zf, zf.open(info, "w", force_zip64=True) as fh:
        left = pad
        while left:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n
    with zipfile.ZipFile(dest) as zf:  # still a valid archive with its manifest
        zf.getinfo("AndroidManifest.xml")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(DISK_CHUNK):
            h.update(data)
    return h.hexdigest()


def disk_write(src: Path, dest_dir: Path) -> float:
    """Seconds to copy src (page-cached) into dest_dir: write in 8 MB blocks, fsync, close."""
    dest = dest_dir / f".disk-baseline-{os.getpid()}.bin"
    buf = bytearray(DISK_CHUNK)
    view = memoryview(buf)
    try:
        with open(src, "rb", buffering=0) as fin:
            t0 = time.perf_counter()
            with open(dest, "wb", buffering=0) as fout:
                while n := fin.readinto(buf):
                    fout.write(view[:n])
                os.fsync(fout.fileno())
            return time.perf_counter() - t0
    finally:
        dest.unlink(missing_ok=True)


class RssSampler:
    """Samples a process's RSS every `interval` seconds in a background thread."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._statm = Path(f"/proc/{pid}/statm")
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._proc = psutil.Process(pid)

    def rss(self) -> int:
        try:
            return int(self._statm.read_bytes().split()[1]) * self._page
        except OSError:
            return self._proc.memory_info().rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.rss()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def reset_peak_rss(pid: int) -> bool:
    """Reset the kernel's VmHWM (peak RSS) for pid; needs Linux >= 4.0 and permission."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@dataclass
class Run:
    disk_s: float
    upload_s: float
    rss_before: int
    rss_peak: int
    hwm_growth: int | None
    server_cpu_s: float
    client_cpu_s: float
    samples: int

    @property
    def growth_mb(self) -> float:
        return (self.rss_peak - self.rss_before) / MiB


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def upload_once(client: httpx.Client, server: Server, api_key: str, apk: Path, size: int,
                digest: str) -> tuple[float, int, int, int | None, float, float, int]:
    assert server.proc is not None
    pid = server.proc.pid
    proc = psutil.Process(pid)
    hwm_ok = reset_peak_rss(pid)
    with RssSampler(pid) as sampler:
        time.sleep(0.1)
        before = sampler.rss()
        hwm_before = vm_hwm(pid) if hwm_ok else None
        s0, c0 = _cpu(proc), _self_cpu()
        t0 = time.perf_counter()
        resp = upload_file(client, server.base_url, api_key, apk, chunk=CHUNK)
        elapsed = time.perf_counter() - t0
        s1, c1 = _cpu(proc), _self_cpu()
        time.sleep(0.05)
    body = check(resp, "upload")["file"]
    if body["file_size"] != size or body["sha256"] != digest:
        raise RuntimeError(f"server stored {body['file_size']} bytes, sha256 {body['sha256']};"
                           f" sent {size} bytes, sha256 {digest}")
    window = [rss for t, rss in sampler.samples if t >= t0]
    peak = max(window + [before])
    hwm = vm_hwm(pid) if hwm_ok else None
    hwm_growth = hwm - hwm_before if hwm is not None and hwm_before is not None else None
    return elapsed, before, peak, hwm_growth, s1 - s0, c1 - c0, len(window)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.size_mb < 4 or args.repeat < 1:
        ap.error("--size-mb must be at least 4 and --repeat at least 1")
    return args


def main(tmp: Path) -> None:
    args = parse_args()
    db = Database()
    db.setup()  # before the server, which takes the fresh database's URL
    limit_mb = max(2048, args.size_mb + 64)
    server = Server(tmp, db, {"QUALGENT_RATE_LIMIT": "1000000/second",
                              "QUALGENT_MAX_SINGLE_UPLOAD_MB": str(limit_mb)})
    apk = tmp / "bench.apk"
    log(f"building a {args.size_mb} MB APK in {tmp}")
    build_apk(apk, args.size_mb)
    size = apk.stat().st_size
    digest = sha256_of(apk)  # also leaves the file in the page cache for both writers
    try:
        server.start()
        api_key = server.seed_org()
        runs: list[Run] = []
        with httpx.Client(timeout=httpx.Timeout(600.0)) as client:
            log("warm-up upload of the 3 MB fixture")
            check(upload_file(client, server.base_url, api_key, FIXTURE_APK), "warm-up upload")
            for i in range(args.repeat):
                disk_s = disk_write(apk, server.data_dir)
                log(f"run {i + 1}: disk write {size / MiB / disk_s:.0f} MB/s; uploading")
                up_s, before, peak, hwm_growth, scpu, ccpu, n = upload_once(
                    client, server, api_key, apk, size, digest)
                runs.append(Run(disk_s, up_s, before, peak, hwm_growth, scpu, ccpu, n))
                log(f"run {i + 1}: upload {size / MiB / up_s:.0f} MB/s, "
                    f"RSS +{runs[-1].growth_mb:.1f} MB")
        report(args, db, server, size, runs)
    finally:
        server.stop()
        db.teardown()


def _fs_of(path: Path) -> str:
    path = path.resolve()
    best = None
    for part in psutil.disk_partitions(all=True):
        mp = Path(part.mountpoint)
        if (path == mp or mp in path.parents) and (best is None or len(str(mp)) > len(best[0])):
            best = (str(mp), part.fstype, part.device)
    return f"{best[2]} ({best[1]}) mounted on {best[0]}" if best else "?"


def report(args: argparse.Namespace, db: Database, server: Server, size: int,
           runs: list[Run]) -> None:
    mb = size / MiB
    disk = [mb / r.disk_s for r in runs]
    up = [mb / r.upload_s for r in runs]
    growth = [r.growth_mb for r in runs]
    print(f"qualgent benchmark: streaming upload of a {mb:.1f} MB APK "
          f"(1 MB = 2^20 bytes)")
    print(f"  server : qualgent serve, database: {db.description}")
    print(f"  disk   : {_fs_of(server.data_dir)}; baseline = write 8 MB blocks + fsync of "
          "the same (page-cached) file into the server's data dir")
    print(f"  client : httpx {httpx.__version__}, multipart body streamed from a generator in "
          f"{CHUNK // MiB} MB reads, Content-Length set; time = first byte sent to JSON "
          "response (includes the server's fsync, APK inspection and DB insert)")
    print("  memory : server RSS sampled every ~5 ms from before the upload to after it; "
          "growth = max(RSS) - RSS before (warm-up: one 3 MB upload first)")
    print()
    print(f"{'run':<5}{'disk MB/s':>10}{'upload MB/s':>13}{'upload s':>10}{'ratio':>8}"
          f"{'RSS before':>12}{'RSS growth':>12}{'VmHWM growth':>14}{'server CPU':>12}"
          f"{'client CPU':>12}")
    for i, r in enumerate(runs, 1):
        hwm = f"{r.hwm_growth / MiB:.1f} MB" if r.hwm_growth is not None else "n/a"
        print(f"{i:<5}{mb / r.disk_s:>10.0f}{mb / r.upload_s:>13.0f}{r.upload_s:>10.2f}"
              f"{(r.disk_s / r.upload_s) * 100:>7.0f}%{r.rss_before / MiB:>9.1f} MB"
              f"{r.growth_mb:>9.1f} MB{hwm:>14}{r.server_cpu_s:>10.2f} s"
              f"{r.client_cpu_s:>10.2f} s")
    print(f"  ({min(r.samples for r in runs)}-{max(r.samples for r in runs)} RSS samples "
          "per upload; CPU = seconds used during the upload)")
    print()
    best_ratio, med_ratio = max(up) / max(disk), median(up) / median(disk)
    v = "PASS" if med_ratio >= THROUGHPUT_TARGET else "MISS"
    print(f"disk write     : best {max(disk):.0f} MB/s, median {median(disk):.0f} MB/s")
    print(f"upload         : best {max(up):.0f} MB/s, median {median(up):.0f} MB/s")
    print(f"upload / disk  : median {med_ratio * 100:.0f}% (best/best {best_ratio * 100:.0f}%)"
          f"  (target: at least {THROUGHPUT_TARGET * 100:.0f}%)  {v}")
    v = "PASS" if max(growth) < MEMORY_TARGET_MB else "MISS"
    print(f"server memory  : peak RSS growth worst {max(growth):.1f} MB, median "
          f"{median(growth):.1f} MB  (target: under {MEMORY_TARGET_MB:.0f} MB)  {v}")


if __name__ == "__main__":
    run_benchmark(main, "qualgent-upload-")
