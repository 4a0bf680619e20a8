"""What an HTTP answer means for trying again, decided once for every caller.

    classify(status, headers) -> Decision        success, retryable or final; overload; Retry-After
    compute_backoff(attempt, base=, cap=, rng=)  exponential, capped, jittered; pure
    next_delay(policy, attempt, retry_after)     the wait before a durable retry (relay, outbound)
    retrying(policy)                             tenacity's retries of one call inside this process

The rule, for the FHIR client, the token fetch and the outbound HTTP channel alike:

    2xx                                 success
    network error, timeout              retryable (``adapter.fhir.errors.mapped_errors``)
    408, 425, 429, every 5xx            retryable; 429, 503 and timeouts also signal overload
    any other 4xx (400, 401, 409, ...)  final
    anything else (1xx, 3xx)            retryable: an answer not understood is retried, capped, never lost

409 is final here: for a plain request it is a version conflict, and the same request sent again
meets the same conflict. The relay knows more: HAPI also answers 409 to the loser of two identical
conditional creates at once, so ``adapter.relay.message.relay_message`` reads the server again,
rebuilds its bundle, and, if the 409 stays, raises it as Retryable (docs/architecture.md, "What HAPI does": "treat the
loser of a race as retryable").

Retry-After is read in both of its forms (delta-seconds, an HTTP-date), never negative; what
cannot be read is None and the backoff alone applies.

This module lives in ``adapter.fhir``, the lowest package that all three callers may import
(``adapter.fhir.client``, ``adapter.fhir.auth``, ``adapter.relay.outbound``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from tenacity import AsyncRetrying, RetryCallState

from adapter.config import RetryPolicy
from adapter.observability import redact

from .errors import Retryable, TokenRefused

__all__ = [
    "IN_PROCESS_ATTEMPTS",
    "IN_PROCESS_CAP",
    "Decision",
    "classify",
    "compute_backoff",
    "next_delay",
    "parse_retry_after",
    "retries",
    "retrying",
]

log = logging.getLogger("adapter.fhir.retry")

#: Attempts of one call retried inside a process (a command, a token fetch within a request):
#: someone waits for it, so few; the journal's durable retries are the patient ones.
IN_PROCESS_ATTEMPTS = 3
#: The longest wait between them, and the longest Retry-After waited for in-process: a server
#: that asks for more gets the error at once (with its ``retry_after``) instead of a hung caller.
IN_PROCESS_CAP = 10.0

_RETRYABLE = frozenset({408, 425, 429})
_OVERLOAD = frozenset({429, 503})
_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")  # ASCII digits (RFC 9110); a fraction is forgiven

Verdict = Literal["success", "retryable", "final"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What one HTTP answer means for trying again.

    >>> classify(503, {"Retry-After": "120"})
    Decision(status=503, verdict='retryable', overload=True, retry_after=120.0)
    """

    status: int
    verdict: Verdict
    #: The server is busy rather than broken: send it less, not just later.
    overload: bool
    #: Seconds the server asked us to wait (Retry-After), or None.
    retry_after: float | None

    @property
    def success(self) -> bool:
        return self.verdict == "success"

    @property
    def retryable(self) -> bool:
        return self.verdict == "retryable"

    @property
    def final(self) -> bool:
        return self.verdict == "final"


def classify(status: int, headers: Mapping[str, str], *, now: float | None = None) -> Decision:
    """The decision for an answer with ``status`` and ``headers``; ``now`` (epoch seconds, default
    the clock) turns an HTTP-date Retry-After into seconds."""
    verdict: Verdict
    if 200 <= status < 300:
        verdict = "success"
    elif status in _RETRYABLE or status >= 500 or status < 400:
        verdict = "retryable"
    else:
        verdict = "final"
    after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    return Decision(status, verdict, status in _OVERLOAD, parse_retry_after(after, now=now))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After value (``120`` or ``Wed, 21 Oct 2026 07:28:00 GMT``), at least 0.

    >>> parse_retry_after("120"), parse_retry_after("soon"), parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now=60.0)
    (120.0, None, 0.0)
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # An HTTP-date is GMT; the obsolete asctime form carries no zone and parses naive.
    seconds = when.timestamp() if when.tzinfo is not None else when.replace(tzinfo=UTC).timestamp()
    return max(0.0, seconds - (time.time() if now is None else now))


def compute_backoff(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): ``base`` doubled per
    attempt, at most ``cap``, times a random factor in [0.5, 1] so that clients that failed together
    do not come back together.

    >>> compute_backoff(1, base=1.0, cap=60.0, rng=random.Random(0)) <= 1.0
    True
    >>> compute_backoff(100, base=1.0, cap=60.0, rng=random.Random(0)) <= 60.0
    True
    """
    # The exponent is bounded: 2 ** 10_000 would overflow a float long after the cap applies.
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 64))
    return ceiling * rng.uniform(0.5, 1.0)


def next_delay(policy: RetryPolicy, attempt: int, retry_after: float | None, *, rng: random.Random) -> float:
    """The wait before the next durable attempt: the policy's backoff, or longer if the server asked."""
    return max(compute_backoff(attempt, base=policy.base, cap=policy.cap, rng=rng), retry_after or 0.0)


def retries(exc: BaseException) -> bool:
    """Whether an error is worth trying again within one process: a Retryable, not a refused secret."""
    return isinstance(exc, Retryable) and not isinstance(exc, TokenRefused)


def retrying(
    policy: RetryPolicy | None = None,
    *,
    attempts: int = IN_PROCESS_ATTEMPTS,
    cap: float = IN_PROCESS_CAP,
    within: float | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> AsyncRetrying:
    """Tenacity's retries for one call inside this process (``await retrying()(fn, *args)``):
    on :func:`retries` errors only, at most ``attempts`` (and the policy's) attempts, waits from
    :func:`compute_backoff` with the policy's base but at most ``cap``, longer if Retry-After asks
    (but a server asking for more than ``cap`` gets its error back at once), and none begun once
    ``within`` seconds have passed since the first (a request that hung until its timeout is not
    sent again). The last error is raised as it is."""
    given = policy or RetryPolicy()
    # The durable policy's backoff, bounded for someone who waits.
    policy = replace(given, max_attempts=min(attempts, given.max_attempts), cap=min(cap, given.cap))
    draw = rng or random.Random()  # noqa: S311 (jitter, not a secret)

    def asked(state: RetryCallState) -> float | None:
        exc = _error(state)
        return exc.retry_after if isinstance(exc, Retryable) else None

    def stop(state: RetryCallState) -> bool:
        wanted = asked(state)
        late = within is not None and (state.seconds_since_start or 0.0) >= within
        return late or state.attempt_number >= policy.max_attempts or (wanted is not None and wanted > policy.cap)

    def wait(state: RetryCallState) -> float:
        return next_delay(policy, state.attempt_number, asked(state), rng=draw)

    def before_sleep(state: RetryCallState) -> None:
        exc = _error(state)
        wait_for = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("attempt %d failed, trying again in %.1f s: %s", state.attempt_number, wait_for, redact(str(exc)))

    return AsyncRetrying(
        retry=lambda state: (exc := _error(state)) is not None and retries(exc),
        stop=stop,
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def _error(state: RetryCallState) -> BaseException | None:
    """What the attempt just made raised, if it raised."""
    return state.outcome.exception() if state.outcome is not None and state.outcome.failed else None
