"""Accessibility of the app in a real browser (issue 13, item 8: WCAG 2.2 AA where Streamlit
allows): axe-core on every page, headings, titles, the skip link, the map frame's name, the
keyboard path to a ward, legend text size.

axe-core comes bundled in the ``axe-playwright-python`` package (nothing is fetched); it runs
in the page and in the map's frame, and a test fails on any violation axe rates serious or
critical. The app is served as in ``tests/test_browser.py`` (its helpers are reused): offline,
every request that would leave the machine refused. Skipped with the reason where Chromium,
Playwright, axe or the data are missing; under CI that is a failure.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from planner.outputs import mapping
from tests.test_browser import (
    MAP_FRAME,
    MET_WARDS,
    PAGES,
    AppServer,
    driver,  # noqa: F401  (the Playwright fixture, shared)
    exceptions,
    launch,
    no_external_requests,
    open_page,
    serve_app,
    wait_for_ward_paths,
    wait_until_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = {"serious", "critical"}
WARD_INPUT = '.st-key-ward_pick input[role="combobox"]'
MAX_TABS_PAST_THE_MAP = 12  # Tab presses from the Layer menu to the Ward list (was 710+)


def settle(page, *, timeout_ms: int = 15_000) -> None:
    """Wait until the script has run and nothing is drawn faded as stale (Streamlit fades
    what a rerun has not redrawn yet; axe would measure the fade)."""
    wait_until_idle(page)
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')", timeout=timeout_ms
    )
    page.wait_for_timeout(300)


def axe_violations(target) -> list[dict]:
    """axe-core's violations in *target* (a Playwright page or frame), WCAG A/AA and
    best-practice rules."""
    if importlib.util.find_spec("axe_playwright_python") is None:
        pytest.fail("axe-playwright-python is not installed (pip install -r requirements.txt)")
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    return Axe().run(target, options=options).response["violations"]


def blocking(violations: list[dict]) -> list[str]:
    """Serious and critical violations, one line each with the first elements they hit."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -- "
        + "; ".join(n["html"][:120] for n in v["nodes"][:3])
        for v in violations
        if v["impact"] in BLOCKING
    ]


def map_frame(page):
    """The Playwright frame the ward map draws in."""
    element = page.locator(MAP_FRAME).first.element_handle()
    frame = element.content_frame() if element is not None else None
    assert frame is not None, "the map frame has no document"
    return frame


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[AppServer]:
    yield from serve_app(tmp_path_factory, "accessibility")


@pytest.fixture(scope="module")
def page(server, driver):  # noqa: F811
    browser, page = launch(driver)
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        wait_for_ward_paths(page, MET_WARDS)
        wait_until_idle(page)
        yield page
    finally:
        browser.close()


# --- axe-core on every page ------------------------------------------------------------------


def test_the_map_page_and_its_frame_have_no_serious_violations(page):
    open_page(page, "Map")
    wait_for_ward_paths(page, MET_WARDS)
    settle(page)
    found = blocking(axe_violations(page))
    found += [f"in the map frame: {v}" for v in blocking(axe_violations(map_frame(page)))]
    assert not found, "\n".join(found)
    assert not exceptions(page)
    no_external_requests(page)


@pytest.mark.parametrize("name", [p for p in PAGES if p != "Map"])
def test_every_other_page_has_no_serious_violations(page, name):
    open_page(page, name)
    page.get_by_role("heading", level=1).first.wait_for()
    settle(page)
    assert not (found := blocking(axe_violations(page))), "\n".join(found)
    assert not exceptions(page)


def test_a_phone_sized_map_page_has_no_serious_violations(page):
    open_page(page, "Map")
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.wait_for_timeout(1000)
        settle(page)
        assert not (found := blocking(axe_violations(page))), "\n".join(found)
    finally:
        page.set_viewport_size({"width": 1440, "height": 1000})


def test_the_get_data_page_has_no_serious_violations(tmp_path, driver):  # noqa: F811
    """Without data the app shows only its get-the-data page: checked too."""
    app = AppServer(tmp_path)
    app.env["PLANNER_DATA"] = str(tmp_path / "no-data-here")
    (tmp_path / "no-data-here").mkdir()
    app.start()
    browser = None
    try:
        app.wait_ready()
        browser, page = launch(driver)
        page.goto(app.url, wait_until="domcontentloaded")
        page.get_by_role("heading", name="The ward data are not here yet").wait_for()
        settle(page)
        assert not (found := blocking(axe_violations(page))), "\n".join(found)
        assert "Get the data" in page.title()
        no_external_requests(page)
    finally:
        if browser is not None:
            browser.close()
        app.stop()


# --- structure: titles, headings, the skip link, the map frame ---------------------------------


