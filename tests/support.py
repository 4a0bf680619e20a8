"""Helpers shared by the tests: fixture paths and messages with identifiers unique to a test."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapter import codec
from mappings.identifiers import luhn_ok
from mappings.model import CareEpisode, Message, PatientIdKind

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MESSAGES = sorted((FIXTURES / "messages").glob("*.*"))
#: The example of DOMAIN.md.
INSKRIVNING = FIXTURES / "messages" / "Inskrivningsmeddelande-01.xml"
JOURNEYS: list[Path] = (
    sorted(p for p in (FIXTURES / "journeys").iterdir() if p.is_dir()) if (FIXTURES / "journeys").is_dir() else []
)
#: Every valid document: one per type and the journeys, XML and JSON.
ALL_DOCUMENTS = MESSAGES + sorted(p for j in JOURNEYS for p in j.iterdir() if p.suffix in (".xml", ".json"))
BAD = FIXTURES / "bad"
BAD_EXPECTED: dict[str, dict[str, Any]] = json.loads((BAD / "expected.json").read_text())


def content_type(path: Path) -> str:
    return "application/json" if path.suffix == ".json" else "application/xml"


def load(path: Path) -> Message:
    return codec.decode(path.read_bytes(), content_type(path))


def personnummer(rng: random.Random, *, samordning: bool = False) -> str:
    """A valid personnummer (or samordningsnummer) of someone born 1930-2005, not a fixture's."""
    while True:
        day = rng.randint(1, 28) + (60 if samordning else 0)
        body = f"{rng.randint(1930, 2005)}{rng.randint(1, 12):02d}{day:02d}{rng.randint(0, 999):03d}"
        for check in range(10):
            if luhn_ok(body[2:] + str(check)):
                return body + str(check)


class Renamer:
    """Gives messages identifiers of their own for one test, the same new id for the same old one.

    Message ids (also where a Kvittens acknowledges one), episode, referral and SIP ids, and the
    patient's number are replaced, so tests do not share data on the server and a journey keeps
    its links.
    """

    def __init__(self, rng: random.Random | None = None):
        self.rng = rng or random.Random()
        self.names: dict[str, str] = {}

    def _new(self, old: str, make: Callable[[], str]) -> str:
        if old not in self.names:
            self.names[old] = make()
        return self.names[old]

    def __call__(self, message: Message) -> Message:
        tag = lambda prefix: lambda: f"{prefix}-TEST-{uuid.uuid4().hex[:12]}"  # noqa: E731
        body = message.body
        if body.acknowledges is not None:
            body = replace(body, acknowledges=self._new(body.acknowledges, lambda: str(uuid.uuid4())))
        if body.referral is not None:
            body = replace(body, referral=replace(body.referral, id=self._new("REM:" + body.referral.id, tag("REM"))))
        if body.plan is not None:
            body = replace(body, plan=replace(body.plan, id=self._new("SIP:" + body.plan.id, tag("SIP"))))
        episode = message.care_episode
        if episode is not None:
            episode = replace(episode, id=self._new("VT:" + episode.id, tag("VT")))
        patient = message.patient
        if patient.id_kind is PatientIdKind.RESERVNUMMER:
            patient = replace(patient, id_value=self._new(patient.id_value, tag("RES")))
        else:
            samordning = patient.id_kind is PatientIdKind.SAMORDNINGSNUMMER
            patient = replace(
                patient, id_value=self._new(patient.id_value, lambda: personnummer(self.rng, samordning=samordning))
            )
        return replace(
            message, id=self._new(message.id, lambda: str(uuid.uuid4())), patient=patient, care_episode=episode, body=body
        )


def unique(message: Message, rng: random.Random | None = None) -> Message:
    """``message`` with identifiers of its own (see :class:`Renamer`)."""
    return Renamer(rng)(message)


__all__ = [
    "ALL_DOCUMENTS",
    "BAD",
    "BAD_EXPECTED",
    "FIXTURES",
    "INSKRIVNING",
    "JOURNEYS",
    "MESSAGES",
    "ROOT",
    "CareEpisode",
    "Renamer",
    "content_type",
    "load",
    "personnummer",
    "unique",
]
