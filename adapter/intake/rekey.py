"""Journals from before keyed patient keys: each ``patient:`` key made with an unkeyed hash of the
personnummer (24 hex digits, reversible by trying every number of a birth year) is moved to the
keyed one (:func:`mappings.keys.order_key` with the journal's :class:`PatientHasher`).

Run by the app at start, before any worker claims; a journal that has none costs one indexed
query. The new key is computed from a message's document; a key whose documents were all pruned
(delivered long ago) gets a random key instead: nothing waits behind it, and the old hash goes.
"""

from __future__ import annotations

import logging
import secrets

from adapter.codec import decode
from adapter.journal import Journal
from adapter.security import PatientHasher
from mappings.errors import SamverkanError
from mappings.keys import PATIENT_HASH_LENGTH, order_key

__all__ = ["rekey_patients"]

log = logging.getLogger(__name__)

_PREFIX = "patient:"
_OLD_LENGTH = 24


def rekey_patients(journal: Journal, hasher: PatientHasher) -> int:
    """Moves the messages of every unkeyed patient key to its keyed one; how many moved."""
    moved = 0
    for old in journal.keys_starting(_PREFIX):
        if len(old) - len(_PREFIX) != _OLD_LENGTH:
            continue  # keyed already (PATIENT_HASH_LENGTH long)
        moved += journal.rekey(old, _new_key(journal, old, hasher))
    if moved:
        log.warning("moved %d messages from unkeyed patient keys to keyed ones", moved)
    return moved


def _new_key(journal: Journal, old: str, hasher: PatientHasher) -> str:
    for record in journal.list(key=old, limit=1000):
        if record.pruned_at is not None or not record.document:
            continue
        try:
            return order_key(decode(record.document, record.content_type), hasher)
        except SamverkanError:
            continue  # accepted by an older version but not readable now: try another
    return _PREFIX + secrets.token_hex(PATIENT_HASH_LENGTH // 2)
