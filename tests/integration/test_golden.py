"""Golden FHIR: for every message type, what a reviewer expects the real HAPI to hold after a relay.

Each ``tests/golden/<Type>.json`` was written by hand from docs/domain.md, docs/mapping.md,
docs/operations.md (acknowledgement Tasks) and the fixture it names, not produced by the code:
the read-back tests compare with the project's own inverse mapping (``from_fhir``), which passes
a mistake made the same way in both directions; these do not.

A golden file names its fixture, the fixtures relayed before it with the same identifiers
(``before``: a RemissSvar answers a Remiss), and the resources expected on the server, each
found by its first identifier. A reference is written as the conditional reference
``Type?identifier=system|value`` and stands for the server's ``Type/id`` of that resource. The
comparison is a subset: every expected element is there with that value (in a list, each
expected item matches an item of its own); ``null`` means the element is absent, and a list item
``{"$absent": true, ...}`` means no item matches the rest of it. Volatile elements (``id``,
``meta``, ``fullUrl``, ``lastUpdated``, ``versionId``) are stripped by name before comparing.

Every fixture is relayed once, all in one go, with identifiers of its own (``Renamer``): the
golden files carry the fixtures' identifiers and are read with the new ones put in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir import FhirClient
from adapter.relay import relay_message
from mappings.model import MessageType
from tests.support import FIXTURES, ROOT, Renamer, load

from .conftest import Hapi

GOLDEN = ROOT / "tests" / "golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))
#: Stripped from what HAPI stores before comparing, wherever they stand.
VOLATILE = frozenset({"id", "meta", "fullUrl", "lastUpdated", "versionId"})


def test_there_is_a_golden_file_for_every_message_type() -> None:
    assert sorted(p.stem for p in GOLDEN_FILES) == sorted(t.value for t in MessageType)
    for path in GOLDEN_FILES:
        golden = json.loads(path.read_text())
        assert load(FIXTURES / "messages" / golden["fixture"]).type.value == path.stem, path.name
        assert not _volatile_in(golden["expected"]), f"{path.name} expects a volatile element"


def _volatile_in(node: Any) -> bool:
    if isinstance(node, dict):
        return any(k in VOLATILE or _volatile_in(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_volatile_in(v) for v in node)
    return False


def _renamed(text: str, renamer: Renamer) -> str:
    """``text`` with each identifier the renamer replaced (message, episode, referral, SIP, patient) replaced."""
    for old, new in renamer.names.items():
        kind, colon, value = old.partition(":")  # episode, referral and SIP ids are kept as VT:…, REM:…, SIP:…
        text = text.replace(value if colon and kind in ("VT", "REM", "SIP") else old, new)
    return text


@pytest.fixture(scope="module")
def relayed(fhir_base_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every golden file's expectations, by type, once its messages are on HAPI: all relayed in one
    go, then read with the identifiers they were relayed under."""
    plans = []
    for path in GOLDEN_FILES:
        golden = json.loads(path.read_text())
        renamer = Renamer()
        messages = [renamer(load(FIXTURES / "messages" / name)) for name in [*golden["before"], golden["fixture"]]]
        plans.append((path.stem, renamer, messages, golden))

    async def relay_all() -> None:
        # One after the other: the files share units, and HAPI refuses the loser of two identical
        # conditional creates at once (409), which the relay leaves to the worker to retry.
        async with FhirClient(fhir_base_url) as fhir:
            for _, _, messages, _ in plans:
                for message in messages:
                    await relay_message(message, fhir, recorded=datetime.now(UTC))

    asyncio.run(relay_all())
    return {stem: json.loads(_renamed(json.dumps(golden["expected"]), renamer)) for stem, renamer, _, golden in plans}


class Server:
    """What HAPI holds, found by business identifier; references resolved once each."""

    def __init__(self, hapi: Hapi):
        self.hapi = hapi
        self.ids: dict[str, str] = {}

    def find(self, resource_type: str, identifier: dict[str, str]) -> list[dict[str, Any]]:
        found = self.hapi.search(resource_type, {"identifier": f"{identifier['system']}|{identifier['value']}"})
        return [e["resource"] for e in found.get("entry", ()) if e.get("search", {}).get("mode", "match") == "match"]

    def reference(self, conditional: str) -> str:
        """``Type?identifier=system|value`` as the ``Type/id`` of the one resource it names."""
        if conditional not in self.ids:
            resource_type, _, query = conditional.partition("?identifier=")
            system, _, value = query.rpartition("|")
            found = self.find(resource_type, {"system": system, "value": value})
            assert len(found) == 1, f"{conditional} names {len(found)} resources on the server"
            self.ids[conditional] = f"{resource_type}/{found[0]['id']}"
        return self.ids[conditional]

    def resolved(self, node: Any) -> Any:
        """``node`` with every conditional reference replaced by the server's ``Type/id``."""
        if isinstance(node, dict):
            return {
                k: self.reference(v) if k == "reference" and isinstance(v, str) and "?identifier=" in v else self.resolved(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [self.resolved(v) for v in node]
        return node


def _stripped(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _stripped(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [_stripped(v) for v in node]
    return node


def _differences(expected: Any, actual: Any, where: str) -> Iterator[str]:
    """Where ``actual`` does not hold ``expected`` (a subset comparison; see the module's docstring)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            yield f"{where}: expected an object, found {json.dumps(actual, ensure_ascii=False)}"
            return
        for key, value in expected.items():
            if value is None:
                if key in actual:
                    yield f"{where}.{key}: expected absent, found {json.dumps(actual[key], ensure_ascii=False)}"
            elif key not in actual:
                yield f"{where}.{key}: missing (expected {json.dumps(value, ensure_ascii=False)})"
            else:
                yield from _differences(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            yield f"{where}: expected a list, found {json.dumps(actual, ensure_ascii=False)}"
            return
        free = list(range(len(actual)))
        for n, item in enumerate(expected):
            if isinstance(item, dict) and item.get("$absent"):
                pattern = {k: v for k, v in item.items() if k != "$absent"}
                if any(not list(_differences(pattern, actual[i], "")) for i in range(len(actual))):
                    yield f"{where}: expected no item like {json.dumps(pattern, ensure_ascii=False)}"
                continue
            match = next((i for i in free if not list(_differences(item, actual[i], ""))), None)
            if match is None:
                yield (
                    f"{where}[{n}]: no item matches {json.dumps(item, ensure_ascii=False)};"
                    f" found {json.dumps(actual, ensure_ascii=False)}"
                )
            else:
                free.remove(match)
    elif expected != actual:
        yield f"{where}: expected {json.dumps(expected, ensure_ascii=False)}, found {json.dumps(actual, ensure_ascii=False)}"


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_hapi_holds_what_a_reviewer_expects(path: Path, relayed: dict[str, list[dict[str, Any]]], hapi: Hapi) -> None:
    server = Server(hapi)
    problems: list[str] = []
    for expected in relayed[path.stem]:
        resource_type, identifier = expected["resourceType"], expected["identifier"][0]
        name = f"{resource_type}?identifier={identifier['system']}|{identifier['value']}"
        found = server.find(resource_type, identifier)
        if expected.get("$absent"):
            if found:
                problems.append(f"{name}: expected none on the server, found {len(found)}")
            continue
        if len(found) != 1:
            problems.append(f"{name}: {len(found)} on the server, expected one")
            continue
        problems += _differences(server.resolved(expected), _stripped(found[0]), name)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
