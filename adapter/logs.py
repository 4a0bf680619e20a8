"""Logging: one line per event, personal identity numbers masked, httpx quiet.

httpx logs every request URL at INFO, and a search by identifier puts a personnummer in the
URL, so httpx and httpcore log at WARNING; every handler masks with ``RedactingFilter``.
"""

from __future__ import annotations

import logging.config
from typing import Any

__all__ = ["logging_config", "setup_logging"]


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the adapter and uvicorn, with redaction on every handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "adapter.redact.RedactingFilter"}},
        "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["redact"]},
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def setup_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
