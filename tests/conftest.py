"""Test session set-up: the real local HAPI FHIR server, and CI's no-silent-skip rule.

Integration tests use ``SAMVERKAN_TEST_FHIR_URL`` when it is set (``.ci/run`` starts HAPI and
sets it); otherwise this session starts its own HAPI from hapi/ on port 8091 with a fresh data
directory and stops it at the end. A server that cannot be reached or started fails the tests:
it never skips them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import settings

from tests.support import ROOT

# A fixed profile: CI runs the same number of examples every time, derandomised.
settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Most tests are about other things than who may send: they run with sender authentication off.
# The tests of authentication configure it explicitly (Settings(inbound_auth="required", ...)).
os.environ.setdefault("SAMVERKAN_INBOUND_AUTH", "off")
_TEST_PORT = os.environ.get("SAMVERKAN_TEST_HAPI_PORT", "8091")


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/metadata", timeout=5, headers={"Accept": "application/fhir+json"}).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def fhir_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real HAPI FHIR server for this test session."""
    given = os.environ.get("SAMVERKAN_TEST_FHIR_URL")
    if given:
        deadline = time.monotonic() + 60
        while not _answers(given):
            if time.monotonic() > deadline:
                pytest.fail(f"SAMVERKAN_TEST_FHIR_URL={given} does not answer /metadata")
            time.sleep(1)
        yield given.rstrip("/")
        return
    data_dir = tmp_path_factory.mktemp("hapi-data")
    env = {**os.environ, "HAPI_PORT": _TEST_PORT, "HAPI_DATA_DIR": str(data_dir)}
    _HAPI_ENV.update(env)
    started = subprocess.run([str(ROOT / "hapi" / "start.sh")], env=env, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        pytest.fail(f"could not start the local HAPI server:\n{started.stdout}\n{started.stderr}")
    try:
        yield f"http://127.0.0.1:{_TEST_PORT}/fhir"
    finally:
        subprocess.run([str(ROOT / "hapi" / "stop.sh")], env=env, capture_output=True, check=False)


_HAPI_ENV: dict[str, str] = {}


class HapiControl:
    """Stops and starts the test session's HAPI (its data survives: file-based H2)."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def _run(self, script: str) -> None:
        done = subprocess.run([str(ROOT / "hapi" / script)], env=self.env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"hapi/{script} failed:\n{done.stdout}\n{done.stderr}"

    def stop(self) -> None:
        self._run("stop.sh")

    def start(self) -> None:
        self._run("start.sh")


@pytest.fixture(scope="session")
def hapi_control(fhir_base_url: str) -> HapiControl:
    """Control of the HAPI server the session uses: the one it started, or the one HAPI_DATA_DIR names."""
    if _HAPI_ENV:
        return HapiControl(_HAPI_ENV)
    if not os.environ.get("HAPI_DATA_DIR") or not os.environ.get("HAPI_PORT"):
        pytest.fail(
            "SAMVERKAN_TEST_FHIR_URL is set but HAPI_PORT and HAPI_DATA_DIR are not: the outage test must stop and"
            " start that server (export the variables hapi/start.sh was run with)"
        )
    assert fhir_base_url.endswith(f":{os.environ['HAPI_PORT']}/fhir"), "HAPI_PORT is not the port of SAMVERKAN_TEST_FHIR_URL"
    # hapi/stop.sh refuses to stop a server its start.sh did not start; say so now, not after a minute's test.
    if not os.path.isfile(os.path.join(os.environ["HAPI_DATA_DIR"], "hapi.pid")):
        pytest.fail(
            f"the FHIR server at {fhir_base_url} was not started by hapi/start.sh from HAPI_DATA_DIR="
            f"{os.environ['HAPI_DATA_DIR']} (no hapi.pid there): the outage test could not stop it"
        )
    return HapiControl(dict(os.environ))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL for the journal's second backend: ``SAMVERKAN_TEST_POSTGRES_URL``, else one of our own.

    Like HAPI, a server that cannot be reached or started fails the tests; it never skips them.
    """
    given = os.environ.get("SAMVERKAN_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    # Not under pytest's temporary root: as root, the server runs as the user postgres, who cannot enter it.
    data_dir = tempfile.mkdtemp(prefix="samverkan-pg-")
    env = {**os.environ, "PG_PORT": os.environ.get("SAMVERKAN_TEST_PG_PORT", "5439"), "PG_DATA_DIR": str(data_dir)}
    script = str(ROOT / "scripts" / "postgres")
    started = subprocess.run([script, "start"], env=env, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        pytest.fail(f"could not start PostgreSQL:\n{started.stdout}\n{started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, check=False)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """``postgres_url`` with a fresh schema of its own first on the search path: tests do not share tables."""
    import uuid

    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield make_conninfo(postgres_url, options=f"-c search_path={schema}")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skipped test is a failed test: a missing server must never pass unnoticed."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, a run in which no integration test passed has not tested the product."""
    if not IN_CI or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = reporter.stats.get("passed", []) if reporter else []
    if session.config.option.collectonly:
        return
    if not any("tests/integration/" in r.nodeid for r in passed):
        if reporter:
            reporter.write_line("CI: no integration test passed against the real HAPI server", red=True)
        session.exitstatus = 1
