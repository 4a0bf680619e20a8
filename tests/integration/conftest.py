from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mappings.bundle import conditional_query


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

    def read(self, ref: str) -> dict[str, Any]:
        response = self.http.get(f"/{ref}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture(scope="session")
def hapi(fhir_base_url: str) -> Iterator[Hapi]:
    reader = Hapi(fhir_base_url)
    yield reader
    reader.http.close()
