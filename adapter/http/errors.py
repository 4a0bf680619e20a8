"""Every error leaves as a FHIR OperationOutcome, rendered here and nowhere else.

    SamverkanError (mappings.errors)    a refused message: its status, SAMV code and element
    Refusal                             an operator's request refused (not found, a state that does not allow it)
    NotAllowed (adapter.security)       401 or 403
    RequestValidationError, HTTPException   FastAPI's and Starlette's own refusals
    Exception                           500, the trace to the log only
    Answer                              not an error: a dependency's answer in place of the route's

Endpoints raise; :func:`install` registers one handler per kind, and :func:`render` answers in
the format the caller asked for (FHIR XML at ``/fhir`` when ``_format`` or ``Accept`` says so,
else FHIR JSON). The element an error is about goes in ``issue.expression`` (a FHIRPath) or
``issue.location`` (an XPath into an internal document). All text is passed through
:func:`redact`: an error may quote what the sender wrote, and that may hold a personnummer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from adapter.codec import render as render_fhir
from adapter.codec import wants_xml
from adapter.fhir import Final
from adapter.observability import Metrics, redact
from adapter.security import NotAllowed
from mappings.errors import SamverkanError

__all__ = ["Answer", "Refusal", "install", "operation_outcome", "outcome_of", "render"]

log = logging.getLogger(__name__)


class Refusal(Exception):
    """An operator's request refused: the status, the FHIR issue code, what is wrong, and the
    element (a FHIRPath or a parameter's name) when there is one."""

    def __init__(self, status: int, code: str, text: str, element: str | None = None):
        super().__init__(text)
        self.status, self.code, self.text, self.element = status, code, text, element

    def __repr__(self) -> str:
        return f"Refusal({self.status}, {self.code!r}, {self.text!r}, element={self.element!r})"

    @classmethod
    def not_found(cls, text: str, element: str | None = None) -> Refusal:
        return cls(404, "not-found", text, element)


class Answer(Exception):
    """A dependency's answer in place of the route's: the console's login redirect or 403 page."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def _issue(severity: str, code: str, text: str, element: str | None = None, kind: str = "expression") -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if element:
        issue[kind] = [element]
    return issue


def outcome_of(err: SamverkanError) -> dict[str, Any]:
    """The OperationOutcome answering ``err``; a refusal by the FHIR server keeps its issues."""
    kind = "expression" if err.path_kind == "fhirpath" else "location"
    issues = [_issue("error", err.issue_type, redact(f"{err.code}: {err.detail}"), err.path, kind)]
    if isinstance(err, Final) and err.outcome:
        for server_issue in err.outcome.get("issue", ()):
            copied = dict(server_issue)
            if "diagnostics" in copied:
                copied["diagnostics"] = redact(str(copied["diagnostics"]))
            issues.append(copied)
    return operation_outcome(*issues)


def render(
    request: Request, resource: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``resource`` as FHIR JSON, or FHIR XML where the FHIR endpoint was asked for it."""
    xml = request.url.path.startswith("/fhir") and wants_xml(request.query_params.get("_format"), request.headers.get("accept"))
    body, media = render_fhir(resource, xml)
    return Response(body, status_code=status, media_type=media, headers=dict(headers or {}))


def install(app: FastAPI, metrics: Metrics) -> None:
    """Registers the handlers that turn every exception into an OperationOutcome."""

    async def samverkan_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SamverkanError)
        log.info("refused %s %s: %s", request.method, request.url.path, redact(str(exc)))
        # The journal away: the sender may try again in a moment.
        headers = {"Retry-After": "1"} if exc.http_status == 503 else None
        return render(request, outcome_of(exc), exc.http_status, headers)

    async def refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        # Redacted: the text may quote the path (a message id), and a path may be anything.
        return render(request, operation_outcome(_issue("error", exc.code, redact(exc.text), exc.element)), exc.status)

    async def request_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # One issue per element, named as FastAPI locates it ("body.from"); the input is not quoted.
        issues = []
        for e in exc.errors():
            where = ".".join(map(str, e["loc"]))
            issues.append(_issue("error", "invalid", redact(f"{where}: {e['msg']}"), where))
        return render(request, operation_outcome(*issues), 400)

    async def http_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # No such route (404), not this method (405), and FastAPI's one 400, a JSON body it cannot parse.
        code = {400: "structure", 404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        issue = _issue("error", code, redact(str(exc.detail)), "body" if exc.status_code == 400 else None)
        return render(request, operation_outcome(issue), exc.status_code, exc.headers)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotAllowed)
        # Nobody's credential is journaled: a 401 names no sender, and counting them is enough.
        metrics.refused.labels(str(exc.status)).inc()
        code = {401: "login", 429: "throttled"}.get(exc.status, "forbidden")
        issue = _issue("error", code, str(exc))
        return render(request, operation_outcome(issue), exc.status, exc.headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # The trace goes to the log (redacted by its handler), never to the caller.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        issue = _issue("fatal", "exception", "SAMV-0000: internal error; see the adapter's log")
        return render(request, operation_outcome(issue), 500)

    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Answer)
        return exc.response

    app.add_exception_handler(SamverkanError, samverkan_error)
    app.add_exception_handler(Answer, answer)
    app.add_exception_handler(Refusal, refusal)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(HTTPException, http_refusal)
    app.add_exception_handler(NotAllowed, not_allowed)
    app.add_exception_handler(Exception, unexpected)
