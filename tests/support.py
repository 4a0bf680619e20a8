"""Helpers shared by the tests: fixture paths and messages with identifiers unique to a test."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapter import codec
from mappings.identifiers import luhn_ok
from mappings.model import CareEpisode, Message

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
MESSAGES = sorted((FIXTURES / "messages").glob("*.*"))
BAD = FIXTURES / "bad"
BAD_EXPECTED: dict[str, dict[str, Any]] = json.loads((BAD / "expected.json").read_text())


def content_type(path: Path) -> str:
    return "application/json" if path.suffix == ".json" else "application/xml"


def load(path: Path) -> Message:
    return codec.decode(path.read_bytes(), content_type(path))


def personnummer(rng: random.Random) -> str:
    """A valid personnummer of someone born 1930-2005, not one of a real fixture."""
    while True:
        body = f"{rng.randint(1930, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        for check in range(10):
            if luhn_ok(body[2:] + str(check)):
                return body + str(check)


def unique(message: Message, rng: random.Random | None = None) -> Message:
    """``message`` with a new message id, episode id and patient, so tests do not share data."""
    rng = rng or random.Random()
    episode = message.care_episode
    if episode is not None:
        episode = replace(episode, id=f"VT-TEST-{uuid.uuid4().hex[:12]}")
    patient = replace(message.patient, id_value=personnummer(rng))
    return replace(message, id=str(uuid.uuid4()), patient=patient, care_episode=episode)


__all__ = ["BAD", "BAD_EXPECTED", "FIXTURES", "MESSAGES", "ROOT", "CareEpisode", "content_type", "load", "personnummer", "unique"]
