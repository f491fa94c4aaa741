"""Tests for planner.ingest.stream: the month-by-month path gives what the whole-source path gives."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from planner import schema as s
from planner.config import SourceSpec
from planner.errors import DataError
from planner.ingest.join import join_incidents
from planner.ingest.sources.police_uk import read_street_csv
from planner.ingest.stream import partitions, point_counts, point_tally, stream_street_csv
from tests.factories import shipped_config

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)
X0, Y0 = 529_000.0, 180_000.0


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    squares = [box(X0 + i * 1000, Y0, X0 + (i + 1) * 1000, Y0 + 1000) for i in range(2)]
    return gpd.GeoDataFrame(
        {s.BOROUGH_CODE: ["E09000033"] * 2},
        geometry=squares,
        index=pd.Index(["E05000001", "E05000002"], name=s.WARD_CODE),
        crs=s.WORKING_CRS,
    )


def _lonlat(x: float) -> tuple[str, str]:
    p = gpd.GeoSeries(gpd.points_from_xy([x], [Y0 + 500]), crs=s.WORKING_CRS).to_crs(4326)
    return f"{p.x[0]:.6f}", f"{p.y[0]:.6f}"


def _write(path: Path, rows: list[tuple[str, str, float | None, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for cid, month, x, ctype in rows:
        lon, lat = ("", "") if x is None else _lonlat(x)
        lines.append(f"{cid},{month},F,F,{lon},{lat},On or near X,E01,L,{ctype},,")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def archive(tmp_path) -> Path:
    """The published layout: a folder a month, a file a force; duplicates within a file,
    across two forces' files of a month and across months; an empty file; an empty month."""
    root = tmp_path / "street"
    a, b, outside = X0 + 500, X0 + 1500, X0 - 5000
    _write(root / "2024-01" / "2024-01-kent-street.csv", [
        ("k1", "2024-01", a, "Burglary"), ("k1", "2024-01", a, "Burglary"),
        ("", "2024-01", b, s.ASB), ("k2", "2024-01", None, "Drugs"),
    ])  # fmt: skip
    _write(root / "2024-01" / "2024-01-surrey-street.csv", [
        ("k2", "2024-01", b, "Drugs"), ("k3", "2024-01", outside, "Robbery"),
        ("k1", "2024-01", b, "Burglary"),
    ])  # fmt: skip
    (root / "2024-01" / "2024-01-sussex-street.csv").write_text("")
    _write(root / "2024-02" / "2024-02-kent-street.csv", [
        ("k3", "2024-02", a, "Robbery"), ("k4", "2024-02", b, "Robbery"), ("", "2024-02", a, s.ASB),
    ])  # fmt: skip
    (root / "2024-03").mkdir()
    (root / "2024-03" / "2024-03-kent-street.csv").write_text("\n")
    return root


def _whole(path: Path, wards: gpd.GeoDataFrame):
    config = shipped_config()
    frame = read_street_csv(path, categories=config.categories, checks=config.coordinates)
    joined = join_incidents(frame.incidents, wards, snap_distance_m=250.0)
    return frame, joined, point_counts(joined.incidents)


def _streamed(path: Path, wards: gpd.GeoDataFrame, **src):
    config = shipped_config()
    spec = SourceSpec(kind="police_uk_csv", path=str(path), **src)
    return stream_street_csv(
        path, spec, wards, categories=config.categories, checks=config.coordinates,
        snap_distance_m=250.0,
    )  # fmt: skip


def _table(counts: pd.DataFrame) -> dict:
    c = counts.astype({k: str for k in s.WARD_COUNTS_COLUMNS[:-1]})
    return c.groupby(list(s.WARD_COUNTS_COLUMNS[:-1]))[s.COUNT].sum().to_dict()


def test_partitions_are_months_in_name_order(archive):
    runs = partitions(archive)
    assert [[p.name for p in run] for run in runs] == [
        ["2024-01-kent-street.csv", "2024-01-surrey-street.csv", "2024-01-sussex-street.csv"],
        ["2024-02-kent-street.csv"],
        ["2024-03-kent-street.csv"],
    ]
    assert partitions(archive / "2024-02" / "2024-02-kent-street.csv") == [
        [archive / "2024-02" / "2024-02-kent-street.csv"]
    ]


def test_streamed_equals_the_whole_source(archive, wards):
    frame, joined, counts = _whole(archive, wards)
    got = _streamed(archive, wards)
    assert got.partitions == 3
    assert _table(got.counts) == _table(counts)
    # k1 twice in a file, k1 again in surrey's file, k3 again in February: 3 duplicates
    assert got.frame.duplicates_by_month.to_dict() == {"2024-01": 2, "2024-02": 1}
    assert got.frame.duplicates_by_month.to_dict() == {
        str(k): v for k, v in frame.duplicates_by_month.items()
    }
    assert got.frame.read_by_month.to_dict() == frame.read_by_month.to_dict()
    pd.testing.assert_frame_equal(
        got.frame.rejects.astype(str), frame.rejects.astype(str), check_dtype=False
    )
    pd.testing.assert_frame_equal(
        got.join_rejects.astype(str), joined.rejects.astype(str), check_dtype=False
    )
    assert sorted(got.frame.files) == sorted(frame.files)
    assert sorted(e.name for e in got.frame.empty_files) == sorted(
        e.name for e in frame.empty_files
    )
    assert [e.month for e in got.frame.empty_files] == ["2024-01", "2024-03"]
    assert got.frame.warnings == [
        f"{archive}: 3 records appeared more than once (same id) and were counted once"
    ]
    tally = got.joined.groupby("how")[s.COUNT].sum().to_dict()
    assert tally == joined.incidents.groupby("how", observed=True).size().to_dict()


