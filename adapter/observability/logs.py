"""Logging: one line (or one JSON object) per event, personal identity numbers masked, httpx quiet.

httpx logs every request URL at INFO, and a search by identifier puts a personnummer in the
URL, so httpx and httpcore log at WARNING; every handler masks with ``RedactingFilter`` and adds
the request's correlation id (``adapter.observability.correlation``).

    SAMVERKAN_LOG_FORMAT=json   {"time": ..., "level": "INFO", "logger": ..., "message": ...,
                                 "correlationId": ..., "exception": ...} per line, for a log shipper
"""

from __future__ import annotations

import json
import logging.config
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "logging_config", "setup_logging"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Runs after the handler's filters, so the text is already masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlationId": getattr(record, "correlation_id", None),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def logging_config(level: str = "INFO", fmt: str = "line") -> dict[str, Any]:
    """A dictConfig for the adapter and uvicorn, with redaction on every handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # Order matters: the id is added, then the text masked, then formatted.
        "filters": {
            "correlation": {"()": "adapter.observability.correlation.CorrelationFilter"},
            "redact": {"()": "adapter.observability.redaction.RedactingFilter"},
        },
        "formatters": {
            "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
            "json": {"()": "adapter.observability.logs.JsonFormatter"},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["correlation", "redact"]},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def setup_logging(level: str = "INFO", fmt: str = "line") -> None:
    logging.config.dictConfig(logging_config(level, fmt))
