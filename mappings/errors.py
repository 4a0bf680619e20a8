"""Errors of samverkan. Each names the element it is about and carries a stable code.

    SamverkanError              code "SAMV-nnnn", path, issue_type, http_status
    ├── CodecError              1xxx: the document could not be read
    │   ├── UnsupportedMediaType    1001  (415)
    │   ├── DocumentTooLarge        1002  (413)
    │   ├── NotWellFormed           1003
    │   ├── ForbiddenConstruct      1004  DOCTYPE, entities, processing tricks
    │   ├── SchemaViolation         1005  against the XSD of urn:samverkan:message:1
    │   └── LimitExceeded           1006  nested deeper, or more elements, than the limits
    └── MappingError            2xxx: the document was read but says something we cannot carry
        ├── MissingElement          2001
        ├── InvalidValue            2002
        ├── ContradictoryValues     2003
        ├── UnmappedCode            2004
        └── UnsupportedMessageType  2005
    NotPermitted                5xxx: the document is readable and valid, but may not be sent
        ├── SenderNotPermitted      5001  (403) the caller may not send as the message's sender
        └── ConsentNotGiven         5002  (422) the patient has not consented to sharing this

Relay errors (4xxx) live in ``adapter.fhir.client``; they subclass ``SamverkanError`` too.

``path`` is an XPath into the internal document (``/Message/Patient/@personnummer``) or a
FHIRPath into a resource (``Patient.identifier[0]``); ``path_kind`` says which, so the HTTP edge
can put it in ``issue.location`` or ``issue.expression``. ``detail`` is written to be safe to show:
it never contains the offending value, because that value may be a personnummer.
"""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = [
    "CodecError",
    "ConsentNotGiven",
    "ContradictoryValues",
    "DocumentTooLarge",
    "ForbiddenConstruct",
    "InvalidValue",
    "LimitExceeded",
    "MappingError",
    "MissingElement",
    "NotPermitted",
    "NotWellFormed",
    "SamverkanError",
    "SchemaViolation",
    "SenderNotPermitted",
    "UnmappedCode",
    "UnsupportedMediaType",
    "UnsupportedMessageType",
]

PathKind = Literal["xpath", "fhirpath"]


class SamverkanError(Exception):
    """Base of every error samverkan raises on purpose."""

    code: ClassVar[str] = "SAMV-0000"
    #: FHIR IssueType code (http://hl7.org/fhir/issue-type).
    issue_type: ClassVar[str] = "exception"
    http_status: ClassVar[int] = 500

    def __init__(self, detail: str, *, path: str | None = None, path_kind: PathKind = "xpath"):
        super().__init__(detail)
        self.detail = detail
        self.path = path
        self.path_kind = path_kind

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.code}: {self.detail}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, path={self.path!r}, detail={self.detail!r})"


class CodecError(SamverkanError):
    """The document could not be read as an internal message."""

    code = "SAMV-1000"
    issue_type = "structure"
    http_status = 400


class UnsupportedMediaType(CodecError):
    """The Content-Type is neither XML nor JSON."""

    code = "SAMV-1001"
    issue_type = "not-supported"
    http_status = 415


class DocumentTooLarge(CodecError):
    """The document is larger than the configured limit."""

    code = "SAMV-1002"
    issue_type = "too-long"
    http_status = 413


class NotWellFormed(CodecError):
    """Not well-formed XML, or not valid JSON, or not UTF-8."""

    code = "SAMV-1003"


class ForbiddenConstruct(CodecError):
    """A DOCTYPE, entity declaration or other construct we never accept."""

    code = "SAMV-1004"
    issue_type = "security"


class SchemaViolation(CodecError):
    """The document breaks the XSD of urn:samverkan:message:1."""

    code = "SAMV-1005"


class LimitExceeded(CodecError):
    """Nested deeper, or holding more elements, than the configured limits: refused before it
    costs more to read (a document of a few bytes can nest ten thousand levels)."""

    code = "SAMV-1006"
    issue_type = "too-costly"


class MappingError(SamverkanError):
    """The document was read but cannot be carried as it stands."""

    code = "SAMV-2000"
    issue_type = "invalid"
    http_status = 422


class MissingElement(MappingError):
    """A part the message type requires is absent."""

    code = "SAMV-2001"
    issue_type = "required"


class InvalidValue(MappingError):
    """A value has the right shape for the schema but is wrong (check digit, date, HSA-id form)."""

    code = "SAMV-2002"
    issue_type = "value"


class ContradictoryValues(MappingError):
    """Two values contradict each other (e.g. discharge-ready before admission)."""

    code = "SAMV-2003"
    issue_type = "business-rule"


class UnmappedCode(MappingError):
    """A code has no entry in the ConceptMap that should translate it."""

    code = "SAMV-2004"
    issue_type = "code-invalid"

    def __init__(self, detail: str, *, path: str | None = None, path_kind: PathKind = "xpath", system: str, code: str):
        super().__init__(detail, path=path, path_kind=path_kind)
        self.system = system
        self.unmapped = code


class UnsupportedMessageType(MappingError):
    """A known message type this version does not map yet."""

    code = "SAMV-2005"
    issue_type = "not-supported"


class NotPermitted(SamverkanError):
    """The document could be read and is valid, but it may not be sent on (5xxx)."""

    code = "SAMV-5000"
    issue_type = "forbidden"
    http_status = 403


class SenderNotPermitted(NotPermitted):
    """The caller's credential is not bound to the HSA-id the message says it is from."""

    code = "SAMV-5001"
    issue_type = "security"


class ConsentNotGiven(NotPermitted):
    """The patient has said no to what the message would share (docs/domain.md rule 11)."""

    code = "SAMV-5002"
    issue_type = "business-rule"
    http_status = 422
