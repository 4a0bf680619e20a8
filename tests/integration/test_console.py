"""The operators' console in a real browser: Debian's Chromium, driven by Playwright, in front of a
real `samverkan serve` that relays through the fault proxy to the real HAPI.

The proxy first fails every request, so the journey's first message of each key is dead-lettered
(one attempt allowed); the operator finds it by filtering, lets the proxy pass, replays it from
the detail page and follows the journey's timeline. Screenshots of each step go to
``SAMVERKAN_TEST_ARTIFACTS`` (default: the test's temporary directory).

Chromium comes from Debian (``apt-get install -y chromium``; ``.ci/run`` installs it). Playwright
never downloads a browser here, and a missing one fails the test rather than skipping it.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from adapter import codec
from adapter.rules.deadlines import STOCKHOLM
from mappings.model import Message
from tests.faultproxy import FaultProxy
from tests.serving import serve
from tests.support import JOURNEYS, Renamer, load

CHROMIUM = Path("/usr/bin/chromium")
# The machine's closed network refuses Chromium's own background connections; without these it waits on them.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
J = JOURNEYS[0]
# Two keys: the referral (01-02) and the inpatient episode (03-10), whose payment clock starts.
STEPS = [
    "01-Remiss",
    "02-RemissSvar",
    "03-Inskrivningsmeddelande",
    "04-Kvittens",
    "05-Kvittens",
    "06-Vardbegaran",
    "07-FastVardkontakt",
    "08-KallelseSamordnadPlanering",
    "09-Kvittens",
    "10-Utskrivningsklar",
]
NAME, PASSWORD = "rut", "a console test password"


def _env(**settings: str) -> dict[str, str]:
    """This process's environment without any SAMVERKAN_ setting of the developer's, plus ``settings``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("SAMVERKAN_") or k.startswith("SAMVERKAN_TEST_")}
    return {**kept, "SAMVERKAN_INBOUND_AUTH": "off", **settings}


def _forms(number: str) -> set[str]:
    """Every way a page could show a personnummer unmasked."""
    return {number, f"{number[:8]}-{number[8:]}", number[2:], f"{number[2:8]}-{number[8:]}"}


