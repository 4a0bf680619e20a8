"""Configuration: environment variables ``SAMVERKAN_*`` and, optionally, a settings file.

    SAMVERKAN_FHIR_BASE_URL=http://127.0.0.1:8080/fhir   # the FHIR server relays go to
    SAMVERKAN_SETTINGS_FILE=/etc/samverkan.env           # KEY=value lines, same names

Environment variables win over the file; the file wins over the defaults below. Usage::

    settings = Settings()                       # from the environment
    settings = Settings(fhir_base_url="http://hapi:8080/fhir")

Two small views of the settings go where their parts are used, each with the settings' defaults
(defined once, on the fields below) and built from settings by ``of``::

    limits = Limits.of(settings)                # what the doors accept at most
    policy = RetryPolicy.of(settings)           # when the relay tries again, and when it stops
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_FHIR_BASE_URL", "Limits", "RetryPolicy", "Settings"]

#: The local HAPI FHIR server of hapi/ (hapi/start.sh).
DEFAULT_FHIR_BASE_URL = "http://127.0.0.1:8080/fhir"


class Settings(BaseSettings):
    """Everything an operator can set, with the defaults of one machine."""

    model_config = SettingsConfigDict(
        env_prefix="SAMVERKAN_",
        env_file=os.environ.get("SAMVERKAN_SETTINGS_FILE", "samverkan.env"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    fhir_base_url: str = Field(DEFAULT_FHIR_BASE_URL, description="Base URL of the FHIR R4 server relays go to")
    fhir_timeout: float = Field(30.0, gt=0, description="Seconds to wait for the FHIR server per request")
    max_document_bytes: int = Field(1024 * 1024, gt=0, description="Largest inbound document accepted")
    max_depth: int = Field(32, gt=0, description="Deepest nesting of elements accepted")
    host: str = Field("127.0.0.1", description="Address `samverkan serve` listens on")
    port: int = Field(8000, gt=0, lt=65536, description="Port `samverkan serve` listens on")
    log_level: str = Field("INFO", description="Level of the adapter's logs")
    journal_path: str = Field("samverkan-journal.sqlite3", description="SQLite file of the journal")
    journal_url: str | None = Field(
        None,
        description="PostgreSQL journal (postgresql://user@host/db), for several replicas; wins over journal_path",
    )
    worker_id: str | None = Field(
        None, description="Name of this replica's relay worker; a restart under the same name takes its claims back at once"
    )
    retention_days: float | None = Field(
        None,
        gt=0,
        description="Days after which delivered messages' documents and bundles are pruned; what, who and when stay (none: kept)",
    )
    relay_parallel: int = Field(8, ge=0, description="Keys relayed at the same time (0: accept only, relay nothing)")
    claim_lease: float = Field(60.0, gt=0, description="Seconds a claim lasts; a crashed worker's claims expire after it")
    max_attempts: int = Field(12, gt=0, description="Attempts before a message is dead-lettered")
    max_age: float = Field(24 * 3600.0, gt=0, description="Seconds after acceptance (or replay) before retrying stops")
    retry_base: float = Field(1.0, gt=0, description="First retry delay in seconds; doubles per attempt, with jitter")
    retry_cap: float = Field(300.0, gt=0, description="Longest retry delay in seconds")
    overdue_interval: float = Field(
        60.0, ge=0, description="Seconds between checks that mark late acknowledgement Tasks overdue (0: never)"
    )
    units_file: str | None = Field(
        None, description="JSON file mapping kommun units' HSA-ids to their kommunkod, for rule 13 (none: not checked)"
    )
    fhir_answer_wait: float = Field(
        10.0, ge=0, description="Seconds POST /fhir waits for the relay before it answers 202 with a status to poll"
    )
    outbound_dir: str | None = Field(
        None, description="Directory the internal document of each message that came in as FHIR is written to"
    )
    outbound_url: str | None = Field(
        None, description="HTTP endpoint the internal document of each message that came in as FHIR is POSTed to"
    )
    log_format: Literal["line", "json"] = Field("line", description="Logs as text lines or as one JSON object per line")
    users_file: str | None = Field(
        None, description="JSON file of operators' accounts (samverkan user add); none: the console is open, without reveal"
    )
    session_secret: str | None = Field(
        None, description="Key that signs the console's session cookies; none: one made once and kept in the secrets file"
    )
    metrics_token: str | None = Field(
        None, description="Bearer token /metrics asks of its scraper (none: /metrics is open to whoever reaches it)"
    )
    api_docs: bool = Field(
        False, description="Serve the interactive API docs at /docs (their script is from a CDN); /openapi.json is always served"
    )
    session_idle_minutes: float = Field(30.0, gt=0, description="Minutes without a request after which a console session ends")
    session_max_hours: float = Field(
        12.0, gt=0, description="Hours after login after which a console session ends, active or not"
    )
    session_secure: bool = Field(
        False, description="Send the console's cookie over HTTPS only (serve behind TLS, or a proxy that ends it)"
    )
    password_cost: int = Field(
        17,
        ge=10,
        le=20,
        description="log2 of scrypt's N for operators' passwords (OWASP: 17, 128 MiB a check); older hashes are remade at login",
    )
    secrets_file: str = Field(
        "samverkan-secrets.json",
        description="JSON file (owner-only) of the session and search keys the settings do not give; never the journal",
    )
    search_key: str | None = Field(
        None, description="Key of the patient hashes (searches, patient keys); none: one made once and kept in the secrets file"
    )
    alert_url: str | None = Field(
        None, description="Webhook POSTed JSON when a key starts or stops being held, or the FHIR server is lost or back"
    )
    alert_interval: float = Field(15.0, gt=0, description="Seconds between the alert hook's looks at the journal and the server")
    payment_file: str | None = Field(
        None, description="JSON file of payment rules per region (days, daily amounts); none: the law's defaults"
    )

    # Senders (issue 9): who may post messages, and as which HSA-ids. See adapter/senders.py.
    inbound_auth: Literal["required", "off"] = Field(
        "required",
        description="Senders must authenticate (API key or OAuth2 bearer token); off: anyone may post (a developer's machine)",
    )
    senders_file: str | None = Field(
        None, description="JSON file of senders' API keys and the HSA-ids each may send as (samverkan sender add)"
    )
    jwt_keys_file: str | None = Field(
        None, description="JWKS or PEM file of the public keys senders' bearer tokens are verified against"
    )
    jwt_issuer: str | None = Field(None, description="The `iss` a sender's bearer token must carry")
    jwt_audience: str | None = Field(None, description="The `aud` a sender's bearer token must carry")
    jwt_scope: str = Field("samverkan.send", description="Scope a sender's bearer token must grant")
    jwt_hsa_claim: str = Field("hsa_ids", description="Claim of a bearer token listing the HSA-ids its holder may send as")
    jwt_leeway: float = Field(30.0, ge=0, description="Seconds of clock skew allowed on a token's exp and nbf")

    # The FHIR server (issue 9): OAuth2 client credentials and TLS. See adapter/fhir_auth.py.
    fhir_token_url: str | None = Field(
        None, description="OAuth2 token endpoint for the FHIR server (client credentials); none: no token is sent"
    )
    fhir_client_id: str | None = Field(None, description="OAuth2 client id of the adapter at the FHIR server's token endpoint")
    fhir_client_secret: str | None = Field(None, description="OAuth2 client secret (prefer the settings file to the environment)")
    fhir_scope: str | None = Field(None, description="Scope asked for with client credentials (e.g. system/*.write)")
    fhir_ca_bundle: str | None = Field(
        None, description="PEM file of the CAs the FHIR server's (and the outbound URL's) certificates are checked against"
    )

    # Hostile input (issue 9): what one request may cost to read. See adapter/safe_parse.py.
    max_elements: int = Field(
        20_000, gt=0, description="Most elements (XML) or objects and arrays (FHIR JSON) one document or Bundle may hold"
    )
    max_fhir_depth: int = Field(
        64, gt=0, description="Deepest nesting of elements (XML) or objects and arrays (JSON) accepted in a FHIR Bundle"
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        description="Most bytes of a request's line and headers; `serve` closes a request past it with 400 before reading more",
    )
    max_headers: int = Field(
        100, ge=10, description="Most headers one request may carry; more is a 431 before any route reads them"
    )


def _default(field: str) -> Any:
    """The default of a setting, so that a view's default is the setting's, written once."""
    return Settings.model_fields[field].default


@dataclass(frozen=True, slots=True)
class Limits:
    """What the doors accept at most: bytes of a body, nesting of an internal document's elements
    (``max_depth``) and of a FHIR Bundle's (``max_fhir_depth``), and elements in either.

    >>> Limits(max_bytes=512 * 1024).max_depth
    32
    """

    max_bytes: int = _default("max_document_bytes")
    max_depth: int = _default("max_depth")
    max_elements: int = _default("max_elements")
    max_fhir_depth: int = _default("max_fhir_depth")

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits an operator set."""
        return cls(
            max_bytes=settings.max_document_bytes,
            max_depth=settings.max_depth,
            max_elements=settings.max_elements,
            max_fhir_depth=settings.max_fhir_depth,
        )


