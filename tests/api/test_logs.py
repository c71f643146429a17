"""Signed links are credentials: the access log must not keep their signatures."""

from __future__ import annotations

import logging

from qualgent.api.logs import RedactSignatures


def test_access_log_redacts_signatures() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/downloads/apps/x?expires=1&signature=abc123", "1.1", 200),
        None,
    )
    assert RedactSignatures().filter(record)
    line = record.getMessage()
    assert "abc123" not in line and "signature=<redacted>" in line and "expires=1" in line
