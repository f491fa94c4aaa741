"""Ingest counts what a plain reading of the same files counts, cell by cell (issue 12).

For each shipped dataset, a reference is written here the straightforward way, independent of
the planner's readers and join: ``tarfile`` + ``json`` for the police.uk API archives,
``pandas.read_csv`` for the street CSVs, pandas melt for the Met ward files; the same checks
in plain pandas (month form, category names, coordinates in Great Britain), the first record
of an id kept, points put in wards with geopandas (``sjoin`` on ``intersects``, a shared edge
to the lowest ward code; else ``sjoin_nearest`` within the snap distance). Then its ward x
month x category counts must equal ``ingest``'s exactly, and its totals of records read,
duplicates and rejects the quality report's.

Slow (the real data, about 1.2M API records), and skipped where ../shared/data is absent.
"""

from __future__ import annotations

import json
import re
import tarfile
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from planner import schema as s
from planner.config import PlannerConfig, load_config
from planner.ingest import ingest
from planner.ingest.sources.wards import read_dataset_wards

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
KEYS = [s.WARD_CODE, s.MONTH, s.CATEGORY]
MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"the real data folder {DATA} is absent"),
]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> PlannerConfig:
    cache = tmp_path_factory.mktemp("cache")
    return load_config(REPO / "config").with_data_dir(DATA).with_cache_dir(cache)


def planner_cells(config: PlannerConfig, dataset: str):
    result = ingest(config, dataset, use_cache=False)
    counts = result.ward_counts.astype({k: str for k in KEYS})
    return result, counts.groupby(KEYS)[s.COUNT].sum()


def assert_same_cells(planner: pd.Series, reference: pd.Series) -> None:
    both = pd.concat([planner.rename("planner"), reference.rename("reference")], axis=1)
    both = both.fillna(0).astype("int64")
    differ = both[both["planner"] != both["reference"]]
    assert differ.empty, f"{len(differ)} of {len(both)} cells differ:\n{differ.head(20)}"
    assert len(both) > 1000 and both["reference"].sum() > 0


# --- the reference, in plain pandas and geopandas -------------------------------------------


def checked(records: pd.DataFrame, mapping: dict[str, str], config: PlannerConfig):
    """Records (file order) -> (kept, first of each id, with canonical category), reasons."""
    c = config.coordinates
    month = records["month"].astype("string").str.strip()
    now = date.today().strftime("%Y-%m")
    good_month = month.fillna("").map(lambda m: bool(MONTH.match(m))) & (month.fillna("") <= now)
    raw = records["category"].astype("string").str.strip().fillna("")
    category = raw.map(lambda v: mapping.get(" ".join(v.split()).casefold()) if v else None)
    lon = pd.to_numeric(records["lon"], errors="coerce")
    lat = pd.to_numeric(records["lat"], errors="coerce")
    located = lon.notna() & lat.notna()
    inside = lon.between(c.lon_min, c.lon_max) & lat.between(c.lat_min, c.lat_max)
    reasons = pd.Series(np.where(~good_month, "month", ""), index=records.index)
    reasons[(reasons == "") & located & ~inside] = "coordinates"
    reasons[(reasons == "") & ~located] = s.REASON_NO_COORDINATES
    reasons[(reasons == "") & category.isna()] = s.REASON_UNKNOWN_CATEGORY
    kept = records.assign(month=month, category=category, lon=lon, lat=lat)[reasons == ""]
    ids = kept["id"].astype("string")
    duplicate = ids.notna() & ids.duplicated(keep="first")
    return kept[~duplicate], reasons[reasons != ""].value_counts(), int(duplicate.sum())


def in_wards(kept: pd.DataFrame, wards: gpd.GeoDataFrame, snap_m: float) -> pd.DataFrame:
    """Each kept record with its ward: inside or on an edge (lowest code), else nearest."""
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    points = kept[["lon", "lat"]].drop_duplicates().reset_index(drop=True)
    x, y = to_bng.transform(points["lon"].to_numpy(), points["lat"].to_numpy())
    where = gpd.GeoDataFrame(points, geometry=gpd.points_from_xy(x, y), crs=27700)
    polygons = gpd.GeoDataFrame(
        {"ward": wards.index.astype(str)}, geometry=wards.geometry.to_numpy(), crs=27700
    )
    hit = gpd.sjoin(where, polygons, predicate="intersects")
    ward = hit.groupby(level=0)["ward"].min().reindex(where.index)
    alone = where[ward.isna()]
    if len(alone):
        near = gpd.sjoin_nearest(alone, polygons, max_distance=snap_m, distance_col="d")
        ward = ward.fillna(near.groupby(level=0)["ward"].min())
    points["ward"] = ward
    out = kept.merge(points, on=["lon", "lat"], how="left")
    return out


def reference_cells(kept: pd.DataFrame, wards, snap_m: float) -> tuple[pd.Series, int]:
    placed = in_wards(kept, wards, snap_m)
    outside = int(placed["ward"].isna().sum())
    placed = placed.dropna(subset=["ward"]).rename(columns={"ward": s.WARD_CODE})
    return placed.groupby(KEYS).size(), outside