class Steps:
    """Screenshots of each step, and the check that no page so far showed the patient's number."""

    def __init__(self, page: Page, folder: Path, number: str):
        self.page, self.folder, self.number, self.n = page, folder, number, 0
        folder.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str, *, masked: bool = True, full_page: bool = True) -> Path:
        self.n += 1
        if masked:
            html = self.page.content()
            leaked = [f for f in _forms(self.number) if f in html]
            assert not leaked, f"{self.page.url} shows the patient's identity number unmasked ({name})"
        path = self.folder / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def _post(url: str, message: Message) -> None:
    response = httpx.post(f"{url}/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text


def test_an_operator_finds_a_dead_letter_replays_it_and_follows_the_journey(fhir_base_url: str, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: the console's browser test drives Debian's Chromium (apt-get install -y chromium;"
        " .ci/run installs it). Never `playwright install`."
    )
    artifacts = Path(os.environ.get("SAMVERKAN_TEST_ARTIFACTS") or tmp_path / "console")
    users = tmp_path / "users.json"
    _add_user(users, tmp_path, NAME, PASSWORD, "operator", "reveal")

    rename = Renamer(random.Random())
    journey = [rename(load(J / f"{s}.xml")) for s in STEPS]
    admission = journey[2]
    number = admission.patient.id_value
    origin, _, path = fhir_base_url.partition("/fhir")

    with FaultProxy(origin, faults={"503": 1.0}) as proxy:
        env = _env(
            SAMVERKAN_FHIR_BASE_URL=f"{proxy.url}/fhir{path}",
            SAMVERKAN_JOURNAL_PATH=str(tmp_path / "journal.sqlite3"),
            SAMVERKAN_USERS_FILE=str(users),
            SAMVERKAN_MAX_ATTEMPTS="1",
            SAMVERKAN_ALERT_INTERVAL="1",
            SAMVERKAN_OVERDUE_INTERVAL="0",
        )
        with serve(env, tmp_path) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(15_000)
                # A script error or a refusal by the pages' Content-Security-Policy shows here.
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                steps = Steps(page, artifacts, number)

                # Not logged in: the console sends us to its login.
                page.goto(f"{url}/ui")
                expect(page).to_have_url(re.compile(r"/ui/login\?next="))
                page.get_by_label("Name").fill(NAME)
                page.get_by_label("Password").fill(PASSWORD)
                steps.shot("login")
                page.get_by_role("button", name="Log in").click()
                expect(page.get_by_role("heading", name="Relay log")).to_be_visible()

                # Senders post the journey while every request to the FHIR server fails.
                for message in journey:
                    _post(url, message)
                rows = page.locator("#log tbody tr")
                expect(rows).to_have_count(len(journey), timeout=15_000)  # the list updates itself
                admitted = rows.filter(has_text="Inskrivningsmeddelande")
                expect(admitted.locator(".state")).to_have_text("dead-lettered", timeout=15_000)
                expect(page.locator("#fhir")).to_contain_text("has not answered", timeout=15_000)
                expect(page.locator("#waiting")).to_contain_text("messages waiting")
                expect(page.locator("#chart-failed rect.bar")).not_to_have_count(0, timeout=15_000)
                steps.shot("relay-log")

                # Filters: the dead letters (one per key), then only the admission's.
                page.get_by_label("State", exact=True).select_option("dead-lettered")
                page.get_by_role("button", name="Search").click()
                expect(rows).to_have_count(2)
                expect(rows.locator(".state")).to_have_text(["dead-lettered", "dead-lettered"])
                page.get_by_label("Message type").select_option("Inskrivningsmeddelande")
                page.get_by_role("button", name="Search").click()
                expect(rows).to_have_count(1)
                assert "state=dead-lettered" in page.url and "type=Inskrivningsmeddelande" in page.url
                steps.shot("filtered")

                # By the patient's number: searched in a request body, never in the address. Another
                # patient's message is in the list too, and the search leaves it out.
                other = Renamer(random.Random())(admission)
                assert other.patient.id_value != number
                _post(url, other)
                page.get_by_label("State", exact=True).select_option("")
                page.get_by_label("Message type").select_option("")
                page.get_by_role("button", name="Search").click()
                expect(rows).to_have_count(len(journey) + 1)
                page.get_by_label("Patient's identity number").fill(number)
                page.get_by_role("button", name="Search").click()
                expect(rows).to_have_count(len(journey))
                expect(rows.get_by_role("link", name=other.id)).to_have_count(0)
                assert number not in page.url

                # The detail of the dead letter (this patient's admission): the server's 503, the document masked.
                page.get_by_label("Message type").select_option("Inskrivningsmeddelande")
                page.get_by_role("button", name="Search").click()
                expect(rows).to_have_count(1)
                rows.get_by_role("link", name="Inskrivningsmeddelande").click()
                expect(page).to_have_url(f"{url}/ui/messages/{admission.id}")
                expect(page.locator("#summary .state")).to_have_text("dead-lettered")
                expect(page.locator("#attempts tbody")).to_contain_text("503")
                expect(page.locator("#document")).to_contain_text(f"{number[:4]}****-****")
                expect(page.get_by_role("button", name="Reveal")).to_be_visible()
                steps.shot("dead-letter")

                # The server is back: replay, and the page follows the message to delivered.
                proxy.enabled = False
                page.get_by_role("button", name="Replay").click()
                expect(page.locator("#summary .state")).to_have_text("delivered", timeout=30_000)
                expect(page.locator("#server-ids a")).not_to_have_count(0)
                expect(page.get_by_role("button", name="Replay")).to_be_disabled()
                steps.shot("delivered")

                # Reveal: only now the number shows, and the audit log says who looked.
                page.get_by_role("button", name="Reveal").click()
                expect(page.locator("#document")).to_contain_text(number)
                steps.shot("revealed", masked=False)

                # The journey: lanes, each message in its sender's lane, acknowledgements, the payment clock.
                page.locator("#summary").get_by_role("link", name=re.compile(r"^episode ")).click()
                expect(page.get_by_role("heading", name=re.compile("^Journey"))).to_be_visible()
                episode = [m for m in journey if m.care_episode is not None]
                expect(page.locator("#messages tbody tr")).to_have_count(len(episode))
                expect(page.locator("#messages .state-delivered")).to_have_count(len(episode), timeout=30_000)
                expect(page.locator("#timeline .lane-title")).to_contain_text(
                    ["Slutenvård", "Kommun", "Närsjukvård", "Betalningsansvar"]
                )
                expect(page.locator("#timeline g.msg")).to_have_count(len(episode))
                expect(page.locator("#acks tbody")).to_contain_text("received")
                # The clock: Utskrivningsklar sent 2026-03-12 for the 13th, so D = 03-13 and payable from
                # the 16th, still running today; 2026 has no daily amount here, so no day is priced.
                running = (datetime.now(STOCKHOLM).date() - date(2026, 3, 16)).days + 1
                expect(page.locator("#payment tbody tr td")).to_have_text(
                    ["2026-03-13", "2026-03-16", "running", "–", str(running), f"0 + {running} days unpriced"]
                )
                lanes = page.eval_on_selector_all(
                    "#timeline rect.lane", "rs => rs.map(r => [+r.getAttribute('y'), +r.getAttribute('height')])"
                )
                marks = page.eval_on_selector_all("#timeline g.msg circle", "cs => cs.map(c => +c.getAttribute('cy'))")
                lane_of = {"slutenvard": 0, "kommun": 1, "narsjukvard": 2}
                for message, cy in zip(episode, marks, strict=True):
                    top, height = lanes[lane_of[message.sender.kind.value]]
                    assert top <= cy <= top + height, f"{message.type.value} is not in its sender's lane"
                timeline = steps.shot("timeline", full_page=False)  # the README's picture: the lanes, not the tables

                # The invoice basis of March for Halmstad (1380): the episode's 16 days, unpriced, then frozen.
                page.get_by_role("link", name="Fakturaunderlag").click()
                page.get_by_label("Kommunkod").fill("1380")
                page.get_by_label("Månad").fill("2026-03")
                page.get_by_role("button", name="Visa").click()
                expect(page.locator("#invoice-lines tbody tr td").nth(1)).to_have_text("16")
                expect(page.locator("#invoice-total")).to_have_text(
                    "Summa 0 kr för 0 dagar; 16 dagar i 1 rad saknar dagbelopp (unpriced)"
                )
                expect(page.locator("#invoice-state")).to_contain_text("Öppen")
                page.get_by_role("button", name=re.compile("^Markera som fakturerad")).click()
                expect(page.locator("#invoice-state")).to_contain_text(f"av {NAME}")
                expect(page.get_by_role("button", name=re.compile("^Markera som fakturerad"))).to_be_hidden()
                steps.shot("invoice")

                page.get_by_role("link", name="Audit").click()
                audit = page.locator("#audit tbody")
                expect(audit).to_contain_text("invoice-marked")
                expect(audit).to_contain_text("reveal")
                expect(audit).to_contain_text("replay")
                expect(audit).to_contain_text(NAME)
                steps.shot("audit")
                assert errors == [], errors
            finally:
                browser.close()
    assert timeline.stat().st_size > 10_000  # a page, not a blank


AUDITOR, AUDITOR_PASSWORD = "ada", "an auditor's test password"


def _add_user(users: Path, workdir: Path, name: str, password: str, *roles: str) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "adapter.cli", "user", "add", name, *(f"--role={r}" for r in roles), "--password-stdin"],
        input=password + "\n",
        env=_env(SAMVERKAN_USERS_FILE=str(users), SAMVERKAN_PASSWORD_COST="14"),
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr


@contextmanager
def _another_origin(page_html: str) -> Iterator[str]:
    """A page of its own on another port of this host: the same site as the console, another origin."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _log_in(page: Page, url: str, name: str, password: str) -> None:
    page.goto(f"{url}/ui/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Relay log")).to_be_visible()


def test_a_form_on_another_origin_changes_nothing_and_a_patients_access_log_shows_their_reads_only(
    fhir_base_url: str, tmp_path: Path
) -> None:
    # Issue 16, finding 5: a page on another port of the same host cancelled a message in a
    # logged-in operator's browser. Item 15: an auditor's extract of one patient's access log.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)"
    artifacts = Path(os.environ.get("SAMVERKAN_TEST_ARTIFACTS") or tmp_path / "console") / "csrf"
    users = tmp_path / "users.json"
    _add_user(users, tmp_path, NAME, PASSWORD, "operator")
    _add_user(users, tmp_path, AUDITOR, AUDITOR_PASSWORD, "auditor")
    rename = Renamer(random.Random())
    admission = load(J / "03-Inskrivningsmeddelande.xml")
    mine, theirs = rename(admission), Renamer(random.Random())(admission)
    assert mine.patient.id_value != theirs.patient.id_value
    env = _env(
        SAMVERKAN_FHIR_BASE_URL=fhir_base_url,
        SAMVERKAN_JOURNAL_PATH=str(tmp_path / "journal.sqlite3"),
        SAMVERKAN_USERS_FILE=str(users),
        SAMVERKAN_RELAY_PARALLEL="0",  # accepted, never relayed: a cancel would show
        SAMVERKAN_OVERDUE_INTERVAL="0",
        SAMVERKAN_PASSWORD_COST="14",
    )
    with serve(env, tmp_path) as url, sync_playwright() as playwright:
        for message in (mine, theirs):
            _post(url, message)
        forged = (
            f'<form id="f" method="post" action="{url}/messages/{mine.id}/cancel"></form>'
            '<script>document.getElementById("f").submit()</script>'
        )
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            steps = Steps(page, artifacts, mine.patient.id_value)

            # The operator reads both patients' messages.
            _log_in(page, url, NAME, PASSWORD)
            for message in (mine, theirs):
                page.goto(f"{url}/ui/messages/{message.id}")
                expect(page.locator("#summary .state")).to_have_text("accepted")
            # A page of another origin posts a form to a console action in the operator's browser: refused.
            with _another_origin(forged) as evil, page.expect_response(lambda r: r.url.endswith("/cancel")) as answered:
                page.goto(evil)
            assert answered.value.status == 403
            state = httpx.get(f"{url}/messages/{mine.id}", auth=(NAME, PASSWORD)).json()["state"]
            assert state == "accepted", "the forged form cancelled the message"
            page.goto(f"{url}/ui/audit")
            expect(page.locator("#audit tbody")).to_contain_text("read-message")
            expect(page.locator("#audit tbody")).not_to_contain_text("cancel")
            page.get_by_role("button", name="Log out").click()  # the form carries the session's token
            expect(page).to_have_url(f"{url}/ui/login")

            # The auditor extracts the first patient's access log in the console.
            _log_in(page, url, AUDITOR, AUDITOR_PASSWORD)
            page.get_by_role("link", name="Audit").click()
            page.get_by_label("Patient's identity number").fill(mine.patient.id_value)
            page.get_by_role("button", name="Show the access log").click()
            rows = page.locator("#extract-log tbody tr")
            expect(page.locator("#extract-status")).to_contain_text("of this patient")
            expect(rows.filter(has_text=NAME).filter(has_text="read-message")).not_to_have_count(0)  # the page polls
            expect(rows.filter(has_text=AUDITOR).filter(has_text="access-log-extract")).to_have_count(1)
            expect(page.locator("#extract-log")).to_contain_text(mine.id)
            expect(page.locator("#extract-log")).not_to_contain_text(theirs.id)
            assert page.get_by_label("Patient's identity number").input_value() == ""
            steps.shot("access-log-extract")
            assert errors == [], errors
        finally:
            browser.close()
