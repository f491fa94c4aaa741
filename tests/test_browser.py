"""A real-browser check of the Streamlit app: what AppTest cannot see (the Leaflet map).

Starts ``streamlit run app.py`` on a free port (data from ``../shared/data``, a throw-away plan
register), opens it in headless Chromium (``/usr/bin/chromium``, driven by Playwright), waits
until the ward polygons are drawn, clicks a ward and checks that the side panel names it, and
saves a screenshot of every page to ``bench/results/screenshots/`` and ``docs/screenshots/``.

No network is needed, or used: the app serves everything the map needs itself (Leaflet inlined
from the ``django-js-lib-leaflet`` package, no tiles by default), and the browser refuses every
request that would leave the machine (:class:`Offline` aborts it, serving nothing in its
place). Each refused request is recorded, and a test fails if any page made one.

Skipped with the reason where Chromium, Playwright, the Leaflet package, app.py or the data are
missing; under CI (``CI`` set) a missing prerequisite is a failure instead, since CI installs
them. Every wait is bounded, and the server is always stopped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.outputs import mapping

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
DATA = REPO.parent / "shared" / "data"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
)
SCREENSHOTS = (REPO / "bench" / "results" / "screenshots", REPO / "docs" / "screenshots")
PAGES = ("Map", "Allocation", "Borough priorities", "Methodology and data quality")
MAP_FRAME = 'iframe[title^="Ward map"], iframe[title="streamlit_folium.st_folium"]'
MAP_COMPONENT = "planner_ward_map"  # ui.map_component: the map frame's address contains it
FILLS = "els => els.map(e => e.getAttribute('fill')).join(',')"
WARD_PATHS = "path.planner-ward"  # mapping.WARD_CLASS: the clickable ward polygons
LOCAL = ("http://127.0.0.1", "http://localhost", "data:", "blob:", "about:", "file:")
MET_WARDS = 679  # scored wards of the default data set (the May 2022 wards less the City's 25)

SERVER_TIMEOUT_S = 120  # the server answers its health check
MAP_TIMEOUT_S = 420  # first map: a cold cache ingests the data and fits the forecast first
STEP_TIMEOUT_S = 90  # a page switch or a click
VIEWPORT = {"width": 1440, "height": 1000}


# --- helpers (bench/bench_app.py uses them too) ----------------------------------------------


def missing_prerequisites() -> list[str]:
    """What the browser check needs and this machine lacks (empty when it can run)."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -r requirements.txt)")
    if importlib.util.find_spec(mapping.LEAFLET_PACKAGE) is None:
        missing.append("the django-js-lib-leaflet package (pip install -r requirements.txt)")
    if not APP.is_file():
        missing.append(f"{APP}")
    if not DATA.is_dir():
        missing.append(f"the real data at {DATA}")
    return missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """``streamlit run app.py`` in its own process group, its output in a log file."""

    def __init__(self, work_dir: Path, *, port: int | None = None, cwd: Path = REPO) -> None:
        self.port = port or free_port()
        self.cwd = cwd  # the data cache is ./.cache/planner: another folder starts it empty
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work_dir / "streamlit.log"
        self.env = {
            **os.environ,
            "PLANNER_DATA": str(DATA),
            "PLANNER_DB_URL": f"sqlite:///{work_dir / 'reg.sqlite'}",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> AppServer:
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        self.started = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        return self

    def wait_ready(self, timeout: float = SERVER_TIMEOUT_S) -> float:
        """Seconds from start until ``/_stcore/health`` answers ok; raises on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log_tail()}")
            health = f"{self.url}/_stcore/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - self.started
            time.sleep(0.25)
        raise TimeoutError(f"streamlit did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the server's process group, then SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.is_file():
            return "(no log)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class Offline:
    """A request router that lets only this machine's requests through and records the rest."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def __call__(self, route) -> None:
        url = route.request.url
        if url.startswith(LOCAL):
            route.continue_()
            return
        self.refused.append(url)
        route.abort("internetdisconnected")


def launch(playwright, *, viewport: dict | None = None):
    """Headless Chromium and a page whose requests never leave this machine.

    Returns the browser, the page and the :class:`Offline` router (``page.refused`` lists
    the requests it refused, too).
    """
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), timeout=60_000
    )
    context = browser.new_context(viewport=viewport or VIEWPORT)
    offline = Offline()
    context.route("**/*", offline)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_S * 1000)
    page.refused = offline.refused
    return browser, page


