"""The journal in one SQLite file: the default, for one adapter process.

WAL with ``synchronous=FULL``: an accepted message is on disk before the sender hears 202. The
relay's bookkeeping commits with ``NORMAL`` (see ``SqlJournal.tx``). Writes take the
database lock at BEGIN (``BEGIN IMMEDIATE``), so accepts are serialised and ``seq`` is the order
of acceptance.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .base import JournalUnavailable
from .sql import CLAIM_INDEXES, SqlJournal, Tx

log = logging.getLogger(__name__)

__all__ = ["MIGRATIONS", "SqliteJournal"]

#: Schema versions, applied in order; a released one never changes.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE messages (
        message_id     TEXT PRIMARY KEY,
        seq            INTEGER NOT NULL UNIQUE,
        key            TEXT NOT NULL,
        message_type   TEXT NOT NULL,
        digest         TEXT NOT NULL,
        content_type   TEXT NOT NULL,
        document       BLOB NOT NULL,
        state          TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        next_attempt   REAL NOT NULL,
        claimed_by     TEXT,
        claim_expires  REAL,
        accepted_at    REAL NOT NULL,
        updated_at     REAL NOT NULL,
        server_ids     TEXT,
        last_error     TEXT
    );
    CREATE INDEX messages_key ON messages (key, seq);
    CREATE INDEX messages_state ON messages (state, next_attempt);
    CREATE TABLE attempts (
        message_id  TEXT NOT NULL REFERENCES messages (message_id),
        n           INTEGER NOT NULL,
        at          REAL NOT NULL,
        status      INTEGER,
        latency_ms  REAL NOT NULL,
        error       TEXT,
        outcome     TEXT,
        PRIMARY KEY (message_id, n)
    );
    CREATE TABLE rejected (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        at            REAL NOT NULL,
        digest        TEXT NOT NULL,
        content_type  TEXT,
        document      BLOB NOT NULL,
        code          TEXT NOT NULL,
        location      TEXT,
        detail        TEXT NOT NULL
    );
    """,
    # 2: the mapped bundle is kept; a replay restarts the relay's time limit (queued_at).
    """
    ALTER TABLE messages ADD COLUMN bundle TEXT;
    ALTER TABLE messages ADD COLUMN queued_at REAL;
    UPDATE messages SET queued_at = accepted_at;
    CREATE INDEX messages_updated ON messages (state, updated_at);
    CREATE INDEX rejected_at ON rejected (at);
    """,
    # 3: claims that cost the same with a backlog of 100,000 as with none.
    CLAIM_INDEXES,
    # 4: an operator's flag that the region's outpatient services were not available (rule 5).
    """
    CREATE TABLE suspensions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        key         TEXT NOT NULL,
        first_day   TEXT NOT NULL,
        last_day    TEXT,
        reason      TEXT NOT NULL,
        set_at      REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX suspensions_key ON suspensions (key);
    """,
    # 5: what operators search by without opening a document (the patient only as a keyed hash),
    # the request's correlation id, bodies pruned after the retention time; an audit of reveals.
    """
    ALTER TABLE messages ADD COLUMN sender TEXT;
    ALTER TABLE messages ADD COLUMN recipients TEXT;
    ALTER TABLE messages ADD COLUMN patient_hash TEXT;
    ALTER TABLE messages ADD COLUMN patient_name TEXT;
    ALTER TABLE messages ADD COLUMN correlation_id TEXT;
    ALTER TABLE messages ADD COLUMN pruned_at REAL;
    CREATE INDEX messages_patient ON messages (patient_hash);
    CREATE INDEX messages_accepted ON messages (accepted_at);
    CREATE INDEX attempts_at ON attempts (at);
    CREATE INDEX messages_changed ON messages (updated_at);
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          REAL NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        message_id  TEXT,
        detail      TEXT
    );
    CREATE TABLE meta (
        name   TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    """,
    # 6: the outbound channels to the internal systems (a directory, an HTTP endpoint) of messages
    # that came in as FHIR, each delivery tracked and retried like a relay.
    """
    CREATE TABLE outbound (
        message_id     TEXT NOT NULL REFERENCES messages (message_id),
        channel        TEXT NOT NULL,
        state          TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        next_attempt   REAL NOT NULL,
        claimed_by     TEXT,
        claim_expires  REAL,
        last_error     TEXT,
        updated_at     REAL NOT NULL,
        PRIMARY KEY (message_id, channel)
    );
    CREATE INDEX outbound_due ON outbound (state, next_attempt);
    """,
    # 7: the patient's consent to information transfer as the message stated it (null: not stated);
    # the latest stated in an episode decides what later messages may share (adapter.rules.consent).
    """
    ALTER TABLE messages ADD COLUMN information_transfer INTEGER;
    """,
    # 8: the console's sessions, kept here so that logging out, a new password or a removed account
    # ends them (adapter.security.sessions); the cookie carries the id, this table only its hash.
    """
    CREATE TABLE sessions (
        id_hash      TEXT PRIMARY KEY,
        user_name    TEXT NOT NULL,
        fingerprint  TEXT NOT NULL,
        started_at   REAL NOT NULL,
        seen_at      REAL NOT NULL
    );
    """,
    # 9: the access log patientdatalagen asks for: an operator's read of a patient's data names the
    # patient by the keyed hash of the search (adapter.security.patient_search), never the number.
    """
    ALTER TABLE audit ADD COLUMN patient_hash TEXT;
    CREATE INDEX audit_patient ON audit (patient_hash, id);
    """,
    # 10: a municipality's invoice basis for a month, frozen once an operator marks it invoiced; a
    # later message that changes its days gives correction rows in the next open month (adapter.invoices).
    """
    CREATE TABLE invoices (
        kommunkod    TEXT NOT NULL,
        month        TEXT NOT NULL,
        marked_at    REAL NOT NULL,
        marked_by    TEXT NOT NULL,
        through_seq  BIGINT NOT NULL,
        basis        TEXT NOT NULL,
        PRIMARY KEY (kommunkod, month)
    );
    """,
)


