"""The QualGent Python SDK.

    from qualgent.client import Client, device, job

    with Client() as qg:  # QUALGENT_API_KEY, QUALGENT_API_URL
        build = qg.upload_app("app.apk", "MyApp", "1.4.2")
        queued = qg.run([job(case_id, device("Pixel 7"), build.id)])
        for event in qg.events([r.test_run_id for r in queued.results], until_final=True):
            print(event.test_run_id, event.status, event.progress)

AsyncClient has the same methods, awaited. Every failure is an ApiError.
"""

from qualgent.client._async import AsyncClient
from qualgent.client._sync import Client
from qualgent.client.calls import DEFAULT_URL, MAX_JOBS, device, job
from qualgent.client.errors import ApiError
from qualgent.client.models import (
    TERMINAL,
    AppFile,
    QueuedRun,
    Run,
    RunEvent,
    RunPage,
    Step,
    Submission,
    Trace,
)
from qualgent.client.retry import RetryPolicy

__all__ = [
    "DEFAULT_URL", "MAX_JOBS", "TERMINAL", "ApiError", "AppFile", "AsyncClient", "Client",
    "QueuedRun", "RetryPolicy", "Run", "RunEvent", "RunPage", "Step", "Submission", "Trace",
    "device", "job",
]
