"""The relay's errors, and the one place httpx's failures become them.

    RelayError (SamverkanError)     SAMV-4000 the server (FHIR, token endpoint, outbound) did not take what we sent
    ├── Retryable                   SAMV-4001 network error, timeout, 408, 425, 429, 5xx: it may pass
    │   │                                     (``status``, ``retry_after``, ``overload``)
    │   └── TokenRefused            SAMV-4004 the token endpoint refused our client credentials
    └── Final                       SAMV-4100 another 4xx: retrying cannot help; carries the server's
                                              OperationOutcome

Which status is which is decided in one place, ``adapter.fhir.retry.classify``. Every httpx
failure is mapped in :func:`mapped_errors`, so callers see only these. A certificate the CA
bundle does not vouch for is a Retryable that says so.

This module imports nothing of the FHIR client or its auth, so both can import it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from mappings.errors import SamverkanError

__all__ = ["Final", "RelayError", "Retryable", "TokenRefused", "mapped_errors", "timeouts"]


class RelayError(SamverkanError):
    """The FHIR server did not take what we sent."""

    code = "SAMV-4000"
    issue_type = "transient"
    http_status = 502


class Retryable(RelayError):
    """A failure that may pass: network, timeout, 408, 425, 429, 5xx.

    ``overload``: the server is busy (a timeout, 429, 503), not broken: send it less, not just later.
    """

    code = "SAMV-4001"

    def __init__(self, detail: str, *, status: int | None = None, retry_after: float | None = None, overload: bool = False):
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after
        self.overload = overload


class TokenRefused(Retryable):
    """The token endpoint refused the adapter's client credentials: a configuration error.

    Retryable on purpose, not Final: every message would fail the same way, and an operator who
    fixes the secret should see them delivered at their next attempt rather than replay them all.
    The attempts and time cap still dead-letter what waits too long. Never retried within one
    process (``adapter.fhir.retry.retries``): a secret is not fixed in seconds.
    """

    code = "SAMV-4004"
    issue_type = "security"


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
