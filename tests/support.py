"""Helpers shared by the tests: fixture paths and messages with identifiers unique to a test."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adapter import codec
from adapter.config import Settings
from mappings.identifiers import luhn_ok
from mappings.model import CareEpisode, Message, PatientIdKind

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MESSAGES = sorted((FIXTURES / "messages").glob("*.*"))
#: The example of docs/domain.md.
INSKRIVNING = FIXTURES / "messages" / "Inskrivningsmeddelande-01.xml"
JOURNEYS: list[Path] = (
    sorted(p for p in (FIXTURES / "journeys").iterdir() if p.is_dir()) if (FIXTURES / "journeys").is_dir() else []
)
#: Every valid document: one per type and the journeys, XML and JSON.
ALL_DOCUMENTS = MESSAGES + sorted(p for j in JOURNEYS for p in j.iterdir() if p.suffix in (".xml", ".json"))
BAD = FIXTURES / "bad"
BAD_EXPECTED: dict[str, dict[str, Any]] = json.loads((BAD / "expected.json").read_text())
#: The FHIR door's half of the corpus (fixtures/bad/README.md).
BAD_FHIR = BAD / "fhir"
BAD_FHIR_EXPECTED: dict[str, dict[str, Any]] = json.loads((BAD_FHIR / "expected.json").read_text())
#: The requests whose hostile part is not a document: headers, paths, query and body parameters.
BAD_REQUESTS: dict[str, dict[str, Any]] = json.loads((BAD / "requests" / "expected.json").read_text())


def content_type(path: Path) -> str:
    return "application/json" if path.suffix == ".json" else "application/xml"


@dataclass(frozen=True)
class BadInput:
    """One input of the hostile corpus, as its manifest says to send it, and the refusal it gets."""

    name: str
    body: bytes
    endpoint: str
    content_type: str | None  # None: no Content-Type header at all
    headers: dict[str, str]  # the others, e.g. Content-Encoding
    chunked: bool  # sent without Content-Length
    status: int
    code: str
    location: str

    def request_headers(self) -> dict[str, str]:
        return {**self.headers, **({"Content-Type": self.content_type} if self.content_type is not None else {})}

    def content(self) -> bytes | Iterator[bytes]:
        """The body as the client should send it: whole, or in chunks of 64 KiB."""
        if not self.chunked:
            return self.body
        return (self.body[i : i + 65536] for i in range(0, len(self.body), 65536))


def bad_input(name: str, *, fhir: bool = False) -> BadInput:
    """The entry ``name`` of fixtures/bad/expected.json (``fhir``: fixtures/bad/fhir/expected.json)."""
    folder, entry = (BAD_FHIR, BAD_FHIR_EXPECTED[name]) if fhir else (BAD, BAD_EXPECTED[name])
    if "generate" in entry:
        g = entry["generate"]
        body = (g["head"] + g["repeat"] * g["times"] + g["tail"]).encode()
    else:
        body = (folder / name).read_bytes()
    by_suffix = {".json": "application/json", ".xml": "application/xml"}
    if fhir:
        by_suffix = {".json": "application/fhir+json", ".xml": "application/fhir+xml"}
    return BadInput(
        name=name,
        body=body,
        endpoint=entry.get("endpoint", "/fhir" if fhir else "/messages"),
        content_type=entry["content_type"] if "content_type" in entry else by_suffix.get(Path(name).suffix),
        headers=entry.get("headers", {}),
        chunked=entry.get("chunked", False),
        status=entry["status"],
        code=entry["code"],
        location=entry["location"],
    )


@dataclass(frozen=True)
class BadRequest:
    """One request of fixtures/bad/requests/expected.json, as it is to be sent, and the answer it gets."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    json: Any  # the JSON body, or None for none
    status: int
    expression: str | None  # the parameter the OperationOutcome names
    absent: list[str]  # what the answer (body and headers) must not hold


def bad_request(name: str) -> BadRequest:
    """The entry ``name`` of fixtures/bad/requests/expected.json, its generated headers made."""
    entry = BAD_REQUESTS[name]
    headers = dict(entry.get("headers", {}))
    if "header" in entry:  # one header of a generated value
        g = entry["header"]
        headers[g["name"]] = g["repeat"] * g["times"]
    if "numbered_headers" in entry:  # many headers, numbered
        g = entry["numbered_headers"]
        headers.update({f"{g['prefix']}{i}": g["value"] for i in range(g["times"])})
    return BadRequest(
        name=name,
        method=entry["method"],
        path=entry["path"],
        headers=headers,
        json=entry.get("json"),
        status=entry["status"],
        expression=entry.get("expression"),
        absent=entry.get("absent", []),
    )


_CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]{64})">')


def csrf_token(client: Any) -> str:
    """The CSRF token (adapter/http/csrf.py) a console page of the client's session carries: what
    a browser sends back with each change it asks for."""
    found = _CSRF_META.search(client.get("/ui").text)
    assert found, "the console's page carries no CSRF token"
    return found.group(1)


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


def offline_settings(journal: Path, **given: Any) -> Settings:
    """An app that accepts and relays nothing: a SQLite journal at ``journal``, no relay worker or
    overdue scheduler, senders' authentication off, and nothing listening at the FHIR URL (the
    watcher finds it unreachable). ``given`` overrides any of it."""
    base: dict[str, Any] = {
        "journal_path": str(journal),
        "secrets_file": str(journal.with_name(journal.name + ".keys.json")),
        "journal_url": None,
        "relay_parallel": 0,
        "overdue_interval": 0,
        "inbound_auth": "off",
        "fhir_base_url": "http://127.0.0.1:9/fhir",
    }
    return Settings(**{**base, **given})


def unique(message: Message, rng: random.Random | None = None) -> Message:
    """``message`` with identifiers of its own (see :class:`Renamer`)."""
    return Renamer(rng)(message)


__all__ = [
    "ALL_DOCUMENTS",
    "BAD",
    "BAD_EXPECTED",
    "BAD_FHIR",
    "BAD_FHIR_EXPECTED",
    "BAD_REQUESTS",
    "FIXTURES",
    "INSKRIVNING",
    "JOURNEYS",
    "MESSAGES",
    "ROOT",
    "BadInput",
    "BadRequest",
    "CareEpisode",
    "Renamer",
    "bad_input",
    "bad_request",
    "content_type",
    "csrf_token",
    "load",
    "offline_settings",
    "personnummer",
    "unique",
]