def ward_paths(page):
    """The Leaflet ward polygons inside the st_folium iframe."""
    return page.frame_locator(MAP_FRAME).first.locator(WARD_PATHS)


def wait_for_ward_paths(page, at_least: int, *, timeout: float = MAP_TIMEOUT_S) -> int:
    """Wait until the map shows at least *at_least* polygons; returns how many it shows."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the iframe may not exist yet
            count = ward_paths(page).count()
        if count >= at_least:
            return count
        time.sleep(0.2)
    raise TimeoutError(f"the map showed {count} ward polygons after {timeout} s, not {at_least}")


def wait_until_idle(page, *, timeout: float = STEP_TIMEOUT_S) -> None:
    """Wait until Streamlit has finished running the script (no "Running..." for 0.5 s)."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').filter(has_text="Running")
        if running.count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 0.5:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the app was still running after {timeout} s")


def open_page(page, title: str) -> None:
    """Click the navigation link titled *title* and wait for the page to run."""
    page.get_by_role("link", name=title, exact=True).first.click()
    wait_until_idle(page)


def choose(page, key: str, option: str) -> None:
    """Pick *option* in the selectbox with widget key *key* (typed into its search box)."""
    page.locator(f".st-key-{key}").first.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_until_idle(page)


def table_cells(page) -> list[str]:
    """The text of the first table's rendered cells (st.dataframe keeps them in the DOM)."""
    return (
        page.locator('[data-testid="stDataFrame"]')
        .first.locator("td[role=gridcell]")
        .all_inner_texts()
    )


def exceptions(page) -> list[str]:
    """Tracebacks the app shows (st.exception boxes)."""
    return page.locator('[data-testid="stException"]').all_inner_texts()


