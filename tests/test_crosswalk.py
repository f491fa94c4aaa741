"""A ward-vintage crosswalk (issue 11, item 4), on a tiny synthetic two-vintage example.

The dataset's wards are a 2 x 2 grid of 1 km squares (E05000001 bottom left, ...02 bottom right,
...03 top left, ...04 top right). The older vintage has two wards: OLD_A, the left 1.5 km of the
grid, and OLD_B, its right 0.5 km. Counts re-based from OLD_A and OLD_B are shared out in whole
records with every total conserved exactly; the quality report shows how much moved and the
expected error.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from planner import schema as s
from planner.config import SourceSpec
from planner.errors import DataError
from planner.ingest import ingest
from planner.ingest.crosswalk import Layers, build_crosswalk, rebase
from planner.ingest.quality import format_quality
from tests.factories import grid_dataset, grid_wards, met_ward_csv

OLD_A, OLD_B = "E05900001", "E05900002"
X0, Y0 = 530_000, 180_000
# target ward -> (share of OLD_A's area, share of OLD_B's area), from the geometry above
AREA_SHARES = {
    "E05000001": (Fraction(1, 3), Fraction(0)),
    "E05000002": (Fraction(1, 6), Fraction(1, 2)),
    "E05000003": (Fraction(1, 3), Fraction(0)),
    "E05000004": (Fraction(1, 6), Fraction(1, 2)),
}


def old_wards() -> gpd.GeoDataFrame:
    frame = pd.DataFrame(
        {
            "ward_code": [OLD_A, OLD_B],
            "ward_name": ["Old A", "Old B"],
            "borough_code": ["E09000002", "E09000002"],
            "borough_name": ["Borough 2", "Borough 2"],
            "geometry": [
                shapely.box(X0, Y0, X0 + 1500, Y0 + 2000),
                shapely.box(X0 + 1500, Y0, X0 + 2000, Y0 + 2000),
            ],
        }
    ).set_index("ward_code")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:27700")


def counts_table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(s.WARD_COUNTS_COLUMNS)).astype({s.COUNT: "int64"})


ROWS = [
    (OLD_A, "2018-01", "Burglary", "residential", 7),
    (OLD_B, "2018-01", "Burglary", "residential", 5),
    (OLD_A, "2018-02", "Robbery", "personal property", 11),
    (OLD_B, "2018-02", "Robbery", "personal property", 1),
]


def test_area_rebasing_conserves_every_total_in_whole_records(config):
    crosswalk = build_crosswalk(
        old_wards(), grid_wards(), None, config.join.crosswalk, categories=["Burglary", "Robbery"],
        method="area",
    )  # fmt: skip
    rebased, unplaced = rebase(counts_table(ROWS), crosswalk)
    assert unplaced.empty
    assert rebased[s.COUNT].dtype.kind == "i" and (rebased[s.COUNT] > 0).all()
    for month, cat in (("2018-01", "Burglary"), ("2018-02", "Robbery")):
        got = rebased[(rebased[s.MONTH] == month) & (rebased[s.CATEGORY] == cat)]
        given = [r for r in ROWS if r[1] == month]
        assert int(got[s.COUNT].sum()) == sum(r[4] for r in given)  # exactly
        by_ward = got.groupby(s.WARD_CODE)[s.COUNT].sum()
        for ward, (share_a, share_b) in AREA_SHARES.items():
            exact = sum((share_a if r[0] == OLD_A else share_b) * r[4] for r in given)
            assert abs(int(by_ward.get(ward, 0)) - exact) < 2  # whole records near the share


def test_rebasing_is_the_same_whatever_the_row_order(config):
    crosswalk = build_crosswalk(
        old_wards(), grid_wards(), None, config.join.crosswalk, categories=["Burglary"],
        method="area",
    )  # fmt: skip
    keys = [s.WARD_CODE, s.MONTH, s.CATEGORY]
    one = rebase(counts_table(ROWS), crosswalk)[0].sort_values(keys, ignore_index=True)
    two = rebase(counts_table(ROWS[::-1]), crosswalk)[0].sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(one, two)


def test_dasymetric_weights_follow_the_crime_not_the_area(config):
    """All LSOA burglary lies in the bottom-right square: OLD_A's burglary goes there."""
    squares = grid_wards()
    lsoas = gpd.GeoDataFrame(
        geometry=list(squares.geometry), index=[f"E0100000{k}" for k in range(1, 5)],
        crs="EPSG:27700",
    )  # fmt: skip
    crime = pd.DataFrame({"Burglary": [0.0, 100.0, 0.0, 0.0]}, index=lsoas.index)
    layers = Layers(lsoas, crime, pd.Series(1000.0, index=lsoas.index), None, [], [])
    crosswalk = build_crosswalk(
        old_wards(), squares, layers, config.join.crosswalk, categories=["Burglary"]
    )
    rebased, _ = rebase(counts_table(ROWS[:1]), crosswalk)
    assert rebased.set_index(s.WARD_CODE)[s.COUNT].to_dict() == {"E05000002": 7}
    methods = crosswalk.weights.set_index([s.CATEGORY, "source_ward"])["method"]
    assert set(methods.loc["Burglary"]) == {"dasymetric"}


