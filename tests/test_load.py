"""Load check: the app serves 20 simultaneous browser sessions, each with its own plan.

Starts ``streamlit run app.py`` on a free loopback port (the real data, a throw-away plan
register: :class:`tests.test_browser.AppServer`), then opens :data:`SESSIONS` sessions at once
in one headless Chromium (one browser context each: separate cookies, so separate Streamlit
sessions). Every session opens the Allocation page (light: no map), sets its own pool of extra
officers in the "pool" number input, and reads back the caption and the allocation table. The
test asserts that no session shows an exception or an error, that each session's page states
ITS pool, and, after every session has changed its pool, that each still does (one session's
widgets never change another's plan).

Bounded: :data:`SESSIONS` sessions, :data:`TOTAL_TIMEOUT_S` for the whole run, loopback only
(CDN requests are answered locally, as in tests/test_browser.py). ``bench/load_sessions.py``
runs the same driver with other numbers and records time and server memory
(docs/load.md). Skipped where Chromium, Playwright or the data are missing; a failure under CI.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    VIEWPORT,
    AppServer,
    serve_app,
)

SESSIONS = 20
TOTAL_TIMEOUT_S = 300  # the whole run: 20 sessions opened, changed and checked
STEP_TIMEOUT_S = 240  # one session's wait for its page (the server serves 19 others)
FIRST_POOL, POOL_STEP = 110, 37  # session k sets pool FIRST_POOL + k * POOL_STEP: all differ
CAPTION = re.compile(r"\b([\d,]+) extra officers are shared out by need\b")
"""The Allocation page's summary states the pool (ui/pages/allocation.py ``how_shared``)."""

pytestmark = [
    pytest.mark.integration,  # the app serves the real data in ../shared/data
    pytest.mark.slow,  # minutes: 20 browser sessions against one server
    pytest.mark.browser,  # headless Chromium
]


@dataclass
class SessionResult:
    """What one browser session saw."""

    index: int
    pool: int
    shown_pool: int | None = None  # the pool the page's caption states after the change
    shown_at_end: int | None = None  # ... and once every session has changed its pool
    first_rows: list[str] = field(default_factory=list)  # the table's first rendered cells
    errors: list[str] = field(default_factory=list)  # exceptions and st.error texts
    seconds: float = 0.0  # from opening the page until it showed its own pool


class MemorySampler:
    """Samples a process's resident memory (VmRSS, /proc) every *interval* seconds."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = memory_kib(self.pid, "VmRSS")
            if rss is not None:
                self.samples.append(rss)
            self._stop.wait(self.interval)

    @property
    def peak_mib(self) -> float:
        return max(self.samples, default=0) / 1024


def memory_kib(pid: int, field_name: str = "VmRSS") -> int | None:
    """A memory figure of process *pid* from /proc/PID/status (kB), or None."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


# --- the driver (bench/load_sessions.py uses it too) ----------------------------------------


async def _route_offline(route) -> None:
    """As tests/test_browser.py's Offline router, for the async API: only this machine's
    requests go through, every other is refused (the app serves its map itself)."""
    url = route.request.url
    if url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:", "about:")):
        await route.continue_()
        return
    await route.abort("internetdisconnected")


async def _shown_pool(page) -> int | None:
    for text in await page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts():
        match = CAPTION.search(text)
        if match:
            return int(match.group(1).replace(",", ""))
    return None


async def _wait_for_pool(page, pool: int, timeout: float) -> None:
    await page.get_by_text(f"{pool:,} extra officers", exact=True).first.wait_for(
        timeout=timeout * 1000
    )


async def _errors(page) -> list[str]:
    found = []
    for selector in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        found += await page.locator(selector).all_inner_texts()
    return found


async def _one_session(browser, url: str, result: SessionResult, changed: asyncio.Barrier):
    context = await browser.new_context(viewport=VIEWPORT)
    await context.route("**/*", _route_offline)
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_S * 1000)
    try:
        start = time.perf_counter()
        await page.goto(f"{url}/allocation", wait_until="domcontentloaded")
        await page.get_by_role("heading", name=re.compile("^Allocation")).first.wait_for()
        pool_input = page.locator(".st-key-pool input").first
        await pool_input.fill(str(result.pool))
        await pool_input.press("Enter")
        await _wait_for_pool(page, result.pool, STEP_TIMEOUT_S)
        result.seconds = time.perf_counter() - start
        cells = page.locator('[data-testid="stDataFrame"]').first.locator("td[role=gridcell]")
        await cells.first.wait_for(state="attached")
        result.first_rows = (await cells.all_inner_texts())[:24]
        result.shown_pool = await _shown_pool(page)
        result.errors += await _errors(page)
        await changed.wait()  # every session has changed its pool: look again
        await page.wait_for_timeout(1000)
        result.shown_at_end = await _shown_pool(page)
        result.errors += await _errors(page)
    except Exception as exc:  # reported per session, never hides the others
        result.errors.append(f"{type(exc).__name__}: {exc}")
        await changed.abort()
    finally:
        await context.close()


async def _drive(url: str, results: list[SessionResult], timeout: float) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), timeout=60_000
        )
        try:
            changed = asyncio.Barrier(len(results))
            sessions = [_one_session(browser, url, r, changed) for r in results]
            await asyncio.wait_for(asyncio.gather(*sessions), timeout=timeout)
        finally:
            await browser.close()


def run_sessions(
    url: str, sessions: int = SESSIONS, *, timeout: float = TOTAL_TIMEOUT_S
) -> list[SessionResult]:
    """Open *sessions* browser sessions on *url* at once; each sets its own pool.

    Returns what each session saw; raises ``TimeoutError`` when the whole run takes longer
    than *timeout* seconds.
    """
    results = [SessionResult(k, FIRST_POOL + k * POOL_STEP) for k in range(sessions)]
    asyncio.run(_drive(url, results, timeout))
    return results


# --- the test ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[AppServer]:
    yield from serve_app(tmp_path_factory, "load")


def test_twenty_sessions_at_once_each_keep_their_own_plan(server):
    assert server.proc is not None
    with MemorySampler(server.proc.pid) as memory:
        start = time.perf_counter()
        try:
            results = run_sessions(server.url, SESSIONS, timeout=TOTAL_TIMEOUT_S)
        except TimeoutError:
            pytest.fail(f"{SESSIONS} sessions took over {TOTAL_TIMEOUT_S} s\n{server.log_tail()}")
        elapsed = time.perf_counter() - start
    failed = {r.index: r.errors for r in results if r.errors}
    assert not failed, f"sessions with errors: {failed}\nserver log:\n{server.log_tail()}"
    for r in results:
        assert r.shown_pool == r.pool, (r.index, r.pool, r.shown_pool)
        assert r.shown_at_end == r.pool, (r.index, r.pool, r.shown_at_end)
        assert any(re.fullmatch(r"E05\d{6}", c) for c in r.first_rows), r.first_rows
    assert len({r.shown_at_end for r in results}) == SESSIONS
    print(
        f"\n{SESSIONS} sessions in {elapsed:.1f} s; slowest session "
        f"{max(r.seconds for r in results):.1f} s; server peak RSS {memory.peak_mib:.0f} MiB"
    )
