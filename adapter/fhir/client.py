"""The FHIR client: a few verbs over httpx, with foreign errors stopped at the boundary.

    RelayError (SamverkanError)     4xxx: the FHIR server did not take what we sent
    ├── Retryable                   4001 network error or timeout, 4002 5xx, 4003 429 (retry_after)
    │   └── TokenRefused            4004 the token endpoint refused our client credentials (fhir_auth)
    └── Final                       4100 a 4xx: retrying cannot help; carries the server's
                                    OperationOutcome

Every httpx failure is mapped in one place, :func:`mapped_errors`, so callers see only these.
A certificate the CA bundle does not vouch for is a Retryable that says so. OAuth2 and TLS
settings are applied by :meth:`FhirClient.from_settings` (see ``adapter.fhir.auth``).
Searches send ``Cache-Control: no-cache``: HAPI caches identical searches for 60 s, and a
read-after-write check must see the write.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from adapter.observability.correlation import send_correlation_id
from mappings.errors import SamverkanError

if TYPE_CHECKING:
    from adapter.config import Settings

__all__ = [
    "EntryResult",
    "FhirClient",
    "Final",
    "RelayError",
    "Retryable",
    "TransactionResult",
    "mapped_errors",
    "timeouts",
]

_FHIR_JSON = "application/fhir+json"


class RelayError(SamverkanError):
    """The FHIR server did not take what we sent."""

    code = "SAMV-4000"
    issue_type = "transient"
    http_status = 502


class Retryable(RelayError):
    """A failure that may pass: network, timeout, 5xx, 429."""

    code = "SAMV-4001"

    def __init__(self, detail: str, *, status: int | None = None, retry_after: float | None = None, overload: bool = False):
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after
        # The server is busy (timeout, 429, 503), not broken: send it less, not just later.
        self.overload = overload or status in (429, 503)


class Final(RelayError):
    """The server refused the request (4xx); its OperationOutcome is attached."""

    code = "SAMV-4100"
    issue_type = "processing"

    def __init__(self, detail: str, *, status: int, outcome: Mapping[str, Any] | None = None):
        super().__init__(detail)
        self.status = status
        self.outcome = outcome


def timeouts(seconds: float) -> httpx.Timeout:
    """Every phase of a request bounded: connecting at most 10 s (a host that is down should fail
    fast), reading, writing and waiting for a pooled connection ``seconds`` each."""
    return httpx.Timeout(connect=min(seconds, 10.0), read=seconds, write=seconds, pool=seconds)


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind an httpx error (httpx and httpcore chain it with ``from``), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def mapped_errors(base_url: str, *, what: str = "the FHIR server") -> Iterator[None]:
    """Turns httpx's exceptions into :class:`Retryable` (the only ones it can raise for I/O)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Retryable(f"{what} at {base_url} did not answer in time ({type(exc).__name__})", overload=True) from exc
    except httpx.TransportError as exc:
        tls = _tls_failure(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            # Retryable: the certificate or SAMVERKAN_FHIR_CA_BUNDLE may be fixed without a replay.
            raise Retryable(
                f"{what} at {base_url} could not be reached: its TLS certificate was not trusted ({tls.verify_message});"
                " SAMVERKAN_FHIR_CA_BUNDLE names the CAs it is checked against"
            ) from exc
        if tls is not None:
            raise Retryable(f"{what} at {base_url} could not be reached: TLS failed ({tls.reason})") from exc
        raise Retryable(f"{what} at {base_url} could not be reached ({type(exc).__name__})") from exc


def _retry_after(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date; the retry policy's own backoff applies


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    outcome = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    if status == 429 or status >= 500:
        raise Retryable(
            f"the FHIR server answered {status}", status=status, retry_after=_retry_after(response.headers.get("Retry-After"))
        )
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
            headers={"Accept": _FHIR_JSON, "User-Agent": self.user_agent},
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
        # Imported here: fhir_auth raises this module's errors, so it imports this module.
        from .auth import client_credentials, tls_context

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
        headers = {"Content-Type": _FHIR_JSON}
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
        headers = {"Content-Type": _FHIR_JSON}
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
            response = await self._http.post(f"/{path}", json=parameters, headers={"Content-Type": _FHIR_JSON})
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
                f"/{resource['resourceType']}/$validate", json=resource, params=params, headers={"Content-Type": _FHIR_JSON}
            )
        if response.status_code in (400, 412, 422):
            body = response.json()
            if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
                return body
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result

    async def capabilities(self) -> dict[str, Any]:
        with mapped_errors(self.base_url):
            response = await self._http.get("/metadata")
        _raise_for(response)
        result: dict[str, Any] = response.json()
        return result
