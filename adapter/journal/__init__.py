"""The durable journal: one interface (:class:`Journal`), SQL shared by its SQLite and PostgreSQL backends."""

from .base import (
    Accept,
    Attempt,
    AuditEntry,
    Conflict,
    Journal,
    JournalUnavailable,
    Outbound,
    Query,
    Record,
    Suspension,
    open_journal,
)

__all__ = [
    "Accept",
    "Attempt",
    "AuditEntry",
    "Conflict",
    "Journal",
    "JournalUnavailable",
    "Outbound",
    "Query",
    "Record",
    "Suspension",
    "open_journal",
]
