"""No-data ward-months through the need model, ASB coverage by borough, and the forecast of a
short dataset (issue 11, items 1, 5 and 7), on a small grid dataset built in code.

The grid: four wards in two boroughs (E09000002: wards 1 and 2; E09000003: wards 3 and 4); the
Met's ward-level crime for 30 months; police.uk API answers with ASB for borough E09000002 only,
one of them empty (no data for its ward-month, not zero).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from planner import api
from planner.cli import main
from planner.config import SourceSpec
from planner.errors import PlannerWarning
from planner.scenario import Scenario
from tests.factories import (
    api_archive,
    api_crime,
    config_copy,
    grid_dataset,
    met_ward_csv,
    ward_centre_lonlat,
)

WARDS = [f"E0500000{k}" for k in range(1, 5)]
MONTHS = [f"{y}-{m:02d}" for y in (2015, 2016, 2017) for m in range(1, 13)][6:]  # 30 months
ASB_MONTHS = [m for m in MONTHS if m >= "2017-01"]
EMPTY = ("2017-03", WARDS[0])  # an empty API answer: ward 1 has no ASB data that month


def write_grid_data(root) -> None:
    data = root / "data"
    rows = [
        ("BURGLARY", "BURGLARY BUSINESS AND COMMUNITY", code, [k + 3] * len(MONTHS))
        for k, code in enumerate(WARDS, start=1)
    ]
    (data / "met.csv").write_text(met_ward_csv(rows, [m.replace("-", "") for m in MONTHS]))
    (data / "lookups").mkdir(exist_ok=True)
    (data / "population").mkdir(exist_ok=True)
    (data / "lookups" / "lsoa21_ward22_bf.csv").write_text(
        "lsoa21cd,ward22cd\n" + "".join(f"E0100000{k},{w}\n" for k, w in enumerate(WARDS, 1))
    )
    (data / "population" / "london_lsoa11_lsoa21_census2011_2021_TotalRes_merge_efit.csv").write_text(
        "LSOA21CD,LAD22CD,TotalRes21\n"
        + "".join(f"E0100000{k},E0900000{2 + (k > 2)},{5000 + k}\n" for k in range(1, 5))
    )  # fmt: skip
    api_dir = data / "api"
    api_dir.mkdir(exist_ok=True)
    for month in ASB_MONTHS:
        tag = month.replace("-", "_")
        members: dict[str, object] = {}
        for n, code in enumerate(WARDS[:2]):
            name = f"crime_month_{tag}_area_{code}_0.json"
            records = [
                api_crime(10_000 * n + 100 * int(tag[-2:]) + i, month, "anti-social-behaviour",
                          ward_centre_lonlat(code))
                for i in range(6)
            ]  # fmt: skip
            members[name] = b"" if (month, code) == EMPTY else records
        api_archive(api_dir / f"london_month_{tag}.tar.gz", members)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    sources = [
        SourceSpec(kind="mps_ward", path="met.csv"),
        SourceSpec(kind="police_uk_api", path="api", categories=("Anti-social behaviour",)),
    ]
    config = grid_dataset(root, sources, boroughs=2)
    write_grid_data(root)
    return root, config


@pytest.fixture(scope="module")
def inputs(grid):
    _, config = grid
    scenario = Scenario.from_config(config).changed(use_forecast=False)
    return api.prepare(config, scenario)


def test_asb_of_a_borough_the_source_does_not_cover_is_missing_not_zero(inputs):
    feats = inputs.features[inputs.harm.index]
    assert inputs.asb_present
    assert feats.loc[WARDS[2:], "asb_data_share"].tolist() == [0.0, 0.0]
    assert feats.loc[WARDS[2:], "asb"].isna().all()  # no data, not zero
    assert feats.loc[WARDS[1], "asb"] == pytest.approx(6 * 12)
    # ward 1's empty answer: 11 months present, its rate over them scaled to the window
    assert feats.loc[WARDS[0], "asb_data_share"] == pytest.approx(11 / 12)
    assert feats.loc[WARDS[0], "asb"] == pytest.approx(6 * 11 * 12 / 11)
    assert api.asb_boroughs(inputs) == frozenset({"E09000002"})
    assert any(
        note.startswith("ASB: 25 of 48 ward-months of the window 2017-01 to 2017-12 (52.1%) "
                        "have no data") for note in inputs.notes
    ), inputs.notes  # fmt: skip


def test_crime_with_every_month_present_is_unchanged(inputs):
    feats = inputs.features[inputs.harm.index]
    assert (feats["data_share"] == 1.0).all()
    assert feats["crimes"].tolist() == [12 * (k + 3) for k in range(1, 5)]
    assert not any(n.startswith("crime:") for n in inputs.notes)


def test_the_yardsticks_read_no_data_for_asb_where_it_is_not_covered(grid, inputs):
    _, config = grid
    scenario = Scenario.from_config(config).changed(use_forecast=False, pool=4)
    result = api.plan(inputs, scenario)
    sticks = api.yardsticks(result, config)
    text = " ".join(sticks.notes)
    assert "ASB: no data for Borough 3 (the source does not cover them)" in text, text


def test_a_forecast_that_cannot_be_backtested_is_dropped_with_a_warning(grid):
    _, config = grid
    scenario = Scenario.from_config(config).changed(use_forecast=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = api.prepare(config, scenario)
    assert any(
        issubclass(w.category, PlannerWarning)
        and "the forecast cannot be used with this data, so it is off" in str(w.message)
        for w in caught
    )
    assert "monthly harm has 30 months" in got.forecast_note and not got.forecast
    assert np.isfinite(got.features[got.harm.index]["harm"]).all()


PLANNER_GRID = """
[datasets.grid]
description = "test grid"
[datasets.grid.wards]
path = "wards/grid.geojson"
[[datasets.grid.sources]]
kind = "mps_ward"
path = "met.csv"
"""


def test_planner_score_drops_the_forecast_with_a_warning_and_exits_0(grid, tmp_path, capsys):
    root, _ = grid
    shipped = (config_copy(tmp_path) / "planner.toml").read_text()
    folder = config_copy(tmp_path / "c", planner=shipped + PLANNER_GRID)
    argv = ["--config", str(folder), "--data", str(root / "data"), "--cache",
            str(tmp_path / "cache"), "score", "--dataset", "grid", "--forecast", "--out",
            str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: the forecast cannot be used with this data, so it is off" in err
    assert "48 in all" in err
    assert (tmp_path / "out" / "scores.csv").is_file()