def test_a_source_ward_without_such_crime_falls_back_to_residents(config):
    squares = grid_wards()
    lsoas = gpd.GeoDataFrame(
        geometry=list(squares.geometry), index=[f"E0100000{k}" for k in range(1, 5)],
        crs="EPSG:27700",
    )  # fmt: skip
    crime = pd.DataFrame({"Burglary": [50.0, 0.0, 50.0, 0.0]}, index=lsoas.index)  # none in B
    residents = pd.Series([0.0, 900.0, 0.0, 100.0], index=lsoas.index)
    layers = Layers(lsoas, crime, residents, None, [], [])
    crosswalk = build_crosswalk(
        old_wards(), squares, layers, config.join.crosswalk, categories=["Burglary"]
    )
    mine = crosswalk.weights[
        (crosswalk.weights[s.CATEGORY] == "Burglary") & (crosswalk.weights["source_ward"] == OLD_B)
    ].set_index(s.WARD_CODE)
    assert set(mine["method"]) == {"residents"}
    assert mine["weight"].to_dict() == pytest.approx({"E05000002": 0.9, "E05000004": 0.1})


def old_vintage_dataset(tmp_path):
    source = SourceSpec(kind="mps_ward", path="old.csv", boundaries="wards/old.geojson")
    config = grid_dataset(tmp_path, [source])
    old_wards().to_file(tmp_path / "data" / "wards" / "old.geojson")
    return dataclasses.replace(
        config, join=dataclasses.replace(
            config.join, crosswalk=dataclasses.replace(config.join.crosswalk, method="area")
        )
    )  # fmt: skip


def test_codes_in_neither_vintage_stop_ingest_naming_the_declared_vintage(tmp_path):
    config = old_vintage_dataset(tmp_path)
    rows = [
        ("BURGLARY", "BURGLARY BUSINESS AND COMMUNITY", OLD_A, [7, 0]),
        ("ROBBERY", "ROBBERY OF PERSONAL PROPERTY", "E05999999", [2, 0]),
    ]
    (tmp_path / "data" / "old.csv").write_text(met_ward_csv(rows, ["201801", "201802"]))
    with pytest.raises(
        DataError,
        match=r"old\.csv: 2 of 9 records \(22\.2%\) carry 1 ward codes \(e\.g\. E05999999\) "
        r"that are neither wards of its declared vintage wards/old\.geojson nor of the dataset",
    ):
        ingest(config, use_cache=False)


def test_ingest_rebases_a_source_of_another_vintage_and_reports_what_moved(tmp_path):
    config = old_vintage_dataset(tmp_path)
    rows = [
        ("BURGLARY", "BURGLARY BUSINESS AND COMMUNITY", OLD_A, [7, 0]),
        ("BURGLARY", "BURGLARY BUSINESS AND COMMUNITY", OLD_B, [5, 4]),
        ("ROBBERY", "ROBBERY OF PERSONAL PROPERTY", OLD_A, [0, 11]),
    ]
    (tmp_path / "data" / "old.csv").write_text(met_ward_csv(rows, ["201801", "201802"]))
    result = ingest(config, use_cache=False)
    counts = result.ward_counts.astype({s.WARD_CODE: str, s.MONTH: str})
    assert set(counts[s.WARD_CODE]) <= set(AREA_SHARES)
    assert counts.groupby(s.MONTH)[s.COUNT].sum().to_dict() == {"2018-01": 12, "2018-02": 15}
    (src,) = result.quality["sources"]
    assert result.quality["conservation_ok"]
    assert src["totals"]["read"] == 27 and src["totals"]["counted"] == 27
    cw = src["crosswalk"]
    # moved: every record but those going to its source ward's main ward (the largest share;
    # ties to the lower code): OLD_A's main ward is E05000001 (1/3), OLD_B's E05000002 (1/2)
    moved = Fraction(7 + 11) * (1 - Fraction(1, 3)) + Fraction(5 + 4) * (1 - Fraction(1, 2))
    assert cw["records"] == 27 and cw["records_moved"] == round(moved)
    assert cw["share_moved"] == pytest.approx(float(moved / 27), abs=1e-4)
    assert cw["method"] == "area" and cw["expected_median_ward_error"] > 0
    text = format_quality(result.quality)
    assert (
        f"old.csv: re-based from wards/old.geojson (area): 27 records, {round(moved)} "
        f"({float(moved / 27):.1%}) moved between wards; expected error per ward about "
        f"{cw['expected_median_ward_error']:.1%} (median)" in text
    )
