"""Accepting a message, without the web framework: an Intake over a real SQLite journal."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.intake import Intake
from adapter.journal import Journal, open_journal
from adapter.security import PatientHasher
from adapter.security.senders import OPEN, Caller
from mappings.errors import ConsentNotGiven, SenderNotPermitted
from tests.support import INSKRIVNING, offline_settings


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = open_journal(offline_settings(tmp_path / "journal.sqlite3"))
    yield j
    j.close()


def test_an_accept_journals_the_message_and_its_bundle_once(journal: Journal) -> None:
    intake = Intake(journal, hasher=PatientHasher(b"key"))
    raw = INSKRIVNING.read_bytes()

    record, created = asyncio.run(intake.take(raw, "application/xml", caller=OPEN))
    again, created_again = asyncio.run(intake.take(raw, "application/xml", caller=OPEN))

    assert (created, created_again) == (True, False)
    assert again.message_id == record.message_id and record.state == "accepted"
    stored = journal.get(record.message_id)
    assert stored is not None and stored.document == raw
    bundle = journal.bundle(record.message_id)
    assert bundle is not None and '"resourceType":"Bundle"' in bundle
    assert intake.metrics.accepted.labels("Inskrivningsmeddelande")._value.get() == 1


def test_a_sender_that_may_not_send_as_the_message_sender_is_refused_and_audited(journal: Journal) -> None:
    intake = Intake(journal, hasher=PatientHasher(b"key"))
    stranger = Caller("stranger", frozenset({"SE0000000000-X"}))

    with pytest.raises(SenderNotPermitted) as refused:
        asyncio.run(intake.take(INSKRIVNING.read_bytes(), "application/xml", caller=stranger))

    assert refused.value.path == "/Message/Sender/@hsaId"
    assert journal.counts().get("accepted", 0) == 0
    (entry,) = journal.audit_log()
    assert (entry.actor, entry.action) == ("stranger", "refused")
    assert entry.detail is not None and "SAMV-5001" in entry.detail


_FIRST_ID = b"6f1c0e0a-6a43-4a57-9d0b-0a1c2b3d4e5f"
_NOTE = "<Note>Behov av hemsjukvård och hemtjänst efter utskrivning.</Note>".encode()
_CONSENT = b'<Consent informationTransfer="true" sip="true"/>'


def _variant(message_id: str, *, consent: bytes = _CONSENT, note: bool = True) -> bytes:
    """The fixture's Inskrivningsmeddelande under another id, with a consent and note of our choosing."""
    raw = INSKRIVNING.read_bytes().replace(_FIRST_ID, message_id.encode()).replace(_CONSENT, consent)
    return raw if note else raw.replace(_NOTE, b"")


def test_the_journal_is_read_off_the_event_loop(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a journal whose consent reads note the thread they run in...
    seen: list[int] = []
    real = journal.information_transfer

    def noted(key: str) -> bool | None:
        seen.append(threading.get_ident())
        return real(key)

    monkeypatch.setattr(journal, "information_transfer", noted)
    intake = Intake(journal, hasher=PatientHasher(b"key"))

    async def take() -> int:
        # ...when a message that carries information (a note) and states no consent is taken...
        await intake.take(_variant("0b7e3c52-1a4f-4f7e-9a55-3f2d4c1b0a01", consent=b""), "application/xml", caller=OPEN)
        return threading.get_ident()

    loop_thread = asyncio.run(take())
    # ...the episode's consent was read, and not in the event loop's thread.
    assert seen and loop_thread not in seen


def test_an_episodes_no_to_information_transfer_refuses_a_later_note(journal: Journal) -> None:
    intake = Intake(journal, hasher=PatientHasher(b"key"))
    no = _variant("0b7e3c52-1a4f-4f7e-9a55-3f2d4c1b0a02", consent=b'<Consent informationTransfer="false"/>', note=False)
    asyncio.run(intake.take(no, "application/xml", caller=OPEN))

    with pytest.raises(ConsentNotGiven) as refused:
        asyncio.run(intake.take(_variant("0b7e3c52-1a4f-4f7e-9a55-3f2d4c1b0a03", consent=b""), "application/xml", caller=OPEN))

    assert refused.value.path == "/Message/Body/Note"
    assert journal.counts() == {"accepted": 1}
