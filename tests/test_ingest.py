"""Tests for planner.ingest and planner.ingest.quality: tiny data sets in code, then the real ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from planner import schema as s
from planner.config import DatasetSpec, PlannerConfig, SourceSpec, WardsSpec
from planner.errors import ConfigError, DataError
from planner.ingest import ingest
from planner.ingest.quality import format_quality
from tests.factories import shipped_config

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)


def tiny_data(root: Path) -> Path:
    """A data folder with a 2x2 ward grid near Trafalgar Square and two months of points."""
    (root / "wards").mkdir(parents=True)
    (root / "incidents" / "street").mkdir(parents=True)
    x0, y0 = 529_000.0, 180_000.0
    squares = [box(x0 + i * 1000, y0 + j * 1000, x0 + (i + 1) * 1000, y0 + (j + 1) * 1000) for j in range(2) for i in range(2)]  # fmt: skip
    gpd.GeoDataFrame(
        {
            "WD22CD": ["E05000001", "E05000002", "E05000003", "E05000004"],
            "WD22NM": list("ABCD"),
            "LAD22CD": ["E09000033"] * 4,
        },
        geometry=squares,
        crs=s.WORKING_CRS,
    ).to_file(root / "wards" / "grid.geojson")
    pts = gpd.GeoSeries(
        gpd.points_from_xy([x0 + 500, x0 + 1500, x0 + 500, x0 - 50, x0 - 5000], [y0 + 500] * 5),
        crs=s.WORKING_CRS,
    ).to_crs(s.DISPLAY_CRS)
    lonlat = [(round(p.x, 6), round(p.y, 6)) for p in pts]
    rows = {
        "2024-01": [("c1", 0, "Burglary"), ("", 1, "Anti-social behaviour"), ("c3", 2, "Robbery")],
        "2024-02": [("c4", 3, "Burglary"), ("c5", 4, "Burglary"), ("c6", None, "Drugs"), ("c4", 3, "Burglary")],
    }  # fmt: skip
    for month, items in rows.items():
        lines = [HEADER]
        for cid, k, ctype in items:
            lon, lat = ("", "") if k is None else lonlat[k]
            lines.append(f"{cid},{month},Met,Met,{lon},{lat},On or near X,E01,L,{ctype},,")
        (root / "incidents" / "street" / f"{month}-metropolitan-street.csv").write_text(
            "\n".join(lines) + "\n"
        )
    return root


@pytest.fixture
def tiny(tmp_path) -> PlannerConfig:
    data = tiny_data(tmp_path / "data")
    spec = DatasetSpec(
        name="tiny",
        description="test grid",
        wards=WardsSpec(path="wards/grid.geojson"),
        sources=(SourceSpec(kind="police_uk_csv", path="incidents/street"),),
        default=True,
    )
    config = shipped_config().with_data_dir(data).with_cache_dir(tmp_path / "cache")
    return dataclasses.replace(config, datasets={"tiny": spec})


def test_tiny_dataset_counts_rejects_and_conservation(tiny):
    result = ingest(tiny)
    counts = result.ward_counts.astype({c: str for c in s.WARD_COUNTS_COLUMNS[:-1]})
    got = {(r.ward_code, r.month, r.category): r.count for r in counts.itertuples()}
    assert got == {
        ("E05000001", "2024-01", "Burglary"): 1,
        ("E05000002", "2024-01", s.ASB): 1,
        ("E05000001", "2024-01", "Robbery"): 1,
        ("E05000001", "2024-02", "Burglary"): 1,  # 50 m outside: nearest ward
    }
    reasons = result.rejects.groupby(s.REASON)[s.COUNT].sum().to_dict()
    assert reasons == {s.REASON_NO_COORDINATES: 1, s.REASON_OUTSIDE_WARDS: 1}
    q = result.quality
    assert q["conservation_ok"]
    (src,) = q["sources"]
    assert src["totals"] == {
        "read": 7,
        "duplicates": 1,
        "counted_inside": 3,
        "counted_nearest": 1,
        f"rejected_{s.REASON_NO_COORDINATES}": 1,
        f"rejected_{s.REASON_OUTSIDE_WARDS}": 1,
    }
    assert q["asb"]["present"] and q["asb"]["records"] == 1
    assert q["wards"]["with_no_records"] == 2
    text = format_quality(q, detail=True)
    assert "holds for every source and month" in text and "2024-02" in text


def test_second_run_loads_from_cache_and_changes_rebuild(tiny):
    first = ingest(tiny)
    second = ingest(tiny)
    assert not first.from_cache and second.from_cache
    pd.testing.assert_frame_equal(
        first.ward_counts.astype(str), second.ward_counts.astype(str), check_dtype=False
    )
    assert second.manifest["inputs"] and all(
        len(i["sha256"]) == 64 for i in second.manifest["inputs"]
    )
    assert set(second.manifest["packages"]) >= {"pandas", "geopandas", "msgspec", "isal"}
    # a changed setting and a changed input each give a new cache entry
    wider = dataclasses.replace(tiny, join=dataclasses.replace(tiny.join, snap_distance_m=10.0))
    assert not ingest(wider).from_cache
    csv = tiny.data_dir / "incidents" / "street" / "2024-01-metropolitan-street.csv"
    csv.write_text(csv.read_text().replace("Robbery", "Burglary"))
    assert not ingest(tiny).from_cache


def test_missing_input_says_how_to_get_data(tiny, tmp_path):
    empty = tiny.with_data_dir(tmp_path / "nothing")
    with pytest.raises(DataError, match=r"input not found.*planner fetch.*--from DIR"):
        ingest(empty)


def test_unknown_dataset_is_a_config_error(tiny):
    with pytest.raises(ConfigError, match="no dataset called 'nope'.*known datasets: tiny"):
        ingest(tiny, "nope")


def test_failed_build_leaves_no_cache_entry(tiny, monkeypatch):
    import planner.ingest.build as ingest_module

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module.pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        ingest(tiny)
    monkeypatch.undo()
    leftovers = [p for p in Path(tiny.paths.cache_dir).rglob("*") if p.is_file()]
    assert leftovers == []
    assert not ingest(tiny).from_cache


# --- the real data (the session cache of real_config) ---------------------------------


@pytest.fixture(scope="module")
def burglary(real_config):
    return ingest(real_config, "burglary-check")


def check_conservation(result) -> None:
    by_month = pd.DataFrame(result.quality["by_month"]).fillna(0)
    assert result.quality["conservation_ok"]
    parts = [
        c for c in by_month.columns if c.startswith(("counted", "rejected_")) or c == "duplicates"
    ]
    assert (by_month["read"] == by_month[parts].sum(axis=1)).all()
    # and the written tables agree with the report
    rejected = by_month[[c for c in parts if c.startswith("rejected_")]].to_numpy().sum()
    assert int(result.rejects[s.COUNT].sum()) == rejected


@pytest.mark.integration
def test_police_uk_burglary_agrees_with_the_mets_ward_counts(burglary, shared_data):
    """The acceptance check of the spatial join: r >= 0.99 and totals within 1 %."""
    check_conservation(burglary)
    months = [f"{y}-{m:02d}" for y, m in [(2024, k) for k in range(2, 13)] + [(2025, 1), (2025, 2)]]
    counts = burglary.ward_counts.astype({s.MONTH: str, s.WARD_CODE: str})
    points = counts[counts[s.MONTH].isin(months)].groupby(s.WARD_CODE)[s.COUNT].sum()
    met = pd.read_csv(
        shared_data
        / "ward_crime"
        / "MPS Ward Level Crime (most recent 24 months) 2024-02_to_2026-01.csv"
    )
    met = (
        met[met["MajorText"] == "BURGLARY"]
        .groupby("WardCode")[[m.replace("-", "") for m in months]]
        .sum()
        .sum(axis=1)
    )
    both = pd.concat([points.rename("points"), met.rename("met")], axis=1).fillna(0)
    r = np.corrcoef(both["points"], both["met"])[0, 1]
    assert r >= 0.99, f"Pearson r = {r:.4f}"
    assert abs(both["points"].sum() / both["met"].sum() - 1) < 0.01


@pytest.mark.integration
def test_second_ingest_of_real_data_is_from_cache(real_config, burglary):
    again = ingest(real_config, "burglary-check")
    assert again.from_cache and len(again.ward_counts) == len(burglary.ward_counts)


@pytest.mark.integration
@pytest.mark.slow
def test_api_json_ingests_end_to_end_with_asb(real_config):
    result = ingest(real_config, "policeuk-2014")
    check_conservation(result)
    (src,) = result.quality["sources"]
    assert src["totals"]["read"] > 1_150_000 and src["totals"]["duplicates"] > 50_000
    assert src["months_missing"] == [] and (src["first_month"], src["last_month"]) == (
        "2016-07",
        "2017-12",
    )
    by_cat = result.ward_counts.groupby(s.CATEGORY, observed=True)[s.COUNT].sum()
    assert set(by_cat.index) == set(s.CATEGORIES)  # all 14, ASB its own category
    assert 0.15 < by_cat[s.ASB] / by_cat.sum() < 0.35
    assert result.quality["asb"]["present"]


@pytest.mark.integration
@pytest.mark.slow
def test_met_ward_files_ingest_with_newest_file_winning(real_config):
    result = ingest(real_config, "met-2022")
    check_conservation(result)
    counts = result.ward_counts.astype({s.MONTH: str, s.CATEGORY: str})
    assert counts[s.MONTH].min() == "2010-04" and counts[s.MONTH].max() == "2026-01"
    assert s.ASB not in set(counts[s.CATEGORY])
    assert not result.quality["asb"]["present"]
    assert result.ward_counts[s.WARD_CODE].nunique() == 679  # the City is not Met data
    measures = set(result.measures[s.MEASURE].astype(str))
    assert {"domestic abuse", "hate crime", "knife crime", "gun crime"} <= measures
    superseded = [
        w for src in result.quality["sources"] for w in src["warnings"] if "superseded" in w
    ]
    assert superseded