class _Tx:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.db.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, args).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self.db.execute(sql, args).rowcount


def _private(path: str) -> None:
    """Creates the journal's file readable by its owner only (SQLite gives its WAL and shared-memory
    files the same mode): it holds unmasked documents and the keys of sessions and searches. An
    existing file open to others is warned about, not changed behind the operator's back."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077:
            log.warning("the journal %s is readable by others (mode %o): chmod 600 it and its -wal and -shm files", path, mode)


class SqliteJournal(SqlJournal):
    """The journal in the SQLite file at ``path``."""

    next_seq = "(SELECT coalesce(max(seq), 0) + 1 FROM messages)"
    # Walk the due messages in order and stop at the limit, rather than sort the whole backlog.
    claim_index = " INDEXED BY messages_due"

    def __init__(self, path: str | Path):
        self.path = str(path)
        _private(self.path)
        self._lock = threading.Lock()  # one connection, used from the event loop and worker threads
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._durable = True
        self._db.execute("PRAGMA foreign_keys=ON")
        # No checkpoint inside a commit: copying the WAL into the file and flushing it would stall
        # whichever accept happened to cross the threshold. A thread of our own does it instead.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self.migrate(MIGRATIONS)
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoints, name="journal-checkpoint", daemon=True)
        self._checkpointer.start()

    @property
    def where(self) -> str:
        return self.path

    @contextmanager
    def tx(self, *, write: bool = True, durable: bool = True) -> Iterator[Tx]:
        with self._lock:
            if not write:  # a read sees the last commit; no lock on the file is needed
                yield _Tx(self._db)
                return
            if durable is not self._durable:
                # In WAL mode NORMAL commits survive a crash of the process but not of the machine;
                # the next FULL commit flushes them too.
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # locked past the timeout by another process, disk trouble
                raise JournalUnavailable(f"the journal file cannot be written ({exc})") from exc
            try:
                yield _Tx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def vacuum(self) -> None:
        """Gives the space of pruned rows back to the file system."""
        with self._lock:
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # VACUUM writes through the WAL

    def _checkpoints(self, every: float = 1.0) -> None:
        """PASSIVE checkpoints on a connection of their own: they never block a writer."""
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=1)
        try:
            while not self._closing.wait(every):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError:  # busy: the next round
                    continue
        finally:
            db.close()

    def close(self) -> None:
        self._closing.set()
        self._checkpointer.join(5)
        with self._lock:
            self._db.close()
