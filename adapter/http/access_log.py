"""The access log patientdatalagen (the Patient Data Act) asks for: who was shown which patient's
data, and when, so that the region can check it systematically and give a patient the extract
(*loggutdrag*) they may ask for.

    await accessed(svc, "anna", "read-message", message_id=m)     one row per patient it showed
    await accessed(svc, "anna", "read-timeline", key=k)
    await accessed_rows(svc, "anna", "read-payment-report", keys)  one row per patient of each row's key

The patient is named by the keyed hash of the patient search (adapter.security.patient_search),
never by the number; ``POST /audit/patient`` (routes/log.py) finds a patient's rows by number.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from .services import Services

__all__ = ["accessed", "accessed_rows"]


async def accessed(svc: Services, actor: str, action: str, *, message_id: str | None = None, key: str | None = None) -> None:
    """Logs that ``actor`` was shown the data of the patients of a message (or of a key's messages)."""

    def write() -> None:
        for patient in svc.journal.patients_of(message_id=message_id, key=key):
            svc.journal.audit(actor, action, message_id, key, now=time.time(), patient_hash=patient)

    await asyncio.to_thread(write)


async def accessed_rows(svc: Services, actor: str, action: str, keys: Iterable[str]) -> None:
    """Logs that ``actor`` was shown report rows of ``keys``: one row per patient of each key, the
    key in its detail, all in one write (a report may have a row for every episode of a region)."""
    shown = list(keys)
    await asyncio.to_thread(svc.journal.audit_shown, actor, action, shown, now=time.time())
