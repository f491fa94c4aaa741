"""The map page: hot spots said honestly, the window end following the data set.

What the browser shows (the polygons, a click, the zoom kept) is in tests/test_browser.py;
these are the words and choices, checked with AppTest and on the views behind them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.outputs import views

pytest.importorskip("streamlit_folium", reason="the app needs streamlit-folium")
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"


def report(**changes) -> dict:
    base = {
        "alpha": 0.05,
        "fdr": True,
        "wards": 679,
        "hot_spots": 0,
        "cold_spots": 0,
        "significant_uncorrected": 104,
    }
    return {**base, **changes}


@dataclass
class FakeSpots:
    table: pd.DataFrame

    @property
    def classes(self) -> pd.Series:
        return self.table["hot_spot"]


def spots() -> FakeSpots:
    table = pd.DataFrame(
        {
            "gi_z": [3.0, -2.5, 0.1, 2.2],
            "p_value": [0.01, 0.02, 0.60, 0.04],
            "hot_spot": ["hot spot", "not significant", "not significant", "not significant"],
        },
        index=pd.Index(["E05000001", "E05000002", "E05000003", "E05000004"], name="ward_code"),
    )
    return FakeSpots(table)


def test_none_significant_after_the_correction_is_said_with_the_level_and_the_count_before():
    summary = views.hot_spot_summary(report())
    assert summary.significant == 0 and summary.significant_uncorrected == 104
    assert "No ward is a hot or cold spot of harm after the false-discovery-rate" in summary.text
    assert "q at most 5 %" in summary.text and "679 wards" in summary.text
    assert "Before the correction 104 ward(s) had p at most 5 %" in summary.text
    assert "about 34 would by chance alone" in summary.text


def test_spots_found_after_the_correction_are_counted():
    summary = views.hot_spot_summary(report(hot_spots=12, cold_spots=3))
    assert summary.significant == 15
    assert "12 hot and 3 cold spot(s) of harm after the false-discovery-rate" in summary.text


def test_without_the_correction_the_text_says_there_is_none():
    summary = views.hot_spot_summary(report(fdr=False, hot_spots=40, significant_uncorrected=40))
    assert "with no correction for testing 679 wards" in summary.text
    assert "Before the correction" not in summary.text


def test_the_corrected_layer_is_the_model_s_and_the_exploratory_one_is_labelled():
    summary = views.hot_spot_summary(report(hot_spots=1, significant_uncorrected=3))
    classes, label = views.hot_spot_layer(spots(), summary)
    assert list(classes) == list(spots().classes) and label == "of harm (Gi*, q at most 5 %)"
    classes, label = views.hot_spot_layer(spots(), summary, exploratory=True)
    assert list(classes) == ["hot spot", "cold spot", "", "hot spot"]
    assert "uncorrected (exploratory" in label


# --- the page, on the real data (AppTest) ---------------------------------------------------


@pytest.fixture
def app(monkeypatch, shared_data: Path, real_config, tmp_path: Path) -> AppTest:
    monkeypatch.setenv("PLANNER_DATA", str(shared_data))
    monkeypatch.setenv("PLANNER_CACHE", str(real_config.cache_dir))
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'register.sqlite'}")
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.caption)


@pytest.mark.integration
def test_hot_spots_say_how_many_after_the_correction_and_offer_the_exploratory_layer(app):
    app.checkbox(key="show_hot_spots").check().run()
    assert not app.exception, app.exception
    text = captions(app).replace("\\", "")
    assert "after the false-discovery-rate correction for testing 679 wards" in text
    before = re_number(text, r"(\d+) ward\(s\) had p at most 5 %")
    match = re.search(r"(\d+) hot and (\d+) cold spot", text)
    after = int(match.group(1)) + int(match.group(2)) if match else 0
    assert match or "No ward is a hot or cold spot" in text
    toggles = [t for t in app.toggle if t.key == "hot_spots_uncorrected"]
    assert bool(toggles) == (before > after)  # offered only when it shows more
    if toggles:  # the real data: 0 after the correction, about a hundred before
        assert f"Show the {before} uncorrected" in toggles[0].label
        assert "(exploratory)" in toggles[0].label
        toggles[0].set_value(True).run()
        assert not app.exception, app.exception


def re_number(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    assert match, (pattern, text)
    return int(match.group(1))


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore::planner.errors.PlannerWarning")
def test_the_window_end_follows_the_data_set(app):
    """A month the new data set lacks (2026-01 on 2016-17 data) must not stay selected."""
    met_end = app.selectbox(key="window_end").value
    app.selectbox(key="dataset").set_value("policeuk-2014").run()
    assert not app.exception, app.exception
    box = app.selectbox(key="window_end")
    assert box.value in box.options and box.value != met_end
    assert box.value == box.options[0]  # the newest month of the new data set
    assert np.all(np.array(box.options[:-1]) > np.array(box.options[1:]))  # newest first
