"""The app with a plan register it cannot write: it says so up front and offers no write.

The register file is made unwritable as a read-only mount would make it (``os.access``
answers no for writing; root ignores file modes, so the modes alone prove nothing here).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("streamlit_folium", reason="the app needs streamlit-folium")
from streamlit.testing.v1 import AppTest

from tests.factories import register_at

APP = Path(__file__).resolve().parents[1] / "app.py"
CAMDEN = "E09000007"
NOTICE = "The plan register is read-only"
WRITE_BUTTONS = {"Allocation": ("record_override", "save_plan"), "Borough priorities": ("agree",)}
PAGES = {"Allocation": "ui/pages/allocation.py", "Borough priorities": "ui/pages/priorities.py"}


def _app(monkeypatch, shared_data: Path, real_config, url: str) -> AppTest:
    monkeypatch.setenv("PLANNER_DATA", str(shared_data))
    monkeypatch.setenv("PLANNER_CACHE", str(real_config.cache_dir))
    monkeypatch.setenv("PLANNER_DB_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    at.selectbox(key="borough").set_value(CAMDEN).run()
    return at


def _notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if NOTICE in w.value]


@pytest.fixture
def unwritable(tmp_path: Path, monkeypatch) -> str:
    import planner.register.database as database

    path = tmp_path / "ro" / "register.sqlite"
    register_at(f"sqlite:///{path}").list_plans()  # created, then closed
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    real_access = os.access
    monkeypatch.setattr(
        database.os,
        "access",
        lambda p, mode, **kw: (
            False
            if mode == os.W_OK and Path(p) in {path, path.parent}
            else real_access(p, mode, **kw)
        ),
    )
    return f"sqlite:///{path}"


@pytest.mark.integration
def test_a_read_only_register_is_said_once_per_page_and_the_write_buttons_are_off(
    monkeypatch, shared_data, real_config, unwritable
):
    at = _app(monkeypatch, shared_data, real_config, unwritable)
    assert len(_notices(at)) == 1  # on the Map page too: up front, before anything is tried
    assert "Make the folder writable" in _notices(at)[0]
    for title, keys in WRITE_BUTTONS.items():
        at.switch_page(PAGES[title]).run()
        assert not at.exception, (title, at.exception)
        assert len(_notices(at)) == 1, title
        for key in keys:
            assert at.button(key=key).disabled, (title, key)


@pytest.mark.integration
def test_a_writable_register_shows_no_notice_and_the_buttons_work(
    monkeypatch, shared_data, real_config, tmp_path
):
    at = _app(monkeypatch, shared_data, real_config, f"sqlite:///{tmp_path / 'reg.sqlite'}")
    assert not _notices(at)
    for title, keys in WRITE_BUTTONS.items():
        at.switch_page(PAGES[title]).run()
        assert not _notices(at), title
        for key in keys:
            assert not at.button(key=key).disabled, (title, key)
