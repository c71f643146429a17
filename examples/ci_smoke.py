"""The API reference's CI script (upload, queue a smoke batch, wait, fail on any failure),
on the SDK: retries with back-off, Retry-After and pacing, an Idempotency-Key per batch (a
retried submission never queues twice), and events instead of a polling loop.

    QUALGENT_API_KEY=qg_... QUALGENT_API_URL=https://qualgent.example.com \\
    SMOKE_TEST_IDS=<id>,<id> python ci_smoke.py build/app.apk

Exit 0 when every run passed or completed, 1 when one failed.
"""

from __future__ import annotations

import os
import sys

from qualgent.client import MAX_JOBS, ApiError, Client, device, job


def main(build: str) -> int:
    version = os.environ.get("GITHUB_SHA", os.environ.get("CI_COMMIT_SHA", "local"))[:7]
    case_ids = [c for c in os.environ["SMOKE_TEST_IDS"].split(",") if c]
    pixel = device("Pixel 7", "Android")

    with Client() as qg:  # QUALGENT_API_KEY, QUALGENT_API_URL
        # 1. Upload the build (streamed from disk)
        app = qg.upload_app(build, "MyApp", version)
        print(f"uploaded {app.original_name}: {app.id}")

        # 2. Queue the smoke batch, 10 runs per request
        jobs = [job(tc, pixel, app.id) for tc in case_ids]
        run_ids = []
        for start in range(0, len(jobs), MAX_JOBS):
            for queued in qg.run(jobs[start:start + MAX_JOBS]).results:
                run_ids.append(queued.test_run_id)
                print(f"queued {queued.test_run_id} {queued.link}")

        # 3. Wait for every run: pushed by the server, resumed after a dropped connection
        try:
            for event in qg.events(run_ids, until_final=True):
                if event.final:
                    print(f"{event.test_run_id}: {event.status} {event.link}")
        except ApiError as exc:  # a server without events: poll at the recommended pace
            print(f"events unavailable ({exc}); polling", file=sys.stderr)
            wait_by_polling(qg, run_ids)

        # 4. The verdict, with the agent's explanation of each failure
        failed = [r for r in (qg.get_run(rid) for rid in run_ids) if r.status == "failed"]
        for run in failed:
            print(f"FAILED {run.test_case_name}: {run.explanation}\n  {run.link}")
        return 1 if failed else 0


def wait_by_polling(qg: Client, run_ids: list[str], interval: float = 15.0) -> None:
    """Round robin over the runs, each read at most once per `interval` seconds."""
    import time

    pending = list(run_ids)
    while pending:
        time.sleep(interval / len(pending))
        run = qg.get_run(pending[0])
        pending = pending[1:] + ([] if run.finished else [run.id])
        if run.finished:
            print(f"{run.id}: {run.status} {run.link}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python ci_smoke.py BUILD.apk")
    sys.exit(main(sys.argv[1]))
