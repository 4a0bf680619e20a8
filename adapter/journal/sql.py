"""The journal's logic in SQL that SQLite and PostgreSQL both run; a backend supplies the connection.

Statements use ``?`` placeholders; the PostgreSQL backend turns them into ``%s``. What differs
between the two is in the backend: the schema, how ``seq`` is allocated, and how a claim locks.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Any, Protocol

from .base import Accept, Attempt, AuditEntry, Conflict, Invoice, Journal, Outbound, Query, Record, Suspension, digest
from .states import CLAIMABLE, OPEN, WAITING, Action, State, allowing

__all__ = ["SqlJournal", "Tx"]


class Tx(Protocol):
    """One transaction of a backend."""

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...
    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def run(self, sql: str, args: Sequence[Any] = ()) -> int: ...


def _sql_list(states: tuple[State, ...]) -> str:
    # Literals, not parameters: partial indexes and the planner's use of them need constants.
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


_WAITING_SQL, _CLAIMABLE_SQL, _OPEN_SQL = _sql_list(WAITING), _sql_list(CLAIMABLE), _sql_list(OPEN)

#: Partial indexes that keep a claim's cost independent of the backlog: the due messages in order,
#: and per key the open ones (is anything before this one?). Both backends' migrations create them.
CLAIM_INDEXES = f"""
    CREATE INDEX messages_due ON messages (seq) WHERE state IN {_CLAIMABLE_SQL};
    CREATE INDEX messages_open ON messages (key, seq) WHERE state IN {_OPEN_SQL};
