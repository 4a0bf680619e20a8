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
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from adapter import codec
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
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "adapter.cli",
            "user",
            "add",
            NAME,
            "--role",
            "operator",
            "--role",
            "reveal",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=_env(SAMVERKAN_USERS_FILE=str(users)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr

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

                # By the patient's number: searched in a request body, never in the address.
                page.get_by_label("State", exact=True).select_option("")
                page.get_by_label("Message type").select_option("")
                page.get_by_label("Patient's identity number").fill(number)
                page.get_by_role("button", name="Search").click()
                expect(rows).to_have_count(len(journey))
                assert number not in page.url
                page.get_by_label("Patient's identity number").fill("")

                # The detail of the dead letter: the server's 503, the document masked.
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
                expect(page.locator("#payment tbody tr")).to_have_count(1)
                lanes = page.eval_on_selector_all(
                    "#timeline rect.lane", "rs => rs.map(r => [+r.getAttribute('y'), +r.getAttribute('height')])"
                )
                marks = page.eval_on_selector_all("#timeline g.msg circle", "cs => cs.map(c => +c.getAttribute('cy'))")
                lane_of = {"slutenvard": 0, "kommun": 1, "narsjukvard": 2}
                for message, cy in zip(episode, marks, strict=True):
                    top, height = lanes[lane_of[message.sender.kind.value]]
                    assert top <= cy <= top + height, f"{message.type.value} is not in its sender's lane"
                timeline = steps.shot("timeline", full_page=False)  # the README's picture: the lanes, not the tables

                page.get_by_role("link", name="Audit").click()
                audit = page.locator("#audit tbody")
                expect(audit).to_contain_text("reveal")
                expect(audit).to_contain_text("replay")
                expect(audit).to_contain_text(NAME)
                steps.shot("audit")
                assert errors == [], errors
            finally:
                browser.close()
    assert timeline.stat().st_size > 10_000  # a page, not a blank
