"""The FHIR client, its errors, the one retry rule, and its OAuth2/TLS security; installing and checking our profiles."""

from .auth import ClientCredentials
from .client import EntryResult, FhirClient, TransactionResult
from .errors import Final, RelayError, Retryable, TokenRefused, mapped_errors, timeouts
from .retry import Decision, classify, compute_backoff, retrying

__all__ = [
    "ClientCredentials",
    "Decision",
    "EntryResult",
    "FhirClient",
    "Final",
    "RelayError",
    "Retryable",
    "TokenRefused",
    "TransactionResult",
    "classify",
    "compute_backoff",
    "mapped_errors",
    "retrying",
    "timeouts",
]
