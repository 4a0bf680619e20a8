"""The operators' console at ``/ui`` (issue 7): the relay log, one message, a journey, the audit.

    GET  /ui/login, POST /ui/login   the login form (local accounts, ``adapter.security.accounts``)
    POST /ui/logout
    GET  /ui                         the relay log: filters, live list, what is waiting, charts
    GET  /ui/messages/{id}           one message: attempts, masked document, replay, cancel, reveal
    GET  /ui/episodes/{key}          a journey's timeline in lanes (slutenvård, kommun, närsjukvård)
    GET  /ui/invoice                 a municipality's invoice basis for a month; operators mark it invoiced
    GET  /ui/audit                   the audit log; for an auditor, one patient's access log (loggutdrag)
    GET  /ui/static/{name}           ui.css and ui.js

The pages are shells rendered by Jinja2 with autoescaping and the caller's rights; ``ui.js``
fetches the data from the same JSON API that scripts use and builds the page with
``textContent`` only, so nothing a message carries is ever parsed as HTML. Identity numbers come
masked from the API; only the Reveal button (the reveal right, audited) unmasks a document.
Every change a page asks for carries the session's CSRF token (:mod:`adapter.http.csrf`): the
logout form in a hidden field, ``ui.js`` in ``X-CSRF-Token`` from the page's ``<meta>``. The
session cookie is SameSite=Strict too, and a change from another origin is refused by its
``Origin`` (:func:`adapter.http.access.same_origin`); the login, before any session, by that alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from adapter.intake import read_body
from adapter.journal import State
from adapter.security import NotAllowed, Role, User
from mappings.errors import CodecError
from mappings.model import MessageType

from .. import csrf
from ..access import same_origin
from ..errors import Answer
from ..services import Svc

__all__ = ["router"]

log = logging.getLogger(__name__)

#: The relay log's states, in the order an operator thinks of them (adapter.journal.states).
STATES = tuple(State)

_ASSETS = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
_FORM_BODY_LIMIT = 4096  # a name and a password, or a token; anything larger is not one of our forms
_FILTERS = ("state", "type", "sender", "recipient", "key", "id", "since", "until")

# Pages show personal data: never cached, never framed, and scripts and styles only from here
# (ui.js builds its SVG with attributes, never with inline styles).
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

_ENV = Environment(loader=PackageLoader("adapter.http.console", "templates"), autoescape=True, undefined=StrictUndefined)
_STATIC = files("adapter.http.console").joinpath("static")
_ASSET_BODIES = {name: (_STATIC.joinpath(name).read_bytes(), kind) for name, kind in _ASSETS.items()}
# Part of the assets' URLs, so a browser never runs a new page with an old script.
_VERSION = hashlib.sha256(b"".join(body for body, _ in _ASSET_BODIES.values())).hexdigest()[:12]

router = APIRouter(prefix="/ui", include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a page of the console, never another site (``//evil``)."""
    if target and target.startswith("/ui") and not target.startswith("/ui/login") and "//" not in target and "\\" not in target:
        return target
    return "/ui"


