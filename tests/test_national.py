"""Smoke test of bench/generate_national.py and the streamed ingest of what it writes.

A small set (2 forces x 2 months, a few thousand rows, 120 grid wards): the published
layout, the 12 columns, ASB rows without Crime ID, about 3 % without coordinates, anonymised
points reused, and ``ingest`` of it giving the ward counts that a direct count (pandas,
geopandas ``sjoin``) gives. The national-scale figures come from bench/bench_national.py.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from planner import schema as s
from planner.config import load_config
from planner.ingest import ingest
from tests.factories import REPO

COLUMNS = [
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
    "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
]  # fmt: skip


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_national", REPO / "bench" / "generate_national.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> tuple[Path, dict]:
    gen = _generator()
    out = tmp_path_factory.mktemp("national")
    settings = gen.Settings(rows=6000, forces=2, months=2, first_month="2024-11", wards=120)
    truth = gen.generate(settings, out, log=lambda *_: None)
    return out, truth


def _street(out: Path) -> pd.DataFrame:
    files = sorted((out / "data" / "incidents" / "police_uk_street").rglob("*.csv"))
    return pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False).assign(file=f.name) for f in files],
        ignore_index=True,
    )


def test_layout_is_the_published_one(national):
    out, truth = national
    root = out / "data" / "incidents" / "police_uk_street"
    months = sorted(p.name for p in root.iterdir())
    assert months == ["2024-11", "2024-12"]
    for month in months:
        names = sorted(p.name for p in (root / month).iterdir())
        assert names == [
            f"{month}-avon-and-somerset-street.csv",
            f"{month}-bedfordshire-street.csv",
        ]
        for name in names:
            with (root / month / name).open(newline="") as f:
                header = next(csv.reader(f))
            assert header == COLUMNS
            assert b"\r\n" not in (root / month / name).read_bytes()
    assert truth["files"] == 4 and truth["wards"] == 120


def test_rows_look_like_police_uk(national):
    out, truth = national
    rows = _street(out)
    assert len(rows) == truth["rows"] and 5900 <= len(rows) <= 6100
    asb = rows["Crime type"] == s.ASB
    assert asb.any() and (rows.loc[asb, "Crime ID"] == "").all()
    assert rows.loc[~asb, "Crime ID"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert (rows.loc[asb, "Last outcome category"] == "").all()
    assert set(rows["Crime type"]) <= set(s.CATEGORIES)
    no_xy = rows["Longitude"] == ""
    assert 0.015 <= no_xy.mean() <= 0.045
    assert (rows.loc[no_xy, "Latitude"] == "").all()
    assert (rows.loc[no_xy, "Location"] == "No Location").all()
    assert rows.loc[~no_xy, "Longitude"].str.fullmatch(r"-?[0-9]+\.[0-9]{6}").all()
    assert (rows["Month"] == rows["file"].str[:7]).all()
    assert {re.sub(r"-street\.csv$", "", f)[8:] for f in rows["file"]} == {
        "avon-and-somerset",
        "bedfordshire",
    }
    points = rows.loc[~no_xy, ["Longitude", "Latitude"]].drop_duplicates()
    per_point = (~no_xy).sum() / len(points)
    assert 10 <= per_point <= 40, f"{per_point:.1f} records per distinct point"
    assert rows.loc[~asb, "Crime ID"].duplicated().sum() == truth["duplicates"]


def test_ingest_counts_equal_a_direct_count(national):
    out, truth = national
    config = load_config(out / "config")
    result = ingest(config, "national", use_cache=False)
    q = result.quality
    assert q["conservation_ok"]
    (src,) = q["sources"]
    assert src["totals"]["read"] == truth["rows"]
    assert src["totals"][f"rejected_{s.REASON_NO_COORDINATES}"] == truth["no_coordinates"]

    located = _street(out).query("Longitude != ''")
    rows = located[~((located["Crime ID"] != "") & located["Crime ID"].duplicated())]
    assert src["totals"]["duplicates"] == len(located) - len(rows) > 0
    points = gpd.GeoDataFrame(
        rows[["Month", "Crime type"]],
        geometry=gpd.points_from_xy(
            rows["Longitude"].astype(float), rows["Latitude"].astype(float)
        ),
        crs="EPSG:4326",
    ).to_crs(s.WORKING_CRS)
    wards = gpd.read_file(out / "data" / "wards" / "national_wards.gpkg")
    joined = gpd.sjoin(points, wards[["WD24CD", "geometry"]], predicate="within")
    direct = joined.groupby(["WD24CD", "Month", "Crime type"]).size()
    direct.index.names = [s.WARD_CODE, s.MONTH, s.CATEGORY]

    counts = result.ward_counts.astype({k: str for k in (s.WARD_CODE, s.MONTH, s.CATEGORY)})
    got = counts.groupby([s.WARD_CODE, s.MONTH, s.CATEGORY])[s.COUNT].sum()
    pd.testing.assert_series_equal(got.sort_index(), direct.sort_index(), check_names=False)
