"""The warm-up of a fresh server (ui/warm.py): the first page finds its data loaded.

A server started with ``streamlit run app.py`` runs :func:`ui.warm.run` as it comes up; these
tests run it in the test process, then the app with AppTest (the same process, so the same
Streamlit caches), and count what the first page still had to load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st

from planner import api
from ui import map_component, warm

pytest.importorskip("streamlit_folium", reason="the app needs streamlit-folium")
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture
def loads(monkeypatch, shared_data: Path, real_config, tmp_path: Path) -> list[str]:
    """The app's environment, emptied caches, and a list of the slow loads as they happen."""
    monkeypatch.setenv("PLANNER_DATA", str(shared_data))
    monkeypatch.setenv("PLANNER_CACHE", str(real_config.cache_dir))
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'register.sqlite'}")
    st.cache_resource.clear()  # a fresh server process: nothing loaded yet
    seen: list[str] = []
    prepare, base = api.prepare_kept, map_component.base_frame

    def counted_prepare(*args, **kwargs):
        seen.append("prepared inputs")
        return prepare(*args, **kwargs)

    def counted_base(*args, **kwargs):
        seen.append("map base")
        return base(*args, **kwargs)

    monkeypatch.setattr(api, "prepare_kept", counted_prepare)
    monkeypatch.setattr(map_component, "base_frame", counted_base)
    yield seen
    st.cache_resource.clear()  # the counting wrappers' results are not left for later tests


def first_page(timeout: float = 180) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=timeout).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Ward need: All London"  # the Map page, drawn
    return at


def test_a_warmed_servers_first_page_loads_nothing_again(loads):
    warm.run()
    assert loads == ["prepared inputs", "map base"]  # the warm-up loaded both
    first_page()
    assert loads == ["prepared inputs", "map base"]  # and the first page found them


def test_without_the_warm_up_the_first_page_loads_its_data(loads):
    first_page()
    assert loads == ["prepared inputs", "map base"]


def test_a_failing_warm_up_leaves_the_first_page_to_load(loads, monkeypatch, caplog):
    def broken() -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(warm, "_load_first_page", broken)
    warm.run()  # logged, not raised
    assert "warm-up failed" in caplog.text
    first_page()
    assert loads == ["prepared inputs", "map base"]


def test_a_session_waits_for_the_modules_only_when_a_warm_up_was_started():
    warm.wait_for_modules(timeout=0.01)  # none started in this process: returns at once
    assert not warm.warmed(timeout=0)
