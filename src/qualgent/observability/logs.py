"""JSON log lines (QUALGENT_LOG_FORMAT=json): one object per line, with the request id and
the run id of whatever the line is about, when known.

The ids travel in context variables: the HTTP middleware sets the request id for the whole
request (uvicorn's access line included, written from within the request's task) and the
run id when the route names a run; a device host sets the run id for the task executing it.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("qualgent_request_id", default=None)
run_id: ContextVar[str | None] = ContextVar("qualgent_run_id", default=None)

_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id / run_id when set, the exception's traceback
    when there is one; uvicorn's access lines also get their fields one by one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid, run = request_id.get(), run_id.get()
        if rid:
            line["request_id"] = rid
        if run:
            line["run_id"] = run
        if (record.name == "uvicorn.access" and isinstance(record.args, tuple)
                and len(record.args) == len(_ACCESS_FIELDS)):
            line.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)


def use_json(root_level: int) -> None:
    """Every handler of the root logger formats JSON (after logging.basicConfig)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    root.setLevel(root_level)
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration, in JSON: its own loggers and the root logger (which
    uvicorn's worker processes, started afresh, otherwise leave unconfigured)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level.upper()},
    }
