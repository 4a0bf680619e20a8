"""The durable journal: every accepted message, every relay attempt, and the state of each.

    accepted ──claim──▶ relaying ──▶ delivered
        ▲                  │
        │                  ├─ retryable failure ──▶ retrying (next attempt at) ──claim──▶ relaying
        │                  └─ final failure, or attempts/time used up ──▶ dead-lettered
        └──── replay ◀──── dead-lettered                       cancel ──▶ cancelled

Order is per *key* (the care episode, else the referral, else the SIP, else the patient): only
the oldest undelivered message of a key can be claimed, so a dead-lettered message holds the
later ones of its key (they show as ``held``) until an operator replays or cancels it; other keys
go on. A claim is a lease: a worker that dies leaves claims that expire, and another takes them.

This module is the SQLite backend (one file, WAL); the schema is versioned by ``MIGRATIONS``.
A document is accepted only when its row is committed, so a 202 means it survives a crash.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mappings.errors import SamverkanError

__all__ = ["MIGRATIONS", "Conflict", "Journal", "Record", "SqliteJournal", "digest"]

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
)

_OPEN = ("accepted", "relaying", "retrying", "dead-lettered")  # states that hold a key's order


class Conflict(SamverkanError):
    """The same message id was sent before with different content."""

    code = "SAMV-3001"
    issue_type = "duplicate"
    http_status = 409


def digest(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()


@dataclass(frozen=True, slots=True)
class Record:
    """One journaled message as an operator sees it."""

    message_id: str
    seq: int
    key: str
    message_type: str
    state: str
    attempts: int
    accepted_at: float
    updated_at: float
    next_attempt: float
    server_ids: list[str] | None
    last_error: str | None
    content_type: str
    document: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "type": self.message_type,
            "state": self.state,
            "attempts": self.attempts,
            "acceptedAt": _iso(self.accepted_at),
            "updatedAt": _iso(self.updated_at),
            "serverIds": self.server_ids or [],
            "lastError": self.last_error,
        }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class Journal:
    """The interface both backends implement (SQLite here; PostgreSQL for several replicas)."""

    def accept(
        self, message_id: str, *, key: str, message_type: str, document: bytes, content_type: str, now: float
    ) -> tuple[Record, bool]:
        raise NotImplementedError

    def reject(
        self, *, document: bytes, content_type: str | None, code: str, location: str | None, detail: str, now: float
    ) -> None:
        raise NotImplementedError

    def claim(self, worker: str, *, now: float, lease: float, limit: int) -> list[Record]:
        raise NotImplementedError

    def attempt(
        self, message_id: str, *, status: int | None, latency_ms: float, error: str | None, outcome: Any, now: float
    ) -> int:
        raise NotImplementedError

    def delivered(self, message_id: str, server_ids: list[str], *, now: float) -> None:
        raise NotImplementedError

    def retry_at(self, message_id: str, when: float, error: str, *, now: float) -> None:
        raise NotImplementedError

    def dead_letter(self, message_id: str, error: str, *, now: float) -> None:
        raise NotImplementedError

    def release(self, worker: str, *, now: float) -> int:
        raise NotImplementedError

    def replay(self, message_id: str, *, now: float) -> Record:
        raise NotImplementedError

    def cancel(self, message_id: str, *, now: float) -> Record:
        raise NotImplementedError

    def get(self, message_id: str) -> Record | None:
        raise NotImplementedError

    def key_of(self, message_id: str) -> str | None:
        raise NotImplementedError

    def list(self, *, state: str | None = None, key: str | None = None, limit: int = 100) -> list[Record]:
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


_COLUMNS = (
    "message_id, seq, key, message_type, state, attempts, accepted_at, updated_at, next_attempt, server_ids, last_error, "
    "content_type, document"
)


class SqliteJournal(Journal):
    """The journal in one SQLite file (WAL, synchronous=FULL: a commit is on disk)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._lock = threading.Lock()  # one connection, used from the event loop and worker threads
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for version, script in enumerate(MIGRATIONS, 1):
                if version > current:
                    for statement in filter(str.strip, script.split(";")):
                        db.execute(statement)
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _record(row: tuple[Any, ...]) -> Record:
        (mid, seq, key, mtype, state, attempts, accepted, updated, next_at, server_ids, error, ctype, doc) = row
        return Record(
            mid,
            seq,
            key,
            mtype,
            state,
            attempts,
            accepted,
            updated,
            next_at,
            json.loads(server_ids) if server_ids else None,
            error,
            ctype,
            bytes(doc),
        )

    def accept(
        self, message_id: str, *, key: str, message_type: str, document: bytes, content_type: str, now: float
    ) -> tuple[Record, bool]:
        """Journals a new message; the same id again returns the first record (``created`` False)."""
        d = digest(document)
        with self._tx() as db:
            found = db.execute(f"SELECT {_COLUMNS}, digest FROM messages WHERE message_id = ?", (message_id,)).fetchone()
            if found is not None:
                if found[-1] != d:
                    raise Conflict("this message id was sent before with other content", path="/Message/@id")
                return self._record(found[:-1]), False
            seq = (db.execute("SELECT coalesce(max(seq), 0) + 1 FROM messages").fetchone())[0]
            db.execute(
                "INSERT INTO messages (message_id, seq, key, message_type, digest, content_type, document, state, next_attempt,"
                " accepted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'accepted', ?, ?, ?)",
                (message_id, seq, key, message_type, d, content_type, document, now, now, now),
            )
        record = self.get(message_id)
        assert record is not None
        return record, True

    def reject(
        self, *, document: bytes, content_type: str | None, code: str, location: str | None, detail: str, now: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO rejected (at, digest, content_type, document, code, location, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, digest(document), content_type, document, code, location, detail),
            )

    def claim(self, worker: str, *, now: float, lease: float, limit: int) -> list[Record]:
        """Up to ``limit`` messages, each the oldest open message of its key and due now."""
        with self._tx() as db:
            rows = db.execute(
                f"""
                SELECT {_COLUMNS} FROM messages m
                WHERE m.state IN ('accepted', 'retrying', 'relaying')
                  AND m.next_attempt <= ?
                  AND (m.claimed_by IS NULL OR m.claim_expires < ?)
                  AND m.seq = (SELECT min(seq) FROM messages o WHERE o.key = m.key AND o.state IN {_OPEN})
                ORDER BY m.seq LIMIT ?
                """,
                (now, now, limit),
            ).fetchall()
            for row in rows:
                db.execute(
                    "UPDATE messages SET state = 'relaying', claimed_by = ?, claim_expires = ?, updated_at = ?"
                    " WHERE message_id = ?",
                    (worker, now + lease, now, row[0]),
                )
        return [self._record(r) for r in rows]

    def attempt(
        self, message_id: str, *, status: int | None, latency_ms: float, error: str | None, outcome: Any, now: float
    ) -> int:
        with self._tx() as db:
            # Attempts are numbered for ever; the message's count starts again after a replay.
            n = db.execute("SELECT count(*) + 1 FROM attempts WHERE message_id = ?", (message_id,)).fetchone()[0]
            db.execute(
                "INSERT INTO attempts (message_id, n, at, status, latency_ms, error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, n, now, status, latency_ms, error, json.dumps(outcome) if outcome is not None else None),
            )
            db.execute("UPDATE messages SET attempts = attempts + 1, updated_at = ? WHERE message_id = ?", (now, message_id))
            count = db.execute("SELECT attempts FROM messages WHERE message_id = ?", (message_id,)).fetchone()[0]
        return int(count)

    def _set(self, message_id: str, now: float, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as db:
            db.execute(f"UPDATE messages SET {sets}, updated_at = ? WHERE message_id = ?", (*values.values(), now, message_id))

    def delivered(self, message_id: str, server_ids: list[str], *, now: float) -> None:
        self._set(
            message_id,
            now,
            state="delivered",
            server_ids=json.dumps(server_ids),
            claimed_by=None,
            claim_expires=None,
            last_error=None,
        )

    def retry_at(self, message_id: str, when: float, error: str, *, now: float) -> None:
        self._set(message_id, now, state="retrying", next_attempt=when, last_error=error, claimed_by=None, claim_expires=None)

    def dead_letter(self, message_id: str, error: str, *, now: float) -> None:
        self._set(message_id, now, state="dead-lettered", last_error=error, claimed_by=None, claim_expires=None)

    def release(self, worker: str, *, now: float) -> int:
        """Gives back a stopping worker's claims at once (instead of waiting for them to expire)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE messages SET state = 'retrying', claimed_by = NULL, claim_expires = NULL, updated_at = ?"
                " WHERE claimed_by = ? AND state = 'relaying'",
                (now, worker),
            )
            return cur.rowcount

    def _operator(self, message_id: str, allowed: tuple[str, ...], state: str, now: float) -> Record:
        record = self.get(message_id)
        if record is None:
            raise KeyError(message_id)
        if record.state not in allowed:
            raise ValueError(f"a message in state {record.state} cannot be set to {state}")
        self._set(message_id, now, state=state, next_attempt=now, attempts=0 if state == "accepted" else record.attempts)
        updated = self.get(message_id)
        assert updated is not None
        return updated

    def replay(self, message_id: str, *, now: float) -> Record:
        """A dead-lettered (or cancelled) message goes back to the head of its key's queue."""
        return self._operator(message_id, ("dead-lettered", "cancelled"), "accepted", now)

    def cancel(self, message_id: str, *, now: float) -> Record:
        """An operator gives up on a message; the later messages of its key go on."""
        return self._operator(message_id, ("accepted", "retrying", "dead-lettered"), "cancelled", now)

    def get(self, message_id: str) -> Record | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        return None if row is None else self._record(row)

    def key_of(self, message_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT key FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        return None if row is None else str(row[0])

    def list(self, *, state: str | None = None, key: str | None = None, limit: int = 100) -> list[Record]:
        where, args = [], []
        if state is not None:
            where.append("state = ?")
            args.append(state)
        if key is not None:
            where.append("key = ?")
            args.append(key)
        sql = f"SELECT {_COLUMNS} FROM messages" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [self._record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
        return {str(s): int(n) for s, n in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
