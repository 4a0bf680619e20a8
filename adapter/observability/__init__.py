"""What operators see of the process: logs (redacted), metrics, correlation ids."""

from .correlation import CorrelationMiddleware, correlation_id
from .logs import logging_config, setup_logging
from .metrics import Metrics
from .redaction import redact

__all__ = ["CorrelationMiddleware", "Metrics", "correlation_id", "logging_config", "redact", "setup_logging"]