def assert_same_totals(result, read: int, reasons: pd.Series, duplicates: int, outside: int):
    (totals,) = result.quality["totals"].values()
    assert totals["read"] == read
    assert totals["duplicates"] == duplicates
    rejected = result.rejects.groupby(s.REASON)[s.COUNT].sum()
    assert int(rejected.get(s.REASON_OUTSIDE_WARDS, 0)) == outside
    for reason in (s.REASON_NO_COORDINATES, s.REASON_UNKNOWN_CATEGORY):
        assert int(rejected.get(reason, 0)) == int(reasons.get(reason, 0)), reason
    gb = sum(int(rejected.get(r, 0)) for r in (s.REASON_OUTSIDE_GB, s.REASON_LAT_LON_SWAPPED))
    assert gb == int(reasons.get("coordinates", 0))


# --- the three datasets ---------------------------------------------------------------------


def api_records(folder: Path) -> pd.DataFrame:
    rows = []
    for archive in sorted(folder.glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar:
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                if not raw.strip():
                    continue
                for r in json.loads(raw):
                    loc = r.get("location") or {}
                    rows.append(
                        (r.get("id"), r.get("month"), r.get("category"),
                         loc.get("longitude"), loc.get("latitude"))
                    )  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "month", "category", "lon", "lat"])


def test_police_uk_api_counts_are_identical(config: PlannerConfig) -> None:
    dataset = "policeuk-2014"
    result, planner = planner_cells(config, dataset)
    records = api_records(config.resolve(config.dataset(dataset).sources[0].path))
    kept, reasons, duplicates = checked(records, config.categories.api, config)
    wards = read_dataset_wards(config, dataset).frame
    reference, outside = reference_cells(kept, wards, config.join.snap_distance_m)
    assert_same_cells(planner, reference)
    assert_same_totals(result, len(records), reasons, duplicates, outside)
    assert len(records) == 1_212_049  # the shipped archives, as SOURCES.md describes them


def test_street_csv_counts_are_identical(config: PlannerConfig) -> None:
    dataset = "burglary-check"
    result, planner = planner_cells(config, dataset)
    folder = config.resolve(config.dataset(dataset).sources[0].path)
    names = {"Crime ID": "id", "Month": "month", "Crime type": "category"}
    frames = [
        pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""])
        for f in sorted(folder.rglob("*.csv"))
    ]
    records = pd.concat(frames, ignore_index=True).rename(
        columns={**names, "Longitude": "lon", "Latitude": "lat"}
    )[["id", "month", "category", "lon", "lat"]]
    kept, reasons, duplicates = checked(records, config.categories.csv, config)
    wards = read_dataset_wards(config, dataset).frame
    reference, outside = reference_cells(kept, wards, config.join.snap_distance_m)
    assert_same_cells(planner, reference)
    assert_same_totals(result, len(records), reasons, duplicates, outside)
    assert int(reasons.get(s.REASON_NO_COORDINATES, 0)) == 502  # as SOURCES.md says


def met_long(path: Path) -> pd.DataFrame:
    """A Met ward file, one row per ward, minor category and month with crimes."""
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    table.columns = [str(c).lower() for c in table.columns]
    months = [c for c in table.columns if re.fullmatch(r"[0-9]{6}", c)]
    long = table.melt(["majortext", "minortext", "wardcode"], months, "month", s.COUNT)
    long = long[long[s.COUNT] > 0]
    return long.assign(month=long["month"].str[:4] + "-" + long["month"].str[4:])


def test_met_ward_file_counts_are_identical(config: PlannerConfig) -> None:
    dataset = "met-2022"
    _, planner = planner_cells(config, dataset)
    spec = config.dataset(dataset)
    files = [config.resolve(src.path) for src in spec.sources if src.kind == "mps_ward"]
    tables = [met_long(f) for f in files]
    newest = sorted(range(len(tables)), key=lambda i: (tables[i]["month"].max(), i))[::-1]
    claimed: set[str] = set()
    parts = []
    for i in newest:  # where two files cover a month, the newest file wins it
        mine = tables[i][~tables[i]["month"].isin(claimed)]
        claimed |= set(tables[i]["month"])
        parts.append(mine)
    long = pd.concat(parts, ignore_index=True)
    pairs = long[["majortext", "minortext"]].drop_duplicates()
    mapped = {
        (a, b): (config.categories.mps_pair(a, b)[0] or ("", ""))[0]
        for a, b in pairs.itertuples(index=False)
    }
    long[s.CATEGORY] = [mapped[p] for p in zip(long["majortext"], long["minortext"], strict=True)]
    wards = set(read_dataset_wards(config, dataset).frame.index.astype(str))
    long = long[(long[s.CATEGORY] != "") & long["wardcode"].isin(wards)]
    reference = long.rename(columns={"wardcode": s.WARD_CODE}).groupby(KEYS)[s.COUNT].sum()
    assert_same_cells(planner, reference.astype("int64"))
