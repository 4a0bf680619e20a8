"""Relaying: the worker, the retry policy, the outbound channels, and the schedulers (overdue, watcher)."""

from .message import RelayResult, bundle_of, relay_message
from .outbound import OutboundWorker, channels
from .overdue import run_scheduler
from .watch import Watch
from .worker import Worker

__all__ = [
    "OutboundWorker",
    "RelayResult",
    "Watch",
    "Worker",
    "bundle_of",
    "channels",
    "relay_message",
    "run_scheduler",
]
