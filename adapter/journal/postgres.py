"""The journal in PostgreSQL: for several adapter replicas sharing the work.

Every replica claims with ``SELECT … FOR UPDATE SKIP LOCKED``: a row another replica is
claiming is skipped, not waited for, and a claim is a lease that expires if its replica dies.
Accepts run in parallel, so one key's accepts take a transaction-scoped advisory lock: within a
key, ``seq`` (from a sequence) follows the order of commit. Migrations take an advisory lock too,
so replicas that start together do not race to create the schema.

Needs the ``postgres`` extra (psycopg 3). The URL is libpq's:
``postgresql://samverkan@db.example/samverkan``; a password belongs in ``PGPASSWORD`` or
``~/.pgpass``, not in the URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .base import JournalUnavailable
from .sql import CLAIM_INDEXES, SqlJournal, Tx

__all__ = ["MIGRATIONS", "PostgresJournal"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE SEQUENCE messages_seq;
    CREATE TABLE messages (
        message_id     TEXT PRIMARY KEY,
        seq            BIGINT NOT NULL UNIQUE,
        key            TEXT NOT NULL,
        message_type   TEXT NOT NULL,
        digest         TEXT NOT NULL,
        content_type   TEXT NOT NULL,
        document       BYTEA NOT NULL,
        bundle         TEXT,
        state          TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        next_attempt   DOUBLE PRECISION NOT NULL,
        claimed_by     TEXT,
        claim_expires  DOUBLE PRECISION,
        accepted_at    DOUBLE PRECISION NOT NULL,
        queued_at      DOUBLE PRECISION NOT NULL,
        updated_at     DOUBLE PRECISION NOT NULL,
        server_ids     TEXT,
        last_error     TEXT
    );
    CREATE INDEX messages_key ON messages (key, seq);
    CREATE INDEX messages_state ON messages (state, next_attempt);
    CREATE INDEX messages_updated ON messages (state, updated_at);
    CREATE TABLE attempts (
        message_id  TEXT NOT NULL REFERENCES messages (message_id),
        n           INTEGER NOT NULL,
        at          DOUBLE PRECISION NOT NULL,
        status      INTEGER,
        latency_ms  DOUBLE PRECISION NOT NULL,
        error       TEXT,
        outcome     TEXT,
        PRIMARY KEY (message_id, n)
    );
    CREATE TABLE rejected (
        id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at            DOUBLE PRECISION NOT NULL,
        digest        TEXT NOT NULL,
        content_type  TEXT,
        document      BYTEA NOT NULL,
        code          TEXT NOT NULL,
        location      TEXT,
        detail        TEXT NOT NULL
    );
    CREATE INDEX rejected_at ON rejected (at);
    """,
    # 2: claims that cost the same with a backlog of 100,000 as with none.
    CLAIM_INDEXES,
    # 3: an operator's flag that the region's outpatient services were not available (rule 5).
    """
    CREATE TABLE suspensions (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key         TEXT NOT NULL,
        first_day   TEXT NOT NULL,  -- ISO dates, as in SQLite
        last_day    TEXT,
        reason      TEXT NOT NULL,
        set_at      DOUBLE PRECISION NOT NULL,
        updated_at  DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX suspensions_key ON suspensions (key);
    """,
    # 4: what operators search by without opening a document (the patient only as a keyed hash),
    # the request's correlation id, bodies pruned after the retention time; an audit of reveals.
    """
    ALTER TABLE messages ADD COLUMN sender TEXT;
    ALTER TABLE messages ADD COLUMN recipients TEXT;
    ALTER TABLE messages ADD COLUMN patient_hash TEXT;
    ALTER TABLE messages ADD COLUMN patient_name TEXT;
    ALTER TABLE messages ADD COLUMN correlation_id TEXT;
    ALTER TABLE messages ADD COLUMN pruned_at DOUBLE PRECISION;
    CREATE INDEX messages_patient ON messages (patient_hash);
    CREATE INDEX messages_accepted ON messages (accepted_at);
    CREATE INDEX attempts_at ON attempts (at);
    CREATE INDEX messages_changed ON messages (updated_at);
    CREATE TABLE audit (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at          DOUBLE PRECISION NOT NULL,
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
    # 5: the outbound channels to the internal systems (a directory, an HTTP endpoint) of messages
    # that came in as FHIR, each delivery tracked and retried like a relay.
    """
    CREATE TABLE outbound (
        message_id     TEXT NOT NULL REFERENCES messages (message_id),
        channel        TEXT NOT NULL,
        state          TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        next_attempt   DOUBLE PRECISION NOT NULL,
        claimed_by     TEXT,
        claim_expires  DOUBLE PRECISION,
        last_error     TEXT,
        updated_at     DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (message_id, channel)
    );
    CREATE INDEX outbound_due ON outbound (state, next_attempt);
    """,
    # 6: the patient's consent to information transfer as the message stated it (null: not stated);
    # the latest stated in an episode decides what later messages may share (adapter.rules.consent).
    """
    ALTER TABLE messages ADD COLUMN information_transfer BOOLEAN;
    """,
    # 7: the console's sessions, kept here so that logging out, a new password or a removed account
    # ends them (adapter.security.sessions); the cookie carries the id, this table only its hash.
    """
    CREATE TABLE sessions (
        id_hash      TEXT PRIMARY KEY,
        user_name    TEXT NOT NULL,
        fingerprint  TEXT NOT NULL,
        started_at   DOUBLE PRECISION NOT NULL,
        seen_at      DOUBLE PRECISION NOT NULL
    );
    """,
    # 8: the access log patientdatalagen asks for: an operator's read of a patient's data names the
    # patient by the keyed hash of the search (adapter.security.patient_search), never the number.
    """
    ALTER TABLE audit ADD COLUMN patient_hash TEXT;
    CREATE INDEX audit_patient ON audit (patient_hash, id);
    """,
    # 9: a municipality's invoice basis for a month, frozen once an operator marks it invoiced; a
    # later message that changes its days gives correction rows in the next open month (adapter.invoices).
    """
    CREATE TABLE invoices (
        kommunkod    TEXT NOT NULL,
        month        TEXT NOT NULL,
        marked_at    DOUBLE PRECISION NOT NULL,
        marked_by    TEXT NOT NULL,
        through_seq  BIGINT NOT NULL,
        basis        TEXT NOT NULL,
        PRIMARY KEY (kommunkod, month)
    );
    """,
)

_MIGRATION_LOCK = 0x5A4D5645  # any constant shared by every replica


class _Tx:
    def __init__(self, conn: psycopg.Connection[Any]):
        self.conn = conn

    def _execute(self, sql: str, args: Sequence[Any]) -> psycopg.Cursor[Any]:
        return self.conn.execute(sql.replace("?", "%s"), args)  # our SQL, never the sender's text

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._execute(sql, args).fetchone()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, args).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._execute(sql, args).rowcount


class PostgresJournal(SqlJournal):
    """The journal in the PostgreSQL database at ``url``."""

    next_seq = "nextval('messages_seq')"
    claim_lock = " FOR UPDATE OF m SKIP LOCKED"

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self.migrate(MIGRATIONS)

    @property
    def where(self) -> str:
        parts = conninfo_to_dict(self.url)
        return f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"

    def _connection(self) -> psycopg.Connection[Any]:
        # A connection broken by a server restart is replaced on the next use.
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        return self._conn

    def lock_migrations(self, tx: Tx) -> None:
        tx.one("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    @contextmanager
    def tx(self, *, write: bool = True, durable: bool = True) -> Iterator[Tx]:
        with self._lock:
            try:
                conn = self._connection()
                if not write:
                    yield _Tx(conn)
                    return
                with conn.transaction():
                    if not durable:
                        conn.execute("SET LOCAL synchronous_commit TO OFF")
                    yield _Tx(conn)
            except psycopg.OperationalError as exc:  # the server is down or restarting: nothing was written
                raise JournalUnavailable(f"the journal's database cannot be reached ({type(exc).__name__})") from exc

    def lock_key(self, tx: Tx, key: str) -> None:
        tx.one("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    def vacuum(self) -> None:
        with self._lock:
            self._connection().execute("VACUUM messages, attempts")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