def save_screenshot(
    page, name: str, *, max_height: int = 3200, width: int | None = None
) -> list[Path]:
    """A PNG of the whole page in every folder of :data:`SCREENSHOTS`.

    Streamlit scrolls inside its main pane, so the viewport is made as tall as the content
    (at most *max_height* pixels) for the picture, then restored. With *width* the page is
    first laid out at that width (e.g. 390 for a phone) and the file name ends ``_<width>``.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if width is not None:
        slug += f"_{width}"
        page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
        page.wait_for_timeout(1000)
    height = page.evaluate(
        """() => Math.max(window.innerHeight, ...[...document.querySelectorAll(
               '[data-testid="stMain"], [data-testid="stSidebarContent"]')]
             .map(e => e.scrollHeight))"""
    )
    page.mouse.move(1, 1)  # no tooltip over the picture
    shot_width = width or VIEWPORT["width"]
    page.set_viewport_size({"width": shot_width, "height": min(height, max_height)})
    try:
        page.wait_for_timeout(1000)  # charts and tables redraw for the new size
        wait_until_idle(page)
        page.wait_for_timeout(1500)
        first = SCREENSHOTS[0] / f"{slug}.png"
        first.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(first))
    finally:
        page.set_viewport_size(VIEWPORT)
    paths = [first]
    for folder in SCREENSHOTS[1:]:
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(Path(shutil.copy2(first, folder / first.name)))
    return paths


# --- fixtures --------------------------------------------------------------------------------


def serve_app(tmp_path_factory, purpose: str) -> Iterator[AppServer]:
    """Start the app for a module of tests; skip (fail under CI) without its prerequisites."""
    missing = missing_prerequisites()
    if missing:
        reason = f"the {purpose} check needs " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs them: see .ci/run)")
        pytest.skip(reason)
    app = AppServer(tmp_path_factory.mktemp(purpose)).start()
    try:
        app.wait_ready()
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[AppServer]:
    yield from serve_app(tmp_path_factory, "browser")


@pytest.fixture(scope="module")
def driver():
    """Playwright, once for the module (its sync API cannot be started twice at once)."""
    missing = [m for m in missing_prerequisites() if "real data" not in m]
    if missing:
        if os.environ.get("CI"):
            pytest.fail("; ".join(missing))
        pytest.skip("; ".join(missing))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def page(server, driver):
    browser, page = launch(driver)
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        yield page
    finally:
        browser.close()


def no_external_requests(page) -> None:
    """Fail if the page tried to reach anything beyond this machine (all refused)."""
    assert not page.refused, f"requests that would leave the machine: {page.refused[:10]}"


def both_widths(page, name: str) -> None:
    """Screenshots at 1440 px (the default viewport), 1024 px (a small laptop) and 390 px (a
    phone)."""
    save_screenshot(page, name)
    save_screenshot(page, name, width=1024)
    save_screenshot(page, name, width=390)
    wait_until_idle(page)


# --- the checks (in order: one browser, one server) ------------------------------------------


def test_map_draws_every_ward_offline(server, page):
    try:
        count = wait_for_ward_paths(page, MET_WARDS)
    except TimeoutError as exc:
        pytest.fail(f"{exc}\nserver log:\n{server.log_tail()}")
    assert count >= MET_WARDS  # the City's 25 wards are drawn too, grey ("not scored")
    frame = page.frame_locator(MAP_FRAME).first
    assert frame.locator("path.planner-borough").count() >= 32  # the base: borough outlines
    assert frame.locator(".planner-no-map").count() == 0  # the "no map" note was removed
    assert frame.locator("img.leaflet-tile").count() == 0  # no tiles unless asked for
    assert not exceptions(page)
    no_external_requests(page)


def test_the_map_frame_is_named(page):
    wait_for_ward_paths(page, MET_WARDS)
    title = page.locator(MAP_FRAME).first.get_attribute("title")
    assert title == "Ward map of All London: Need score", title


def test_the_special_ward_is_labelled_on_the_map(page):
    label = page.frame_locator(MAP_FRAME).first.locator(".leaflet-tooltip.planner-special")
    label.first.wait_for(state="attached")
    texts = label.all_inner_texts()
    assert any(t.startswith("Heathrow Villages: special ward") and "no extras" in t for t in texts)


def test_clicking_a_ward_names_it_in_the_side_panel(server, page):
    wait_for_ward_paths(page, MET_WARDS)
    wait_until_idle(page)
    name, point = hover_ward(page)
    panel = page.get_by_role("heading", name=name, exact=True)
    assert panel.count() == 0, f"{name} was named before the click"
    page.mouse.click(*point)
    try:
        panel.first.wait_for(timeout=STEP_TIMEOUT_S * 1000)
    except Exception as exc:
        pytest.fail(f"the side panel did not name {name!r} after the click: {exc}")
    wait_until_idle(page)
    assert not exceptions(page)
    assert "95th-percentile ward" in page.locator('[data-testid="stMain"]').inner_text()
    no_external_requests(page)
    both_widths(page, "Map")


def map_frame(page):
    """The map component's frame (Playwright's Frame, to evaluate Leaflet in it)."""
    frames = [f for f in page.frames if MAP_COMPONENT in f.url]
    assert len(frames) == 1, [f.url for f in page.frames]
    return frames[0]


def view_of(page) -> list:
    """The map's zoom and centre."""
    return map_frame(page).evaluate(
        "() => [map.getZoom(), map.getCenter().lat, map.getCenter().lng]"
    )


def press_and_wait_for_new_fills(page, key_selector: str, key: str) -> float:
    """Press *key* on the widget *key_selector*; seconds until the ward fills change."""
    before = ward_paths(page).evaluate_all(FILLS)
    page.locator(key_selector).first.focus()
    start = time.monotonic()
    page.keyboard.press(key)
    while ward_paths(page).evaluate_all(FILLS) == before:
        if time.monotonic() - start > STEP_TIMEOUT_S:
            raise AssertionError(f"the map kept its colours {STEP_TIMEOUT_S} s after {key}")
        time.sleep(0.02)
    return time.monotonic() - start


def test_zoom_and_centre_are_kept_after_a_weight_change(page):
    open_page(page, "Map")
    wait_for_ward_paths(page, MET_WARDS)
    wait_until_idle(page)
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator(".leaflet-control-zoom-in").click()
    page.wait_for_timeout(1000)  # the zoom animation
    zoomed = view_of(page)
    map_frame(page).evaluate("() => { window.plannerMounted = 'once'; }")
    press_and_wait_for_new_fills(page, ".st-key-w_harm input[type=range]", "ArrowRight")
    wait_until_idle(page)
    assert map_frame(page).evaluate("() => window.plannerMounted") == "once"  # not remounted
    assert view_of(page) == pytest.approx(zoomed)
    press_and_wait_for_new_fills(page, ".st-key-w_harm input[type=range]", "ArrowLeft")
    wait_until_idle(page)
    assert view_of(page) == pytest.approx(zoomed)
    assert not exceptions(page)
    no_external_requests(page)


