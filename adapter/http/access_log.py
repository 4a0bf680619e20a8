"""The access log patientdatalagen (the Patient Data Act) asks for: who was shown which patient's
data, and when, so that the region can check it systematically and give a patient the extract
(*loggutdrag*) they may ask for.

    await accessed(svc, "anna", "read-message", message_id=m)     one row per patient it showed
    await accessed(svc, "anna", "read-timeline", key=k)

The patient is named by the keyed hash of the patient search (adapter.security.patient_search),
never by the number; ``POST /audit/patient`` (routes/log.py) finds a patient's rows by number.
"""

from __future__ import annotations

import asyncio
import time

from .services import Services

__all__ = ["accessed"]


async def accessed(svc: Services, actor: str, action: str, *, message_id: str | None = None, key: str | None = None) -> None:
    """Logs that ``actor`` was shown the data of the patients of a message (or of a key's messages)."""

    def write() -> None:
        for patient in svc.journal.patients_of(message_id=message_id, key=key):
            svc.journal.audit(actor, action, message_id, key, now=time.time(), patient_hash=patient)

    await asyncio.to_thread(write)
