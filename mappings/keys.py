"""The order key of a message (docs/architecture.md, "Contract of the relay").

Messages of one key reach the server in the order they were accepted; different keys go in
parallel. The key is the care episode, else the referral, else the SIP, else the patient, as a
keyed hash the adapter passes in (HMAC under its search key): the key is shown to every operator
and is in URLs, and an unkeyed hash of a personnummer is reversed by trying every number of a
birth year in under a second. A Kvittens takes the key of the message
it acknowledges; that needs the journal, so the adapter resolves it (``adapter.intake.group_commit``).
"""

from __future__ import annotations

from collections.abc import Callable

from .episode import episode_key
from .model import Message

__all__ = ["PATIENT_HASH_LENGTH", "order_key"]


#: The length of the keyed hash in a patient's key; the unkeyed ones of old journals were 24 long.
PATIENT_HASH_LENGTH = 40


def order_key(message: Message, patient_hash: Callable[[str], str] | None = None) -> str:
    """``episode:{issuer}:{id}``, ``referral:...``, ``sip:...`` or ``patient:{patient_hash(number)}``."""
    if message.care_episode is not None:
        return f"episode:{episode_key(message.care_episode)}"
    body = message.body
    if body.referral is not None:
        return f"referral:{body.referral.issuer}:{body.referral.id}"
    if body.plan is not None:
        return f"sip:{body.plan.issuer}:{body.plan.id}"
    if patient_hash is None:
        raise ValueError("a message outside an episode, referral and SIP is keyed by its patient: pass the keyed hash")
    return "patient:" + patient_hash(message.patient.id_value)[:PATIENT_HASH_LENGTH]