def test_selection_is_applied_before_the_join(archive, wards):
    got = _streamed(archive, wards, categories=(s.ASB,), months=("2024-01", "2024-01"))
    assert _table(got.counts) == {("E05000002", "2024-01", s.ASB, ""): 1}
    reasons = got.frame.rejects.groupby(s.REASON)[s.COUNT].sum().to_dict()
    assert reasons[s.REASON_NOT_TAKEN] == 4  # k1, k2, k3 of January, k4 (k3 outside: not joined)
    assert reasons[s.REASON_OUTSIDE_MONTHS] == 1  # February's ASB
    assert got.join_rejects.empty


def test_ids_other_than_hex_are_deduplicated_across_months(tmp_path, wards):
    root = tmp_path / "flat"
    _write(root / "2024-01-met-street.csv", [("ID-1", "2024-01", X0 + 10, "Burglary")])
    _write(root / "2024-02-met-street.csv", [("ID-1", "2024-02", X0 + 10, "Burglary"),
                                             ("id-1", "2024-02", X0 + 10, "Burglary")])  # fmt: skip
    got = _streamed(root, wards)
    assert got.partitions == 2
    assert got.frame.duplicates_by_month.to_dict() == {"2024-02": 1}
    assert int(got.counts[s.COUNT].sum()) == 2


def test_hex_ids_are_keyed_exactly_across_months(tmp_path, wards):
    rng = np.random.default_rng(1)
    ids = [rng.bytes(32).hex() for _ in range(3)]
    twin = ids[0][:31] + ("0" if ids[0][31] != "0" else "1") + ids[0][32:]  # differs in digit 32
    root = tmp_path / "flat"
    _write(root / "2024-01-met-street.csv", [(i, "2024-01", X0 + 10, "Burglary") for i in ids])
    _write(root / "2024-02-met-street.csv", [(ids[1], "2024-02", X0 + 10, "Burglary"),
                                             (twin, "2024-02", X0 + 10, "Burglary")])  # fmt: skip
    got = _streamed(root, wards)
    assert got.frame.duplicates_by_month.to_dict() == {"2024-02": 1}


def test_a_source_of_empty_files_is_an_error(tmp_path, wards):
    (tmp_path / "street" / "2024-01").mkdir(parents=True)
    (tmp_path / "street" / "2024-01" / "2024-01-kent-street.csv").write_text("")
    with pytest.raises(DataError, match=r"the file is empty \(no text at all\)"):
        _streamed(tmp_path / "street", wards)


def test_real_burglary_files_stream_as_they_read_whole(real_config):
    """The Met's 20 monthly street CSVs (../shared/data): month by month = all at once."""
    from planner.ingest.sources.wards import read_dataset_wards

    spec = real_config.dataset("burglary-check")
    (src,) = spec.sources
    path = real_config.resolve(src.path)
    wards = read_dataset_wards(real_config, spec.name).frame
    frame, joined, counts = _whole(path, wards)
    got = _streamed(path, wards)
    assert got.partitions == 20
    assert _table(got.counts) == _table(counts)
    assert got.frame.duplicates_by_month.sum() == frame.duplicates_by_month.sum() > 0
    assert got.frame.read_by_month.to_dict() == frame.read_by_month.to_dict()
    pd.testing.assert_frame_equal(
        got.frame.rejects.astype(str), frame.rejects.astype(str), check_dtype=False
    )
    pd.testing.assert_frame_equal(
        got.join_rejects.astype(str), joined.rejects.astype(str), check_dtype=False
    )


def test_tallies_by_category_codes_are_what_a_groupby_gives() -> None:
    """point_counts and point_tally count by the categories' codes: the rows, order and types of
    ``groupby(observed=True).size()``, unused categories and all; a key with a missing value
    falls back to the groupby itself."""
    rng = np.random.default_rng(7)
    n = 5_000
    joined = pd.DataFrame(
        {
            s.WARD_CODE: pd.Categorical(rng.choice(["E05000002", "E05000001"], n)),
            s.MONTH: pd.Categorical(rng.choice(["2024-05", "2024-04"], n)),
            s.CATEGORY: pd.Categorical(
                rng.choice(["Burglary", s.ASB], n), categories=[s.ASB, "Burglary", "Drugs"]
            ),
            s.SUBCATEGORY: pd.Categorical([""] * n),
            "how": pd.Categorical(rng.choice([s.JOINED_INSIDE, s.JOINED_NEAREST], n, p=[0.9, 0.1])),
        }
    )
    keys = [s.WARD_CODE, s.MONTH, s.CATEGORY, s.SUBCATEGORY]
    expected = joined.groupby(keys, observed=True).size().rename(s.COUNT).reset_index()
    pd.testing.assert_frame_equal(point_counts(joined), expected)
    tally = joined.groupby([s.MONTH, "how"], observed=True).size().rename(s.COUNT).reset_index()
    pd.testing.assert_frame_equal(point_tally(joined), tally.astype({s.MONTH: str, "how": str}))
    joined.loc[3, s.MONTH] = np.nan
    expected = joined.groupby(keys, observed=True).size().rename(s.COUNT).reset_index()
    pd.testing.assert_frame_equal(point_counts(joined), expected)