def test_hot_spots_say_how_many_and_the_exploratory_layer_is_drawn(page):
    """The issue: 0 hot spots after the correction (104 before), and the box seemed to do
    nothing. The map now says so, and the uncorrected outlines are an exploratory layer."""
    open_page(page, "Map")
    wait_for_ward_paths(page, MET_WARDS)
    map_frame(page).evaluate("() => { window.plannerMounted = 'before hot spots'; }")
    page.locator(".st-key-show_hot_spots").get_by_text("Hot spots of harm").click()
    main = page.locator('[data-testid="stMain"]')
    words = "after the false-discovery-rate correction for testing 679 wards"
    main.get_by_text(words).first.wait_for(timeout=MAP_TIMEOUT_S * 1000)  # Gi*: 999 shuffles
    wait_until_idle(page)
    legend = page.frame_locator(MAP_FRAME).first.locator(".planner-legend")
    assert "Hot spot of harm (Gi*, q at most 5 %)" in legend.text_content()
    assert map_frame(page).evaluate("() => window.plannerMounted") == "before hot spots"
    toggle = page.locator(".st-key-hot_spots_uncorrected")
    if toggle.count():  # offered when the uncorrected test finds more
        hot = f'path[stroke="{mapping.HOT_SPOT_COLOUR}"]'
        outlines = page.frame_locator(MAP_FRAME).first.locator(hot)
        before = outlines.count()
        toggle.get_by_text("uncorrected").click()
        wait_until_idle(page)
        legend.filter(has_text="exploratory").wait_for()
        assert outlines.count() > before
        save_screenshot(page, "Map hot spots exploratory")
        toggle.get_by_text("uncorrected").click()
        wait_until_idle(page)
    page.locator(".st-key-show_hot_spots").get_by_text("Hot spots of harm").click()
    wait_until_idle(page)
    assert not exceptions(page)
    no_external_requests(page)


@pytest.mark.parametrize("width", [1366, 1024], ids=["1366x768", "1024x768"])
def test_the_first_click_selects_a_ward_on_a_768_px_high_screen(server, driver, width):
    """Pressing on a ward used to scroll the page 121 px at this height, and the click missed."""
    browser, page = launch(driver, viewport={"width": width, "height": 768})
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        wait_for_ward_paths(page, MET_WARDS)
        wait_until_idle(page)
        box = page.locator(MAP_FRAME).first.bounding_box()
        assert box["y"] + box["height"] <= 768, box  # the whole map on the screen
        scrolled = "() => Math.max(window.scrollY, ...[...document.querySelectorAll('*')].map(e => e.scrollTop))"
        before = page.evaluate(scrolled)
        name, point = hover_ward(page)
        page.mouse.click(*point)
        page.get_by_role("heading", name=name, exact=True).first.wait_for(
            timeout=STEP_TIMEOUT_S * 1000
        )
        assert page.evaluate(scrolled) == before  # the press scrolled nothing
        assert not exceptions(page)
        no_external_requests(page)
    finally:
        browser.close()


def test_allocation_page(page):
    open_page(page, "Allocation")
    page.get_by_role("heading", name=re.compile("^Allocation")).first.wait_for()
    page.locator('[data-testid="stDataFrame"] td[role=gridcell]').first.wait_for(state="attached")
    cells = table_cells(page)
    assert any(re.fullmatch(r"E05\d{6}", c) for c in cells), cells[:12]
    assert not exceptions(page)
    no_external_requests(page)


def test_allocation_shows_the_pas_panel_with_a_borough_chosen(page):
    choose(page, "borough", "Camden")
    page.get_by_role("heading", name="Allocation: Camden").first.wait_for()
    panel = page.locator(".st-key-pas_allocation").first
    panel.wait_for()
    text = panel.inner_text()
    assert "Public confidence in Camden" in text and "Survey quarter ending" in text
    assert not exceptions(page)
    no_external_requests(page)
    both_widths(page, "Allocation")


