"""The FHIR client: a few verbs over httpx, with foreign errors stopped at the boundary.

Its errors are ``adapter.fhir.errors``' (RelayError: Retryable, TokenRefused, Final): every
httpx failure is mapped by :func:`mapped_errors`, and what a status means is decided by
``adapter.fhir.retry.classify``, as for every other caller. OAuth2 and TLS settings are applied by
:meth:`FhirClient.from_settings` (see ``adapter.fhir.auth``). Searches send
``Cache-Control: no-cache``: HAPI caches identical searches for 60 s, and a read-after-write check
must see the write.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from adapter.observability.correlation import send_correlation_id
from mappings.fhir import FHIR_JSON

from .auth import client_credentials, tls_context
from .errors import Final, Retryable, mapped_errors, timeouts
from .retry import classify

if TYPE_CHECKING:
    from adapter.config import Settings

# The errors are re-exported: callers of the client import them from here or from adapter.fhir.
__all__ = ["EntryResult", "FhirClient", "TransactionResult"]


def _raise_for(response: httpx.Response) -> None:
    """Nothing for a success; else the error :func:`classify` decides, with the server's OperationOutcome."""
    decision = classify(response.status_code, response.headers)
    if decision.success:
        return
    status = response.status_code
    if decision.retryable:
        raise Retryable(
            f"the FHIR server answered {status}", status=status, retry_after=decision.retry_after, overload=decision.overload
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    outcome = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    raise Final(f"the FHIR server refused the request with {status}", status=status, outcome=outcome)


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What the server did with one entry: ``201 Created`` at ``Patient/12/_history/1``."""

    resource_type: str
    status: str
    location: str | None
    #: The resource as the server now holds it, when asked for (``Prefer: return=representation``).
    resource: dict[str, Any] | None = None

    @property
    def created(self) -> bool:
        return self.status.startswith("201")

    @property
    def id(self) -> str | None:
        """``Type/id`` of the resource on the server."""
        if not self.location:
            return None
        parts = self.location.split("/_history/")[0].rstrip("/").split("/")
        return "/".join(parts[-2:])


@dataclass(frozen=True, slots=True)
class TransactionResult:
    status: int
    entries: tuple[EntryResult, ...]


class FhirClient:
    """An async client of one FHIR R4 server.

    async with FhirClient("http://127.0.0.1:8080/fhir") as fhir:
        result = await fhir.transaction(bundle)
    async with FhirClient.from_settings(settings) as fhir:   # with its token and CA bundle
        ...

    ``auth`` is an ``httpx.Auth`` (``adapter.fhir.auth.ClientCredentials``); ``verify`` what the
    server's certificate is checked against (an ``ssl.SSLContext``, or True for httpx's CAs).
    """

    user_agent: ClassVar[str] = "samverkan-adapter"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        verify: ssl.SSLContext | bool = True,
    ):
        self.base_url = base_url.rstrip("/")
        #: Kept for the adapter's other clients (the alert hook), which trust the same CAs.
        self.verify = verify
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else timeouts(timeout),
            transport=transport,
            auth=auth,
            verify=verify,
            headers={"Accept": FHIR_JSON, "User-Agent": self.user_agent},
            event_hooks={"request": [send_correlation_id]},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> FhirClient:
        """The client of ``settings.fhir_base_url`` with its timeouts, CA bundle and client credentials.

        Raises ValueError for a CA bundle that cannot be read or half a set of credentials.
        """
        verify, auth = cls.security(settings)
        return cls(settings.fhir_base_url, timeout=settings.fhir_timeout, auth=auth, verify=verify)

    @staticmethod
    def security(settings: Settings) -> tuple[ssl.SSLContext | bool, httpx.Auth | None]:
        """The CAs and the client credentials ``settings`` ask for; ValueError if they cannot work.
        Nothing is opened: ``create_app`` calls it to refuse such settings before serving."""
        verify = tls_context(settings.fhir_ca_bundle)
        return verify, client_credentials(settings, verify=verify)

    async def __aenter__(self) -> FhirClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def transaction(self, bundle: Mapping[str, Any], *, representation: bool = False) -> TransactionResult:
        """Posts a transaction Bundle to the base URL (not to /Bundle, which would store it).

        ``representation`` asks for each resource as stored (references resolved, new version).
        """
        headers = {"Content-Type": FHIR_JSON}
        if representation:
            headers["Prefer"] = "return=representation"
        with mapped_errors(self.base_url):
            response = await self._http.post("", json=bundle, headers=headers)
        _raise_for(response)
        body = response.json()
        entries = []
        for sent, got in zip(bundle.get("entry", ()), body.get("entry", ()), strict=False):
            answer = got.get("response", {})
            kept = got.get("resource") if representation else None
            entries.append(EntryResult(sent["resource"]["resourceType"], answer.get("status", ""), answer.get("location"), kept))
        return TransactionResult(response.status_code, tuple(entries))

    async def search(self, resource_type: str, params: Mapping[str, str | list[str]]) -> dict[str, Any]:
        """A searchset Bundle, never from HAPI's search cache."""
        with mapped_errors(self.base_url):
            response = await self._http.get(f"/{resource_type}", params=params, headers={"Cache-Control": "no-cache"})
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    async def search_all(self, resource_type: str, params: Mapping[str, str | list[str]]) -> AsyncIterator[dict[str, Any]]:
        """Every matching resource, page after page (the server's ``next`` links)."""
        page = await self.search(resource_type, params)
        while True:
            for entry in page.get("entry", ()):
                if entry.get("search", {}).get("mode", "match") == "match":
                    yield entry["resource"]
            following = next((link["url"] for link in page.get("link", ()) if link.get("relation") == "next"), None)
            if following is None:
                return
            with mapped_errors(self.base_url):
                response = await self._http.get(following, headers={"Cache-Control": "no-cache"})
            _raise_for(response)
            page = response.json()

    async def find_one(self, resource_type: str, system: str, value: str) -> dict[str, Any] | None:
        """The one resource with business identifier ``system|value``, or None.

        Several is a data error on the server that retrying cannot fix (:class:`Final`, 412).
        """
        found = await self.search(resource_type, {"identifier": f"{system}|{value}", "_count": "2"})
        matches = [e["resource"] for e in found.get("entry", ()) if e.get("search", {}).get("mode", "match") == "match"]
        if len(matches) > 1:
            raise Final(f"several {resource_type} resources have the same business identifier", status=412)
        return matches[0] if matches else None

    async def put(self, resource: Mapping[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        """Creates or replaces ``resource`` at ``Type/id``; with ``if_match`` (a versionId) only that version."""
        headers = {"Content-Type": FHIR_JSON}
        if if_match is not None:
            headers["If-Match"] = f'W/"{if_match}"'
        with mapped_errors(self.base_url):
            response = await self._http.put(f"/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers)
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    async def operation(self, path: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Posts ``parameters`` (a Parameters or a resource) to an operation such as ``StructureDefinition/$snapshot``."""
        with mapped_errors(self.base_url):
            response = await self._http.post(f"/{path}", json=parameters, headers={"Content-Type": FHIR_JSON})
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    async def validate(self, resource: Mapping[str, Any], profile: str | None = None) -> dict[str, Any]:
        """The server's ``$validate`` of ``resource`` (against ``profile``, else what it declares): an OperationOutcome.

        An invalid resource is an answer, not an error: HAPI says so with 200 or 412 and the outcome.
        """
        params = {"profile": profile} if profile else None
        with mapped_errors(self.base_url):
            response = await self._http.post(
                f"/{resource['resourceType']}/$validate", json=resource, params=params, headers={"Content-Type": FHIR_JSON}
            )
        if response.status_code in (400, 412, 422):
            body = response.json()
            if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
                return body
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    async def capabilities(self, *, elements: tuple[str, ...] = ()) -> dict[str, Any]:
        """The CapabilityStatement; ``elements`` asks for those only (HAPI's whole one is 1.5 MB)."""
        params = {"_elements": ",".join(elements)} if elements else None
        with mapped_errors(self.base_url):
            response = await self._http.get("/metadata", params=params)
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result