def _render(request: Request, svc: Svc, template: str, user: User | None, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = _ENV.get_template(template).render(
        user=user,
        roles=sorted(user.roles) if user else [],
        can_act=bool(user and user.may(Role.OPERATOR)),
        can_reveal=bool(user and user.may(Role.REVEAL)),
        open_mode=svc.accounts.open,
        version=_VERSION,
        path=request.url.path,
        csrf=csrf.token(request, svc.keys.session) or "",
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _viewer(request: Request, svc: Svc) -> User:
    """The logged-in operator or auditor; else the login page, or 403 for a user without either."""
    try:
        user = svc.accounts.user(request)
    except NotAllowed:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Answer(RedirectResponse(f"/ui/login?next={quote(here, safe='')}", status_code=303)) from None
    if not (user.may(Role.OPERATOR) or user.may(Role.AUDITOR)):
        raise Answer(_render(request, svc, "forbidden.html", user, status=403))
    return user


#: A page's reader: the console's own check (a login page rather than a 401).
PageViewer = Annotated[User, Depends(_viewer)]


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _ASSET_BODIES:
        return Response("not found", status_code=404, media_type="text/plain")
    body, kind = _ASSET_BODIES[name]
    return Response(
        body, media_type=kind, headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    )


@router.get("/login", response_model=None)
async def login_form(request: Request, svc: Svc, target: Annotated[str | None, Query(alias="next")] = None) -> Response:
    if svc.accounts.open:
        return RedirectResponse(_safe_next(target), status_code=303)
    return _render(request, svc, "login.html", None, error=None, name="", next=_safe_next(target))


async def _form(request: Request) -> dict[str, str] | None:
    """A console form's fields (the first of each), or None for a body larger than a form of ours.
    Parsed here: the forms have a field or three, not worth python-multipart."""
    try:
        # Read no further than a form can be: a large body is refused before it is in memory.
        body = await read_body(request.headers, request.stream(), _FORM_BODY_LIMIT)
    except CodecError:
        return None
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10).items()}


@router.post("/login", response_model=None)
async def login(request: Request, svc: Svc) -> Response:
    same_origin(request)  # no session yet, so no token: another origin's login form is refused by its Origin
    form = await _form(request)
    if form is None:
        return _render(request, svc, "login.html", None, status=413, error="That is not a login.", name="", next="/ui")
    name = form.get("name", "").strip()
    password = form.get("password", "")
    target = _safe_next(form.get("next"))
    client = request.client.host if request.client else None
    try:
        # In a thread: scrypt takes half a second, which the event loop must not wait for.
        user = await asyncio.to_thread(svc.accounts.check, name, password, client=client) if name and password else None
    except NotAllowed as exc:  # too many failed logins lately
        log.info("a console login was held back: %s", exc)
        return _render(request, svc, "login.html", None, status=exc.status, error=str(exc), name=name, next=target)
    if user is None:
        log.info("a console login failed")
        return _render(request, svc, "login.html", None, status=401, error="Wrong name or password.", name=name, next=target)
    await asyncio.to_thread(svc.accounts.log_in, request, user)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", response_model=None)
async def logout(request: Request, svc: Svc) -> Response:
    same_origin(request)
    form = await _form(request)
    try:
        csrf.check(request, svc.keys.session, sent=(form or {}).get(csrf.FIELD, ""))
    except NotAllowed as exc:
        return _render(request, svc, "refused.html", None, status=exc.status, reason=str(exc))
    await asyncio.to_thread(svc.accounts.log_out, request)
    return RedirectResponse("/ui/login", status_code=303)


@router.get("", response_model=None)
async def relay_log(request: Request, user: PageViewer, svc: Svc) -> Response:
    shown = {f: request.query_params.get(f, "") for f in _FILTERS}
    return _render(request, svc, "log.html", user, filters=shown, states=STATES, types=[t.value for t in MessageType])


@router.get("/messages/{message_id}", response_model=None)
async def message(message_id: str, request: Request, user: PageViewer, svc: Svc) -> Response:
    return _render(request, svc, "message.html", user, message_id=message_id)


@router.get("/episodes/{key:path}", response_model=None)
async def episode(key: str, request: Request, user: PageViewer, svc: Svc) -> Response:
    return _render(request, svc, "episode.html", user, key=key)


@router.get("/invoice", response_model=None)
async def invoice(
    request: Request,
    user: PageViewer,
    svc: Svc,
    kommun: Annotated[str, Query(max_length=4)] = "",
    month: Annotated[str, Query(max_length=7)] = "",
) -> Response:
    return _render(request, svc, "invoice.html", user, kommun=kommun, month=month)


@router.get("/audit", response_model=None)
async def audit(request: Request, user: PageViewer, svc: Svc) -> Response:
    return _render(request, svc, "audit.html", user, can_extract=user.may(Role.AUDITOR))