def test_borough_priorities_page(page):
    open_page(page, "Borough priorities")
    choose(page, "borough", "Camden")
    page.get_by_role("heading", name="Local priorities: Camden").first.wait_for()
    page.get_by_role("heading", name="Proposed local priorities").first.wait_for()
    assert "times the London rate" in page.locator('[data-testid="stMain"]').inner_text()
    assert not exceptions(page)
    no_external_requests(page)
    both_widths(page, "Borough priorities")


def test_methodology_page(page):
    open_page(page, "Methodology and data quality")
    page.get_by_role("heading", name="Methodology and data quality").first.wait_for()
    page.get_by_role("heading", name="Data quality of the loaded data").first.wait_for()
    assert not exceptions(page)
    no_external_requests(page)
    both_widths(page, "Methodology and data quality")


def test_every_page_has_its_own_title_and_one_h1(page):
    titles = {}
    for name in PAGES:
        open_page(page, name)
        page.wait_for_timeout(500)
        titles[name] = page.title()
        main = page.locator('[data-testid="stMain"] h1')
        assert main.count() == 1, (name, main.all_inner_texts())
        assert page.locator("h1").count() == 1, (name, page.locator("h1").all_inner_texts())
    assert len(set(titles.values())) == len(PAGES), titles
    assert all(name in title for name, title in titles.items()), titles


def test_the_window_end_follows_the_data_set(page):
    """Switching data set used to leave the selector on 2026-01 with 2016-17 data: the month
    the plan used (the newest of the new data) is the month the selector shows. Last of the
    server's checks: it leaves the app on the other data set."""
    open_page(page, "Map")
    choose(page, "dataset", "policeuk-2014")
    legend = page.frame_locator(MAP_FRAME).first.locator(".planner-legend")
    legend.filter(has_text="2017-01 to 2017-12").wait_for(timeout=MAP_TIMEOUT_S * 1000)
    wait_until_idle(page)
    shown = page.locator('.st-key-window_end input[role="combobox"]').first.input_value()
    assert shown == "2017-12", shown
    assert not exceptions(page)
    no_external_requests(page)


# --- the map alone, in a saved page (no server): hostile names, and no map ------------------


HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def browser_page(driver):
    """A bare offline page (Chromium and Playwright only; no app, no data)."""
    browser, page = launch(driver, viewport={"width": 800, "height": 600})
    try:
        yield page
    finally:
        browser.close()