"""

# A waiting message behind a dead letter of its key is shown as held.
_SHOWN_STATE = (
    f"CASE WHEN m.state IN {_WAITING_SQL} AND EXISTS (SELECT 1 FROM messages d WHERE d.key = m.key"
    f" AND d.seq < m.seq AND d.state = '{State.DEAD_LETTERED}') THEN '{State.HELD}' ELSE m.state END"
)
_COLUMNS = (
    "m.message_id, m.seq, m.key, m.message_type, {state}, m.attempts, m.accepted_at, m.queued_at, m.updated_at,"
    " m.next_attempt, m.server_ids, m.last_error, m.content_type, m.document,"
    " m.sender, m.recipients, m.patient_name, m.correlation_id, m.pruned_at"
)
SHOWN = _COLUMNS.format(state=_SHOWN_STATE)
STORED = _COLUMNS.format(state="m.state")


_SUSPENSION = "id, key, first_day, last_day, reason, set_at, updated_at"


def _suspension(row: Sequence[Any]) -> Suspension:
    sid, key, first, last, reason, set_at, updated = row
    last_day = date.fromisoformat(last) if last else None
    return Suspension(int(sid), key, date.fromisoformat(first), last_day, reason, set_at, updated)


def _check_days(first_day: date, last_day: date | None) -> None:
    if last_day is not None and last_day < first_day:
        raise ValueError(f"the last day {last_day} is before the first day {first_day}")


def _state_is(state: str) -> str:
    """A filter on the state operators see. Only a waiting message can show as held, so any other
    state is its stored one and the index on it serves (the watcher asks for dead letters often)."""
    if state == State.HELD or state in WAITING:
        return f"m.state IN {_WAITING_SQL} AND ({_SHOWN_STATE}) = ?"
    return "m.state = ?"


def record(row: Sequence[Any]) -> Record:
    (mid, seq, key, mtype, state, attempts, accepted, queued, updated, next_at, server_ids, error, ctype, doc) = row[:14]
    sender, recipients, patient_name, correlation_id, pruned_at = row[14:]
    return Record(
        mid,
        int(seq),
        key,
        mtype,
        State(state),
        int(attempts),
        accepted,
        queued,
        updated,
        next_at,
        json.loads(server_ids) if server_ids else None,
        error,
        ctype,
        bytes(doc),
        sender,
        tuple((recipients or "").split()),
        patient_name,
        correlation_id,
        pruned_at,
    )


class SqlJournal(Journal):
    """:class:`Journal` over a backend's transactions."""

    #: SQL for the next ``seq`` inside an INSERT (the backend's order of acceptance).
    next_seq: str = ""
    #: How a claim's SELECT names the index to walk, where the planner needs telling (SQLite).
    claim_index: str = ""
    #: What a claim's SELECT ends with to lock the rows it takes (PostgreSQL: skip those locked by others).
    claim_lock: str = ""

    def tx(self, *, write: bool = True, durable: bool = True) -> AbstractContextManager[Tx]:
        """A transaction. ``durable=False`` may skip the flush to disk at commit: for the relay's own
        bookkeeping after acceptance (claims, attempts, outcomes), whose loss in a power cut only
        means a message is relayed once more (which is harmless: every write is conditional). An
        accepted document, a refusal, and an operator's replay or cancel are always flushed.
        """
        raise NotImplementedError

    def lock_key(self, tx: Tx, key: str) -> None:
        """Serialises acceptance within one key where the backend runs accepts in parallel."""

    def lock_migrations(self, tx: Tx) -> None:
        """Keeps replicas that start together from migrating at once, where the backend needs it."""

    def migrate(self, migrations: Sequence[str]) -> None:
        """Applies the migrations this journal has not had yet, in order, in one transaction."""
        with self.tx() as tx:
            self.lock_migrations(tx)
            tx.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.one("SELECT max(version) FROM schema_version")
            current = (row[0] if row else None) or 0
            for version, script in enumerate(migrations, 1):
                if version > current:
                    for statement in filter(str.strip, script.split(";")):
                        tx.run(statement)
                    tx.run("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def schema_version(self) -> int:
        with self.tx(write=False) as tx:
            row = tx.one("SELECT max(version) FROM schema_version")
        return int(row[0]) if row and row[0] else 0

    def accept_many(self, items: Sequence[Accept]) -> list[tuple[Record, bool] | Conflict]:
        """Journals several messages in one transaction: one flush to disk for all (group commit).

        Each item's answer is in its place: its record and whether it is new, or a Conflict.
        """
        results: list[tuple[Record, bool] | Conflict] = []
        with self.tx() as tx:
            for key in sorted({i.key for i in items}):  # one order for every replica: no deadlock
                self.lock_key(tx, key)
            for i in items:
                d = digest(i.document)
                # Recipients as " a b ": a search for one is a LIKE on " a " and never matches a part of an id.
                recipients = f" {' '.join(i.recipients)} " if i.recipients else None
                inserted = tx.run(
                    "INSERT INTO messages (message_id, seq, key, message_type, digest, content_type, document, bundle, state,"
                    " next_attempt, accepted_at, queued_at, updated_at, sender, recipients, patient_hash, patient_name,"
                    " correlation_id, information_transfer)"
                    f" VALUES (?, {self.next_seq}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (message_id) DO NOTHING",
                    (
                        i.message_id,
                        i.key,
                        i.message_type,
                        d,
                        i.content_type,
                        i.document,
                        i.bundle,
                        State.ACCEPTED,
                        i.now,
                        i.now,
                        i.now,
                        i.now,
                        i.sender,
                        recipients,
                        i.patient_hash,
                        i.patient_name,
                        i.correlation_id,
                        i.information_transfer,
                    ),
                )
                row = tx.one(f"SELECT {STORED}, m.digest FROM messages m WHERE m.message_id = ?", (i.message_id,))
                assert row is not None
                if inserted:
                    for channel in i.outbound:
                        tx.run(
                            "INSERT INTO outbound (message_id, channel, state, next_attempt, updated_at)"
                            " VALUES (?, ?, 'pending', ?, ?)",
                            (i.message_id, channel, i.now, i.now),
                        )
                if not inserted and row[-1] != d:
                    results.append(Conflict("this message id was sent before with other content", path="/Message/@id"))
                else:
                    results.append((record(row[:-1]), bool(inserted)))
        return results

    def reject(
        self,
        *,
        document: bytes,
        content_type: str | None,
        code: str,
        location: str | None,
        detail: str,
        now: float,
        actor: str = "anonymous",
        message_id: str | None = None,
    ) -> None:
        with self.tx() as tx:
            tx.run(
                "INSERT INTO rejected (at, digest, content_type, document, code, location, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, digest(document), content_type, document, code, location, detail),
            )
            where = f" at {location}" if location else ""
            tx.run(
                "INSERT INTO audit (at, actor, action, message_id, detail) VALUES (?, ?, 'refused', ?, ?)",
                (now, actor, message_id, f"{code}{where}: {detail}"),
            )

    def claim(self, worker: str, *, now: float, lease: float, limit: int) -> list[Record]:
        """Up to ``limit`` messages, each the oldest open message of its key and due now."""
        with self.tx(durable=False) as tx:
            rows = tx.all(
                f"""
                SELECT {STORED} FROM messages m{self.claim_index}
                WHERE m.state IN {_CLAIMABLE_SQL}
                  AND m.next_attempt <= ?
                  AND (m.claimed_by IS NULL OR m.claim_expires < ?)
                  AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.key = m.key AND o.seq < m.seq AND o.state IN {_OPEN_SQL})
                ORDER BY m.seq LIMIT ?{self.claim_lock}
                """,
                (now, now, limit),
            )
            for row in rows:
                tx.run(
                    "UPDATE messages SET state = ?, claimed_by = ?, claim_expires = ?, updated_at = ? WHERE message_id = ?",
                    (State.RELAYING, worker, now + lease, now, row[0]),
                )
        return [record((*r[:4], State.RELAYING, *r[5:])) for r in rows]

    def attempt(
        self, message_id: str, *, status: int | None, latency_ms: float, error: str | None, outcome: Any, now: float
    ) -> int:
        with self.tx(durable=False) as tx:
            # Attempts are numbered for ever; the message's count starts again after a replay.
            found = tx.one("SELECT count(*) + 1 FROM attempts WHERE message_id = ?", (message_id,))
            assert found is not None
            tx.run(
                "INSERT INTO attempts (message_id, n, at, status, latency_ms, error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, found[0], now, status, latency_ms, error, json.dumps(outcome) if outcome is not None else None),
            )
            count = tx.one(
                "UPDATE messages SET attempts = attempts + 1, updated_at = ? WHERE message_id = ? RETURNING attempts",
                (now, message_id),
            )
        assert count is not None
        return int(count[0])

    def _set(self, message_id: str, now: float, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.tx(durable=False) as tx:
            tx.run(f"UPDATE messages SET {sets}, updated_at = ? WHERE message_id = ?", (*values.values(), now, message_id))

    def delivered(self, message_id: str, server_ids: list[str], *, now: float) -> None:
        self._set(
            message_id,
            now,
            state=State.DELIVERED,
            server_ids=json.dumps(server_ids),
            claimed_by=None,
            claim_expires=None,
            last_error=None,
        )

    def retry_at(self, message_id: str, when: float, error: str, *, now: float) -> None:
        self._set(message_id, now, state=State.RETRYING, next_attempt=when, last_error=error, claimed_by=None, claim_expires=None)

    def dead_letter(self, message_id: str, error: str, *, now: float) -> None:
        self._set(message_id, now, state=State.DEAD_LETTERED, last_error=error, claimed_by=None, claim_expires=None)

    def release(self, worker: str, *, now: float) -> int:
        """Gives back a worker's claims at once (instead of waiting for them to expire)."""
        with self.tx(durable=False) as tx:
            return tx.run(
                "UPDATE messages SET state = ?, claimed_by = NULL, claim_expires = NULL, updated_at = ?"
                " WHERE claimed_by = ? AND state = ?",
                (State.RETRYING, now, worker, State.RELAYING),
            )

    def _operator(self, message_id: str, action: Action, state: State, now: float) -> Record:
        """Moves the message to ``state`` if its state allows ``action`` (``adapter.journal.states``)."""
        # Held is never stored (a held message's stored state is a waiting one, also allowed): harmless here.
        allowed = allowing(action)
        queued = now if state == State.REPLAYED else None
        with self.tx() as tx:
            # One conditional UPDATE: an operator and a worker can never both move the same message.
            placeholders = ", ".join("?" for _ in allowed)
            changed = tx.run(
                f"UPDATE messages SET state = ?, next_attempt = ?, updated_at = ?,"
                f" attempts = CASE WHEN ? THEN 0 ELSE attempts END, queued_at = coalesce(?, queued_at)"
                f" WHERE message_id = ? AND state IN ({placeholders})",
                (state, now, now, queued is not None, queued, message_id, *allowed),
            )
            # Read in the same transaction: the operator sees what they did, not a worker's claim after it.
            row = tx.one(f"SELECT {SHOWN} FROM messages m WHERE m.message_id = ?", (message_id,))
        if row is None:
            raise KeyError(message_id)
        current = record(row)
        if not changed:
            raise ValueError(f"a message in state {current.state} cannot be set to {state}")
        return current

    def replay(self, message_id: str, *, now: float) -> Record:
        """A dead-lettered (or cancelled) message goes back to the head of its key's queue."""
        return self._operator(message_id, Action.REPLAY, State.REPLAYED, now)

    def cancel(self, message_id: str, *, now: float) -> Record:
        """An operator gives up on a message; the later messages of its key go on."""
        return self._operator(message_id, Action.CANCEL, State.CANCELLED, now)

    def get(self, message_id: str) -> Record | None:
        with self.tx(write=False) as tx:
            row = tx.one(f"SELECT {SHOWN} FROM messages m WHERE m.message_id = ?", (message_id,))
        return None if row is None else record(row)

    def attempts(self, message_id: str) -> list[Attempt]:
        with self.tx(write=False) as tx:
            rows = tx.all(
                "SELECT n, at, status, latency_ms, error, outcome FROM attempts WHERE message_id = ? ORDER BY n", (message_id,)
            )
        return [Attempt(n, at, status, latency, error, json.loads(o) if o else None) for n, at, status, latency, error, o in rows]

    def bundle(self, message_id: str) -> str | None:
        with self.tx(write=False) as tx:
            row = tx.one("SELECT bundle FROM messages WHERE message_id = ?", (message_id,))
        return None if row is None else row[0]

    def key_of(self, message_id: str) -> str | None:
        with self.tx(write=False) as tx:
            row = tx.one("SELECT key FROM messages WHERE message_id = ?", (message_id,))
        return None if row is None else str(row[0])

    def session_start(self, id_hash: str, user: str, fingerprint: str, *, now: float) -> None:
        with self.tx() as tx:
            tx.run(
                "INSERT INTO sessions (id_hash, user_name, fingerprint, started_at, seen_at) VALUES (?, ?, ?, ?, ?)",
                (id_hash, user, fingerprint, now, now),
            )

    def session(self, id_hash: str) -> tuple[str, str, float, float] | None:
        with self.tx(write=False) as tx:
            row = tx.one("SELECT user_name, fingerprint, started_at, seen_at FROM sessions WHERE id_hash = ?", (id_hash,))
        return None if row is None else (str(row[0]), str(row[1]), float(row[2]), float(row[3]))

    def session_seen(self, id_hash: str, *, now: float) -> None:
        with self.tx(durable=False) as tx:
            tx.run("UPDATE sessions SET seen_at = ? WHERE id_hash = ?", (now, id_hash))

    def session_end(self, id_hash: str) -> None:
        with self.tx() as tx:
            tx.run("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def take_secret(self, name: str) -> str | None:
        with self.tx() as tx:
            row = tx.one("SELECT value FROM meta WHERE name = ?", (name,))
            tx.run("DELETE FROM meta WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    def keys_starting(self, prefix: str) -> list[str]:
        # substr, not LIKE: a prefix is compared as it is, whatever characters it holds.
        with self.tx(write=False) as tx:
            rows = tx.all("SELECT DISTINCT key FROM messages WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
        return sorted(str(r[0]) for r in rows)

    def rekey(self, old: str, new: str) -> int:
        with self.tx() as tx:
            return tx.run("UPDATE messages SET key = ? WHERE key = ?", (new, old))

    def list(self, *, state: str | None = None, key: str | None = None, limit: int = 100) -> list[Record]:
        where, args = [], []
        if state is not None:
            where.append(_state_is(state))
            args.append(state)
        if key is not None:
            where.append("m.key = ?")
            args.append(key)
        sql = f"SELECT {SHOWN} FROM messages m" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY m.seq LIMIT ?"
        with self.tx(write=False) as tx:
            rows = tx.all(sql, (*args, limit))
        return [record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.tx(write=False) as tx:
            counts = {str(s): int(n) for s, n in tx.all("SELECT state, count(*) FROM messages GROUP BY state")}
            if counts.get(State.DEAD_LETTERED):
                # Only then can anything be held; the per-row check is not paid otherwise.
                for waiting in WAITING:
                    counts.pop(waiting, None)
                for s, n in tx.all(f"SELECT {_SHOWN_STATE}, count(*) FROM messages m WHERE m.state IN {_WAITING_SQL} GROUP BY 1"):
                    counts[str(s)] = int(n)
        return {s: n for s, n in counts.items() if n}

    def search(self, query: Query) -> builtins.list[Record]:
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        exact = {
            "m.message_type": query.message_type,
            "m.sender": query.sender,
            "m.key": query.key,
            "m.message_id": query.message_id,
            "m.patient_hash": query.patient_hash,
        }
        for column, value in exact.items():
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.state is not None:
            where.append(_state_is(query.state))
            args.append(query.state)
        if query.recipient is not None:
            where.append("m.recipients LIKE ? ESCAPE '!'")
            args.append(f"% {query.recipient.replace('!', '!!').replace('%', '!%').replace('_', '!_')} %")
        for op, moment in ((">=", query.since), ("<", query.until)):
            if moment is not None:
                where.append(f"m.accepted_at {op} ?")
                args.append(moment)
        if query.before is not None:
            where.append("m.seq < ?")
            args.append(query.before)
        sql = (
            f"SELECT {SHOWN} FROM messages m"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY m.seq DESC LIMIT ?"
        )
        with self.tx(write=False) as tx:
            rows = tx.all(sql, (*args, query.limit))
        return [record(r) for r in rows]

    def changes(self, since: float, *, limit: int = 500) -> builtins.list[Record]:
        with self.tx(write=False) as tx:
            rows = tx.all(
                f"SELECT {SHOWN} FROM messages m WHERE m.updated_at > ? ORDER BY m.updated_at, m.seq LIMIT ?", (since, limit)
            )
        return [record(r) for r in rows]

    def outbound_claim(self, worker: str, *, now: float, lease: float, limit: int) -> builtins.list[Outbound]:
        with self.tx(durable=False) as tx:
            rows = tx.all(
                f"""
                SELECT o.message_id, o.channel, o.attempts, o.last_error, m.document, m.correlation_id, m.queued_at
                FROM outbound o JOIN messages m ON m.message_id = o.message_id
                WHERE o.state IN ('pending', 'retrying', 'delivering')
                  AND o.next_attempt <= ?
                  AND (o.claimed_by IS NULL OR o.claim_expires < ?)
                  AND NOT EXISTS (
                      SELECT 1 FROM outbound p JOIN messages pm ON pm.message_id = p.message_id
                      WHERE p.channel = o.channel AND pm.key = m.key AND pm.seq < m.seq AND p.state <> 'done')
                ORDER BY m.seq LIMIT ?{self.claim_lock.replace(" OF m ", " OF o ")}
                """,
                (now, now, limit),
            )
            for mid, channel, *_ in rows:
                tx.run(
                    "UPDATE outbound SET state = 'delivering', claimed_by = ?, claim_expires = ?, updated_at = ?"
                    " WHERE message_id = ? AND channel = ?",
                    (worker, now + lease, now, mid, channel),
                )
        return [
            Outbound(mid, ch, "delivering", int(n), err, bytes(doc), cid, queued) for mid, ch, n, err, doc, cid, queued in rows
        ]

    def _outbound_set(self, message_id: str, channel: str, now: float, state: str, **values: Any) -> None:
        sets = "".join(f", {k} = ?" for k in values)
        with self.tx(durable=False) as tx:
            tx.run(
                f"UPDATE outbound SET state = ?, claimed_by = NULL, claim_expires = NULL, updated_at = ?,"
                f" attempts = attempts + 1{sets} WHERE message_id = ? AND channel = ?",
                (state, now, *values.values(), message_id, channel),
            )

    def outbound_done(self, message_id: str, channel: str, *, now: float) -> None:
        self._outbound_set(message_id, channel, now, "done", last_error=None)

    def outbound_retry(self, message_id: str, channel: str, when: float, error: str, *, now: float) -> None:
        self._outbound_set(message_id, channel, now, "retrying", next_attempt=when, last_error=error)

    def outbound_failed(self, message_id: str, channel: str, error: str, *, now: float) -> None:
        self._outbound_set(message_id, channel, now, "failed", last_error=error)

    def outbound_replay(self, message_id: str, *, now: float) -> int:
        with self.tx() as tx:
            return tx.run(
                "UPDATE outbound SET state = 'pending', attempts = 0, next_attempt = ?, updated_at = ?"
                " WHERE message_id = ? AND state = 'failed'",
                (now, now, message_id),
            )

    def outbound(self, message_id: str) -> builtins.list[Outbound]:
        with self.tx(write=False) as tx:
            rows = tx.all(
                "SELECT message_id, channel, state, attempts, last_error FROM outbound WHERE message_id = ? ORDER BY channel",
                (message_id,),
            )
        return [Outbound(mid, ch, st, int(n), err) for mid, ch, st, n, err in rows]

    def waiting(self) -> tuple[int, float | None]:
        with self.tx(write=False) as tx:
            row = tx.one(f"SELECT count(*), min(accepted_at) FROM messages WHERE state IN {_CLAIMABLE_SQL}")
        assert row is not None
        return int(row[0]), row[1]

    def activity(self, since: float) -> builtins.list[tuple[float, int | None, float]]:
        with self.tx(write=False) as tx:
            rows = tx.all("SELECT at, status, latency_ms FROM attempts WHERE at >= ? ORDER BY at LIMIT 500000", (since,))
        return [(float(at), status, float(latency)) for at, status, latency in rows]

    def prune_bodies(self, before: float, *, now: float) -> int:
        with self.tx() as tx:
            # A document still to be delivered to an internal system is kept until it is.
            due = (
                f"state = '{State.DELIVERED}' AND updated_at < ? AND pruned_at IS NULL AND NOT EXISTS"
                " (SELECT 1 FROM outbound o WHERE o.message_id = messages.message_id AND o.state <> 'done')"
            )
            tx.run(
                f"UPDATE attempts SET outcome = NULL WHERE message_id IN (SELECT message_id FROM messages WHERE {due})", (before,)
            )
            return tx.run(f"UPDATE messages SET document = ?, bundle = NULL, pruned_at = ? WHERE {due}", (b"", now, before))

    def audit(
        self, actor: str, action: str, message_id: str | None, detail: str | None, *, now: float, patient_hash: str | None = None
    ) -> None:
        with self.tx() as tx:
            tx.run(
                "INSERT INTO audit (at, actor, action, message_id, detail, patient_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (now, actor, action, message_id, detail, patient_hash),
            )

    def audit_shown(self, actor: str, action: str, keys: Sequence[str], *, now: float) -> int:
        wanted, written = sorted(set(keys)), 0
        if not wanted:
            return 0
        with self.tx() as tx:
            for i in range(0, len(wanted), 500):  # within every backend's limit of parameters
                chunk = wanted[i : i + 500]
                written += tx.run(
                    "INSERT INTO audit (at, actor, action, message_id, detail, patient_hash)"
                    " SELECT ?, ?, ?, NULL, key, patient_hash FROM"
                    f" (SELECT DISTINCT key, patient_hash FROM messages WHERE key IN ({', '.join('?' * len(chunk))})"
                    " AND patient_hash IS NOT NULL) AS shown ORDER BY key, patient_hash",
                    (now, actor, action, *chunk),
                )
        return written

    def patients_of(self, *, message_id: str | None = None, key: str | None = None) -> builtins.list[str]:
        column, value = ("message_id", message_id) if message_id is not None else ("key", key)
        with self.tx(write=False) as tx:
            rows = tx.all(f"SELECT DISTINCT patient_hash FROM messages WHERE {column} = ? AND patient_hash IS NOT NULL", (value,))
        return sorted(str(r[0]) for r in rows)

    def access_log(self, patient_hash: str, *, limit: int = 1000) -> builtins.list[AuditEntry]:
        with self.tx(write=False) as tx:
            rows = tx.all(
                "SELECT id, at, actor, action, message_id, detail FROM audit WHERE patient_hash = ? ORDER BY id DESC LIMIT ?",
                (patient_hash, limit),
            )
        return [AuditEntry(int(r[0]), *r[1:]) for r in rows]

    def information_transfer(self, key: str) -> bool | None:
        with self.tx(write=False) as tx:
            row = tx.one(
                "SELECT information_transfer FROM messages WHERE key = ? AND information_transfer IS NOT NULL"
                f" AND state <> '{State.CANCELLED}' ORDER BY seq DESC LIMIT 1",
                (key,),
            )
        return None if row is None else bool(row[0])

    def audit_log(self, *, limit: int = 100) -> builtins.list[AuditEntry]:
        with self.tx(write=False) as tx:
            rows = tx.all("SELECT id, at, actor, action, message_id, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditEntry(int(r[0]), *r[1:]) for r in rows]

    def secret(self, name: str, make: Callable[[], str]) -> str:
        with self.tx() as tx:
            tx.run("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, make()))
            row = tx.one("SELECT value FROM meta WHERE name = ?", (name,))
        assert row is not None
        return str(row[0])

    def suspend(self, key: str, first_day: date, last_day: date | None, reason: str, *, now: float) -> Suspension:
        _check_days(first_day, last_day)
        with self.tx() as tx:
            row = tx.one(
                "INSERT INTO suspensions (key, first_day, last_day, reason, set_at, updated_at)"
                f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {_SUSPENSION}",
                (key, first_day.isoformat(), last_day.isoformat() if last_day else None, reason, now, now),
            )
        assert row is not None
        return _suspension(row)

    def end_suspension(self, suspension_id: int, last_day: date | None, *, now: float) -> Suspension:
        with self.tx() as tx:
            row = tx.one(f"SELECT {_SUSPENSION} FROM suspensions WHERE id = ?", (suspension_id,))
            if row is None:
                raise KeyError(suspension_id)
            _check_days(_suspension(row).first_day, last_day)
            row = tx.one(
                f"UPDATE suspensions SET last_day = ?, updated_at = ? WHERE id = ? RETURNING {_SUSPENSION}",
                (last_day.isoformat() if last_day else None, now, suspension_id),
            )
        assert row is not None
        return _suspension(row)

    def remove_suspension(self, suspension_id: int) -> Suspension:
        with self.tx() as tx:
            row = tx.one(f"DELETE FROM suspensions WHERE id = ? RETURNING {_SUSPENSION}", (suspension_id,))
        if row is None:
            raise KeyError(suspension_id)
        return _suspension(row)

    def mark_invoiced(self, invoice: Invoice) -> Invoice:
        i = invoice
        with self.tx() as tx:
            if tx.one("SELECT 1 FROM invoices WHERE kommunkod = ? AND month = ?", (i.kommunkod, i.month)) is not None:
                raise Conflict(f"{i.month} of {i.kommunkod} was marked invoiced before; it does not change", path="month")
            tx.run(
                "INSERT INTO invoices (kommunkod, month, marked_at, marked_by, through_seq, basis) VALUES (?, ?, ?, ?, ?, ?)",
                (i.kommunkod, i.month, i.marked_at, i.marked_by, i.through_seq, json.dumps(i.basis, ensure_ascii=False)),
            )
            tx.run(
                "INSERT INTO audit (at, actor, action, message_id, detail) VALUES (?, ?, ?, NULL, ?)",
                (i.marked_at, i.marked_by, "invoice-marked", f"{i.kommunkod} {i.month}"),
            )
        return invoice

    def invoices(self, kommunkod: str) -> builtins.list[Invoice]:
        with self.tx(write=False) as tx:
            rows = tx.all(
                "SELECT kommunkod, month, marked_at, marked_by, through_seq, basis FROM invoices"
                " WHERE kommunkod = ? ORDER BY month",
                (kommunkod,),
            )
        return [Invoice(k, m, at, by, int(seq), json.loads(basis)) for k, m, at, by, seq, basis in rows]

    def suspensions(self, key: str | None = None) -> builtins.list[Suspension]:  # (``list`` is a method here)
        sql = f"SELECT {_SUSPENSION} FROM suspensions" + (" WHERE key = ?" if key is not None else "") + " ORDER BY id"
        with self.tx(write=False) as tx:
            rows = tx.all(sql, () if key is None else (key,))
        return [_suspension(r) for r in rows]

    def prune(self, before: float) -> int:
        """Deletes delivered and cancelled messages (and refusals) last changed before ``before``."""
        with self.tx() as tx:
            due = (
                f"state IN {_sql_list((State.DELIVERED, State.CANCELLED))} AND updated_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM outbound o WHERE o.message_id = messages.message_id AND o.state <> 'done')"
            )
            gone = f"SELECT message_id FROM messages WHERE {due}"
            tx.run(f"DELETE FROM attempts WHERE message_id IN ({gone})", (before,))
            tx.run(f"DELETE FROM outbound WHERE message_id IN ({gone})", (before,))
            n = tx.run(f"DELETE FROM messages WHERE {due}", (before,))
            tx.run("DELETE FROM rejected WHERE at < ?", (before,))
        return n
