from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapter.fhir import FhirClient, profiles
from mappings import identifiers as ids
from mappings.bundle import conditional_query


def _references(node: Any) -> Iterator[str]:
    """Every server reference (``Type/id``) inside a resource; contained (``#x``) ones are not."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and not value.startswith("#"):
                yield value.split("/_history/")[0]
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


class Hapi:
    """Reads the test server the way a user checking our work would: by business identifier."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, timeout=60, headers={"Accept": "application/fhir+json", "Cache-Control": "no-cache"}
        )

    def search(self, resource_type: str, params: dict[str, Any] | str) -> dict[str, Any]:
        response = self.http.get(f"/{resource_type}", params=params)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def count(self, resource_type: str, system: str, value: str) -> int:
        query = conditional_query(system, value) + "&_total=accurate&_summary=count"
        total: int = self.search(resource_type, query)["total"]
        return total

    def message(self, message_id: str) -> dict[str, Any]:
        """The Communication of a message and everything it refers to, transitively, as a Bundle.

        This is how a vendor would gather a message from the server: find the Communication by
        its identifier, then read what it points to (``about`` has no search parameter in R4, so
        ``_include`` cannot do it all).
        """
        found = self.search("Communication", conditional_query(ids.SYS_MESSAGE_ID, message_id))
        todo = [e["resource"] for e in found.get("entry", ())]
        seen: dict[str, dict[str, Any]] = {}
        while todo:
            res = todo.pop()
            key = f"{res['resourceType']}/{res['id']}"
            if key in seen:
                continue
            seen[key] = res
            todo.extend(self.read(ref) for ref in _references(res) if ref not in seen)
        return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in seen.values()]}

    def read(self, ref: str) -> dict[str, Any]:
        response = self.http.get(f"/{ref}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture(scope="session", autouse=True)
def installed_profiles(fhir_base_url: str) -> dict[str, int]:
    """Our package on the test server, installed once per session as a user would: by the CLI's code."""

    async def go() -> dict[str, int]:
        async with FhirClient(fhir_base_url) as fhir:
            return (await profiles.install(fhir)).counts

    return asyncio.run(go())


@pytest.fixture(scope="session")
def hapi(fhir_base_url: str) -> Iterator[Hapi]:
    reader = Hapi(fhir_base_url)
    yield reader
    reader.http.close()