def hostile_map(tmp_path: Path, **kwargs) -> Path:
    """Two square wards named with an HTML payload, the map saved as a page."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    wards = gpd.GeoDataFrame(
        {
            "ward_name": [HOSTILE, f"Ward {HOSTILE}"],
            "borough_code": ["E09000001", "E09000001"],
            "borough_name": [f"Borough {HOSTILE}", f"Borough {HOSTILE}"],
        },
        geometry=[shapely.box(530_000, 180_000, 532_000, 182_000),
                  shapely.box(532_000, 180_000, 534_000, 182_000)],
        index=pd.Index(["E05000001", "E05000002"], name="ward_code"),
        crs="EPSG:27700",
    )  # fmt: skip
    display = mapping.display_wards(wards)
    fmap = mapping.ward_map(
        display, pd.Series([1.0, 2.0], index=display.index), layer="need_score",
        title=f"Need {HOSTILE}", special={"E05000002": f"{HOSTILE}: reason"},
        base=mapping.base_layers(wards), **kwargs,
    )  # fmt: skip
    path = tmp_path / "map.html"
    path.write_text(fmap.get_root().render(), encoding="utf-8")
    return path


def test_a_hostile_ward_name_raises_no_dialog_and_shows_as_text(browser_page, tmp_path):
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(hostile_map(tmp_path).as_uri())
    page.locator(f"path.{mapping.WARD_CLASS}").first.wait_for(state="attached")
    box = page.locator(f"path.{mapping.WARD_CLASS}").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)
    tooltip = page.locator(".leaflet-tooltip:not(.planner-special)").first
    tooltip.wait_for(state="visible", timeout=10_000)
    page.wait_for_timeout(500)
    assert HOSTILE in tooltip.inner_text()  # the name as text, not as an element
    assert page.locator("img[src=x]").count() == 0
    assert HOSTILE in page.locator(".leaflet-tooltip.planner-special").first.inner_text()
    assert not dialogs, dialogs
    no_external_requests(page)


def test_a_map_that_cannot_draw_says_so_and_names_the_ward_list(
    browser_page, tmp_path, monkeypatch
):
    assets = mapping.leaflet_assets()
    assert assets is not None
    broken = mapping.LeafletAssets(
        js="throw new Error('Leaflet blocked');", css="", source=assets.source
    )
    monkeypatch.setattr(mapping, "leaflet_assets", lambda: broken)
    page = browser_page
    page.goto(hostile_map(tmp_path).as_uri())
    note = page.locator(".planner-no-map")
    note.wait_for(state="visible", timeout=10_000)
    assert "Ward list" in note.inner_text() and "Allocation page" in note.inner_text()
    assert page.locator(f"path.{mapping.WARD_CLASS}").count() == 0


# --- map helpers -----------------------------------------------------------------------------


def hover_ward(page) -> tuple[str, tuple[float, float]]:
    """Move the mouse onto a large ward polygon; returns the ward's name from the tooltip.

    Large polygons wholly inside the map are tried first (the middle of a big polygon's box is
    inside it more often); whatever ward lies under the mouse, the tooltip names it.
    """
    origin = page.locator(MAP_FRAME).first.bounding_box()
    rects = ward_paths(page).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; })"
    )
    inside = [
        (x, y, w, h) for x, y, w, h in rects
        if x >= 0 and y >= 0 and x + w <= origin["width"] and y + h <= origin["height"]
    ]  # fmt: skip
    inside.sort(key=lambda r: -r[2] * r[3])
    tips = page.frame_locator(MAP_FRAME).first.locator(".leaflet-tooltip:not(.planner-special)")
    tooltip = tips.first  # not the special ward's permanent label
    for x, y, w, h in inside[:10]:
        point = (origin["x"] + x + w / 2, origin["y"] + y + h / 2)
        page.mouse.move(*point)
        with contextlib.suppress(Exception):
            tooltip.wait_for(state="visible", timeout=5_000)
            name = _tooltip_ward(tooltip.inner_text())
            if name:
                return name, point
    raise AssertionError(f"no ward tooltip over the 10 largest of {len(inside)} ward polygons")


def _tooltip_ward(text: str) -> str | None:
    """The ward's name from a folium GeoJsonTooltip ("Ward <tab> Belsize ...")."""
    for line in text.splitlines():
        label, _, value = line.partition("\t")
        if label.strip().lower() == "ward" and value.strip():
            return value.strip()
    match = re.search(r"^\s*Ward\s+(.+?)\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


# --- current staffing: the template downloaded, filled in and uploaded as a user would --------


def test_current_staffing_upload_shows_now_proposed_and_change_and_enables_damping(
    server, driver, tmp_path
):
    import pandas as pd

    browser, page = launch(driver)
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        wait_for_ward_paths(page, 600)
        open_page(page, "Allocation")
        page.get_by_role("heading", name=re.compile("^Allocation")).first.wait_for()
        sidebar = page.locator('[data-testid="stSidebar"]')
        damping = sidebar.get_by_role("spinbutton", name="Damping: most change per ward")
        assert damping.is_disabled()  # no current staffing yet: nothing to damp against
        with page.expect_download() as info:
            page.get_by_role("button", name="Current-staffing template (CSV)").click()
        template = pd.read_csv(info.value.path(), comment="#")
        assert {"ward_code", "dwo", "pcso"} <= set(template.columns), template.columns
        filled = template.assign(dwo=2, pcso=1)
        upload = tmp_path / "lambeth_staffing_now.csv"
        filled.to_csv(upload, index=False)
        sidebar.locator(".st-key-current_staffing input[type=file]").set_input_files(upload)
        wait_until_idle(page)
        sidebar.get_by_text(f"{len(filled)} wards' current teams").first.wait_for()
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text(
            re.compile(r"Current staffing given for \d+ of \d+ wards")
        ).first.wait_for()
        assert not damping.is_disabled()
        damping.fill("1")
        damping.press("Enter")
        wait_until_idle(page)
        main.get_by_text("Damping: extras move at most 1 per ward").first.wait_for()
        assert not exceptions(page)
        no_external_requests(page)
    finally:
        browser.close()
