"""The order key of a message (docs/architecture.md, "Contract of the relay").

Messages of one key reach the server in the order they were accepted; different keys go in
parallel. The key is the care episode, else the referral, else the SIP, else the patient (as a
hash, so the journal's key column holds no personnummer). A Kvittens takes the key of the message
it acknowledges; that needs the journal, so the adapter resolves it (``adapter.intake.group_commit``).
"""

from __future__ import annotations

import hashlib

from .episode import episode_key
from .model import Message

__all__ = ["order_key"]


def order_key(message: Message) -> str:
    """``episode:{issuer}:{id}``, ``referral:...``, ``sip:...`` or ``patient:{hash}``."""
    if message.care_episode is not None:
        return f"episode:{episode_key(message.care_episode)}"
    body = message.body
    if body.referral is not None:
        return f"referral:{body.referral.issuer}:{body.referral.id}"
    if body.plan is not None:
        return f"sip:{body.plan.issuer}:{body.plan.id}"
    p = message.patient
    return "patient:" + hashlib.sha256(f"{p.id_kind.value}|{p.id_value}".encode()).hexdigest()[:24]
