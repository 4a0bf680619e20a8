"""Which journal the settings open: PostgreSQL for several replicas, else one SQLite file."""

from __future__ import annotations

from adapter.config import Settings

from .base import Journal

__all__ = ["open_journal"]


def open_journal(settings: Settings) -> Journal:
    """The journal the settings name: PostgreSQL when ``journal_url`` is set, else the SQLite file."""
    if settings.journal_url:
        # Imported here: psycopg is an extra (samverkan-adapter[postgres]) that SQLite sites need not install.
        from .postgres import PostgresJournal

        return PostgresJournal(settings.journal_url)
    from .sqlite import SqliteJournal

    return SqliteJournal(settings.journal_path)
