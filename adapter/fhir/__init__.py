"""The FHIR client, its errors and its OAuth2/TLS security; installing and checking our profiles."""

from .auth import ClientCredentials, TokenRefused
from .client import EntryResult, FhirClient, Final, RelayError, Retryable, TransactionResult

__all__ = [
    "ClientCredentials",
    "EntryResult",
    "FhirClient",
    "Final",
    "RelayError",
    "Retryable",
    "TokenRefused",
    "TransactionResult",
]
