"""Tests for planner.ingest.join: the edge rule, the snap distance, distinct points, row order."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from planner import schema as s
from planner.ingest.join import assign_points, join_incidents

X0, Y0, SIDE = 530_000.0, 180_000.0, 1_000.0
# Codes deliberately not in spatial order: "lowest code" must not mean "first polygon".
CODES = ["E05000004", "E05000002", "E05000003", "E05000001"]  # BL, BR, TL, TR


@pytest.fixture
def wards() -> gpd.GeoDataFrame:
    squares = [
        box(X0 + i * SIDE, Y0 + j * SIDE, X0 + (i + 1) * SIDE, Y0 + (j + 1) * SIDE)
        for j in range(2)
        for i in range(2)
    ]
    return gpd.GeoDataFrame(
        {s.WARD_NAME: list("ABCD")},
        geometry=squares,
        index=pd.Index(CODES, name=s.WARD_CODE),
        crs=s.WORKING_CRS,
    )


def incidents(xy: list[tuple[float, float]]) -> pd.DataFrame:
    n = len(xy)
    return pd.DataFrame(
        {
            s.INCIDENT_ID: [f"i{k}" for k in range(n)],
            s.MONTH: "2024-01",
            s.CATEGORY: "Burglary",
            s.SUBCATEGORY: "",
            s.X: [p[0] for p in xy],
            s.Y: [p[1] for p in xy],
            s.SOURCE: "test.csv",
            s.SOURCE_ROW: np.arange(1, n + 1),
        }
    )


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        pytest.param((X0 + 500, Y0 + 500), "E05000004", id="inside-bottom-left"),
        pytest.param((X0 + 1500, Y0 + 1500), "E05000001", id="inside-top-right"),
        pytest.param((X0 + SIDE, Y0 + 500), "E05000002", id="edge-BL-BR-lowest-code"),
        pytest.param((X0 + 500, Y0 + SIDE), "E05000003", id="edge-BL-TL-lowest-code"),
        pytest.param((X0 + SIDE, Y0 + SIDE), "E05000001", id="vertex-of-four"),
        pytest.param((X0, Y0 + 500), "E05000004", id="outer-edge"),
    ],
)
def test_points_inside_and_on_edges_go_to_exactly_one_ward(wards, point, expected):
    pos, how, dist = assign_points(
        np.array([point[0]]), np.array([point[1]]), wards, snap_distance_m=0
    )
    assert wards.index[pos[0]] == expected
    assert how[0] == s.JOINED_INSIDE and dist[0] == 0


def test_points_just_outside_snap_to_the_nearest_ward(wards):
    x = np.array([X0 - 100, X0 + 2 * SIDE + 300, X0 - 1000])
    y = np.array([Y0 + 500, Y0 + 1500, Y0 + 500])
    pos, how, dist = assign_points(x, y, wards, snap_distance_m=250)
    assert wards.index[pos[0]] == "E05000004" and how[0] == s.JOINED_NEAREST
    assert dist[0] == pytest.approx(100)
    assert pos[1] == -1 and pos[2] == -1  # 300 m and 1 km out: beyond the limit
    assert dist[1] == pytest.approx(300)


def test_join_counts_every_row_once(wards):
    xy = [(X0 + 500, Y0 + 500)] * 5 + [(X0 + SIDE, Y0 + 500), (X0 - 100, Y0 + 10), (X0 - 5000, Y0)]
    result = join_incidents(incidents(xy), wards, snap_distance_m=250)
    assert result.distinct_points == 4
    assert len(result.incidents) + len(result.rejects) == len(xy)
    assert result.incidents[s.WARD_CODE].value_counts().to_dict() == {
        "E05000004": 6,
        "E05000002": 1,
    }
    assert (result.incidents["how"] == s.JOINED_NEAREST).sum() == 1
    (reject,) = result.rejects.to_dict("records")
    assert reject[s.REASON] == s.REASON_OUTSIDE_WARDS
    assert reject[s.SOURCE_ROW] == 8 and "5,000 m from the nearest ward" in reject[s.DETAIL]


def test_row_order_and_ward_order_do_not_change_the_result(wards):
    rng = np.random.default_rng(7)
    xy = list(
        zip(
            rng.uniform(X0 - 300, X0 + 2300, 500),
            rng.uniform(Y0 - 300, Y0 + 2300, 500),
            strict=True,
        )
    )
    # include every edge and vertex
    xy += [(X0 + SIDE, Y0 + k * 250) for k in range(9)] + [
        (X0 + k * 250, Y0 + SIDE) for k in range(9)
    ]
    table = incidents(xy)
    first = join_incidents(table, wards, snap_distance_m=200).incidents
    shuffled = table.sample(frac=1, random_state=3)
    second = join_incidents(shuffled, wards.iloc[::-1], snap_distance_m=200).incidents
    a = first.set_index(s.INCIDENT_ID)[s.WARD_CODE].astype(str).sort_index()
    b = second.set_index(s.INCIDENT_ID)[s.WARD_CODE].astype(str).sort_index()
    pd.testing.assert_series_equal(a, b)


def test_empty_input(wards):
    result = join_incidents(incidents([]), wards, snap_distance_m=250)
    assert result.incidents.empty and result.rejects.empty
