from tests.worker.conftest import demo_host, workers  # noqa: F401 - fixtures shared with worker tests
