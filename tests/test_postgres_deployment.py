"""The README's Deployment section, followed as written: PostgreSQL, the app, a trusted header.

Step by step, as the README numbers them:

1. the register database: a PostgreSQL server (the throwaway one of tests/conftest.py) with
   a login role and an empty database it owns;
2. the URL and secrets outside the repository: ``PLANNER_DB_URL`` in the app's environment,
   the configuration (with the roles file) in a folder of its own (``PLANNER_CONFIG``);
3. sign-in by a trusted header: ``sign_in = "header"``, ``trusted_header =
   "X-Forwarded-Email"``, ``allow_local_mode = false``, people and roles in access.toml;
4. moving a single-machine register: ``planner register export`` from SQLite, ``planner
   register import --user <planner>`` into PostgreSQL;
5. the app: ``streamlit run app.py --server.address 127.0.0.1 --server.headless true ...``;
6. requests: headless Chromium sends ``X-Forwarded-Email`` on every request, as the
   signing-in proxy in front would (the header reaches Streamlit's WebSocket too).

It checks that the commander is signed in as access.toml names them, that the page shows the
plan imported into PostgreSQL (who saved it), that an override recorded through the page
lands in PostgreSQL under the commander's name, and that a request without the header is
refused. Marked postgres, browser, integration (the real data) and slow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from planner import api
from planner.cli import main
from planner.register.access import PLANNER, User
from planner.register.database import ENV_URL
from planner.scenario import Scenario
from tests.factories import config_copy, register_at
from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    DATA,
    STEP_TIMEOUT_S,
    VIEWPORT,
    AppServer,
    Offline,
    choose,
    missing_prerequisites,
    wait_until_idle,
)
from tests.test_postgres import ACCESS, PLANNER_EMAIL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
]

COMMANDER = "camden.commander@met.police.uk"
COMMANDER_NAME = f"Ch Supt A. Example <{COMMANDER}>"
PAGE_TIMEOUT_S = 300  # the first page prepares the data (from the ingest cache when warm)


@dataclass
class Deployment:
    """The running app and the register's URL (kept out of reprs: it holds a password)."""

    app: AppServer
    url: str = field(repr=False)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, postgres, met_inputs, real_config) -> Iterator[Deployment]:
    """Steps 1-5 of the README's Deployment section; yields the app and the register URL."""
    missing = missing_prerequisites()
    if missing:
        import os

        reason = "the deployment check needs " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs them: see .ci/run)")
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("deployment")
    url = postgres.database()  # 1. createuser planner; createdb -O planner planner
    config_dir = config_copy(work, access=ACCESS)  # 2-3. PLANNER_CONFIG with the roles file

    # 4. the register a team kept on one machine, moved to PostgreSQL with the command line
    single = f"sqlite:///{work / 'register.sqlite'}"
    scenario = Scenario.from_config(real_config).changed(use_forecast=False)
    planner = User(f"Planning Team <{PLANNER_EMAIL}>", PLANNER)
    api.save_plan(
        register_at(single), api.plan(met_inputs, scenario), "Deployment check", user=planner
    )
    backup = work / "register-backup.json"
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ENV_URL, single)
        assert main(["--config", str(config_dir), "register", "export", str(backup)]) == 0
        env.setenv(ENV_URL, url)
        imported = ["register", "import", str(backup), "--user", PLANNER_EMAIL]
        assert main(["--config", str(config_dir), *imported]) == 0

    # 5. the app, headless, on loopback, with the URL and the configuration in its environment
    app = AppServer(work)
    app.env |= {ENV_URL: url, "PLANNER_CONFIG": str(config_dir), "PLANNER_DATA": str(DATA)}
    app.start()
    try:
        app.wait_ready()
        yield Deployment(app, url)
    finally:
        app.stop()


def _browse(playwright, base: str, path: str, headers: dict[str, str]):
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), timeout=60_000
    )
    context = browser.new_context(viewport=VIEWPORT, extra_http_headers=headers)
    context.route("**/*", Offline())
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_S * 1000)
    page.goto(f"{base}{path}", wait_until="domcontentloaded")
    return browser, page


def _shown(page, text: str, app: AppServer, *, timeout: float = PAGE_TIMEOUT_S) -> None:
    """Wait until the page shows *text*; fail with what it shows and the server's log."""
    try:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout * 1000)
    except Exception as exc:
        body = page.locator("body").inner_text()[-3000:]
        pytest.fail(
            f"{text!r} not shown ({type(exc).__name__}); the page shows:\n{body}\n"
            f"server log:\n{app.log_tail()}"
        )


def _overrides(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT borough_code, reason, recorded_by FROM overrides ORDER BY id"
            return [tuple(r) for r in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


def test_a_commander_signed_in_by_the_proxy_writes_to_postgres(deployment) -> None:
    from playwright.sync_api import sync_playwright

    app, url = deployment.app, deployment.url
    with sync_playwright() as playwright:
        browser, page = _browse(
            playwright, app.url, "/allocation", {"X-Forwarded-Email": COMMANDER}
        )
        try:
            # (the name and e-mail as access.toml gives them; the page may drop the <>)
            _shown(page, "Signed in as Ch Supt A. Example", app)
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
            assert COMMANDER in sidebar
            assert "(borough commander of Camden (E09000007))" in sidebar
            # the plan imported into PostgreSQL, read back by the app
            _shown(page, "Compared with plan #1 'Deployment check'", app)
            main_pane = page.locator('[data-testid="stMain"]')
            assert "by Planning Team" in main_pane.inner_text()
            wait_until_idle(page, timeout=PAGE_TIMEOUT_S)
            choose(page, "borough", "Camden")
            reason = page.locator(".st-key-override_reason input").first
            reason.fill("Deployment check: night-time economy")
            page.locator(".st-key-record_override button").first.click()
            deadline = time.monotonic() + STEP_TIMEOUT_S
            while not _overrides(url) and time.monotonic() < deadline:
                time.sleep(0.25)
            assert not page.locator('[data-testid="stException"]').count()
        finally:
            browser.close()
        assert _overrides(url) == [
            ("E09000007", "Deployment check: night-time economy", COMMANDER_NAME)
        ], app.log_tail()

        browser, page = _browse(playwright, app.url, "/allocation", {})  # no header: refused
        try:
            page.get_by_text("Sign in to use the planner").first.wait_for()
            assert (
                "has no X-Forwarded-Email header"
                in page.locator('[data-testid="stMain"]').inner_text()
            )
        finally:
            browser.close()
    assert len(_overrides(url)) == 1


def test_the_guide_names_what_this_test_does() -> None:
    """The README's Deployment section says what this test follows (and keeps saying it)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deployment", 1)[1].split("\n## ", 1)[0]
    for step in (
        "PLANNER_DB_URL=postgresql+psycopg://",
        "createdb --owner planner planner",
        'sign_in = "header"',
        'trusted_header = "X-Forwarded-Email"',
        "allow_local_mode = false",
        "PLANNER_CONFIG=",
        "planner register export",
        "planner register import",
        "--user",
        "streamlit run app.py --server.address 127.0.0.1",
        "--server.headless true",
        "tests/test_postgres_deployment.py",
    ):
        assert step in section, step