class Queued(Protocol):
    """What the time limit counts from: a journal's message or outbound delivery."""

    @property
    def queued_at(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again, and when to stop: the same for the relay and every outbound channel.

    The delay between attempts is ``adapter.fhir.retry.next_delay(policy, attempt, retry_after)``.

    >>> from types import SimpleNamespace
    >>> RetryPolicy(max_age=60).gives_up(SimpleNamespace(queued_at=0.0), attempts=1, now=59.0)
    False
    >>> RetryPolicy(max_age=60).gives_up(SimpleNamespace(queued_at=0.0), attempts=1, now=60.0)
    True
    """

    max_attempts: int = _default("max_attempts")
    max_age: float = _default("max_age")
    base: float = _default("retry_base")
    cap: float = _default("retry_cap")

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        """The policy an operator set."""
        return cls(max_attempts=settings.max_attempts, max_age=settings.max_age, base=settings.retry_base, cap=settings.retry_cap)

    def gives_up(self, record: Queued, attempts: int, now: float) -> bool:
        """Attempts used up, or the time since acceptance (or the operator's replay) run out;
        ``record`` is a journal ``Record`` or ``Outbound`` (without a time, only attempts count)."""
        since = record.queued_at
        return attempts >= self.max_attempts or (since is not None and now - since >= self.max_age)