def test_the_first_heading_of_every_page_is_its_only_h1(page):
    for name in PAGES:
        open_page(page, name)
        page.get_by_role("heading", level=1).first.wait_for()
        headings = page.evaluate(
            """() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6, [role=heading]')]
                 .filter(h => h.offsetParent !== null)
                 .map(h => h.tagName + ' ' + h.textContent.trim())"""
        )
        assert headings and headings[0].startswith("H1 "), (name, headings[:5])
        assert sum(h.startswith("H1 ") for h in headings) == 1, (name, headings)
        assert name.split()[0] in page.title(), (name, page.title())


def test_the_skip_link_is_the_first_tab_stop_and_lands_on_the_main_content(page):
    open_page(page, "Allocation")
    page.goto(page.url, wait_until="domcontentloaded")  # a fresh load: nothing focused yet
    page.get_by_role("heading", level=1).first.wait_for()
    wait_until_idle(page)
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Skip to main content", focused
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    inside = page.evaluate(
        "() => !!document.activeElement.closest('[data-testid=\"stMain\"]')"
        " || location.hash === '#stMain'"
    )
    assert inside, "the skip link did not move to the main content"


def test_the_map_frame_is_named_for_its_layer_and_area(page):
    open_page(page, "Map")
    wait_for_ward_paths(page, MET_WARDS)
    title = page.locator(MAP_FRAME).first.get_attribute("title") or ""
    assert title.startswith("Ward map of All London"), title


def test_legend_text_is_at_least_12_px(page):
    open_page(page, "Map")
    wait_for_ward_paths(page, MET_WARDS)
    sizes = map_frame(page).evaluate(
        """() => [...document.querySelectorAll('.planner-legend, .planner-legend *')]
             .filter(e => e.textContent.trim())
             .map(e => parseFloat(getComputedStyle(e).fontSize))"""
    )
    assert sizes and min(sizes) >= 12, sorted(set(sizes))


def test_wards_without_a_score_are_hatched(page):
    open_page(page, "Map")
    wait_for_ward_paths(page, MET_WARDS)
    hatched = page.frame_locator(MAP_FRAME).first.locator(
        f'path.planner-ward[fill="url(#{mapping.NOT_SCORED_PATTERN})"]'
    )
    assert hatched.count() >= 25  # the City of London's wards at least
    assert map_frame(page).locator(f"pattern#{mapping.NOT_SCORED_PATTERN}").count() == 1


# --- the keyboard path to a ward -------------------------------------------------------------


def test_a_ward_is_chosen_from_the_keyboard_past_the_map(page):
    """Tab goes past the map in a few stops (the ward shapes are not tab stops), to the Ward
    list, where typing a name and Enter opens the ward's panel."""
    open_page(page, "Map")
    wait_for_ward_paths(page, MET_WARDS)
    container = page.frame_locator(MAP_FRAME).first.locator(".leaflet-container").first
    assert container.get_attribute("aria-label") == mapping.MAP_KEYBOARD_TEXT
    assert container.get_attribute("tabindex") == "0"  # the map itself: one Tab stop
    shapes = page.frame_locator(MAP_FRAME).first.locator("path.planner-ward")
    focusable = shapes.evaluate_all("els => els.filter(e => e.tabIndex >= 0).length")
    assert focusable == 0, f"{focusable} ward shapes are Tab stops"
    page.locator('.st-key-map_layer input[role="combobox"]').first.focus()
    for _ in range(MAX_TABS_PAST_THE_MAP):
        page.keyboard.press("Tab")
        if page.evaluate(
            f"() => document.activeElement && document.activeElement.matches({WARD_INPUT!r})"
        ):
            break
    else:
        pytest.fail(f"the Ward list was not reached in {MAX_TABS_PAST_THE_MAP} Tab presses")
    page.keyboard.type("Camden Town")
    page.get_by_role("option", name="Camden Town", exact=False).first.wait_for()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Camden Town", exact=True).first.wait_for()
    wait_until_idle(page)
    assert "95th-percentile ward" in page.locator('[data-testid="stMain"]').inner_text()
    assert not exceptions(page)


@pytest.mark.parametrize("path", ["", "allocation", "priorities"])
def test_the_borough_picker_is_on_a_phones_first_screen(server, driver, path):  # noqa: F811
    """On a phone the sidebar is folded away; the borough is chosen without opening it."""
    browser, phone = launch(driver, viewport={"width": 390, "height": 844})
    try:
        phone.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
        phone.get_by_role("heading", level=1).first.wait_for()
        wait_until_idle(phone)
        sidebar = phone.locator('[data-testid="stSidebar"]').first
        assert sidebar.get_attribute("data-collapsed") == "true"  # folded: not the way in
        picker = phone.locator('[data-testid="stMain"] .st-key-borough').first
        assert picker.is_visible()
        box = picker.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["y"] + box["height"] <= 844, box  # on the first screen, no scrolling
        main = phone.locator('[data-testid="stMain"]').inner_text()
        assert "on the right" not in main and "on the left" not in main
        no_external_requests(phone)
    finally:
        browser.close()
