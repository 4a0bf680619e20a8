"""The durable journal: one interface (:class:`Journal`), SQL shared by its SQLite and PostgreSQL backends,
and the messages' states with what an operator may do in each (:class:`State`, :func:`actions`)."""

from .backends import open_journal
from .base import (
    Accept,
    Attempt,
    AuditEntry,
    Conflict,
    Invoice,
    Journal,
    JournalUnavailable,
    Outbound,
    Query,
    Record,
    Suspension,
)
from .states import Action, State, actions

__all__ = [
    "Accept",
    "Action",
    "Attempt",
    "AuditEntry",
    "Conflict",
    "Invoice",
    "Journal",
    "JournalUnavailable",
    "Outbound",
    "Query",
    "Record",
    "State",
    "Suspension",
    "actions",
    "open_journal",
]
