"""Hostile and broken inputs: every one ends in a clear PlannerError or a counted reject.

Two halves:

- a corpus of named bad inputs made in the test (truncated files and archives, wrong
  encodings, swapped and out-of-range coordinates, mixed ward vintages, broken geometries,
  duplicate ids, a million-row file with one bad line, formula text in names), run through
  ``ingest`` (no cache folder may be written on error) or the reader or exporter concerned;
- property-based fuzzing of every reader with hypothesis: random bytes, random mutations of
  a valid file and structurally valid files of random cell values must give either a
  SourceFrame that conserves records (read = counted + rejected + duplicates, per month) or
  a PlannerError. Any other exception is a bug.

``PLANNER_FUZZ_EXAMPLES`` sets the examples per property (default 40); raise it for a deeper run.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import tarfile
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from planner import schema as s
from planner.config import DatasetSpec, PlannerConfig, PointColumns, SourceSpec, WardsSpec
from planner.errors import DataError, PlannerError
from planner.ingest import ingest
from planner.ingest.sources.base import SourceFrame
from planner.ingest.sources.dashboard import read_mps_dashboard
from planner.ingest.sources.mps import read_mps_ward
from planner.ingest.sources.police_uk import read_points_csv, read_street_csv
from planner.ingest.sources.police_uk_api import read_api_json
from planner.ingest.sources.wards import read_wards
from planner.outputs.export import write_allocation
from planner.outputs.safe import safe_filename
from planner.plan.allocation import allocate_wards
from tests.factories import allocation_settings, shipped_config

EXAMPLES = int(os.environ.get("PLANNER_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

STREET_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)
MPS_HEADER = "MajorText,MinorText,WardName,WardCode,LookUp_BoroughName"
DASH_HEADER = "month_year,area_type,area_code,crime_type,crime_subtype,measure,count"
FORMULA = '=HYPERLINK("http://evil.example","click")'

# A 2x2 grid of 1 km wards near Trafalgar Square (May 2022 codes), in Westminster.
X0, Y0 = 529_000.0, 180_000.0
WARDS_2022 = ("E05013801", "E05013802", "E05013803", "E05013804")
_TO_LONLAT = Transformer.from_crs(s.WORKING_CRS, s.DISPLAY_CRS, always_xy=True)


def lonlat(i: int) -> tuple[float, float]:
    """The centre of ward *i* of the grid, in WGS84, rounded as police.uk publishes it."""
    lon, lat = _TO_LONLAT.transform(X0 + 500 + 1000 * (i % 2), Y0 + 500 + 1000 * (i // 2))
    return round(lon, 6), round(lat, 6)


def street_row(cid="c1", month="2024-01", where: int | tuple = 0, kind="Burglary") -> str:
    lon, lat = lonlat(where) if isinstance(where, int) else where
    kind = '"' + kind.replace('"', '""') + '"' if "," in kind or '"' in kind else kind
    return f"{cid},{month},Met,Met,{lon},{lat},On or near X,E01,L,{kind},,"


def street_csv(rows: list[str]) -> bytes:
    return ("\n".join([STREET_HEADER, *rows]) + "\n").encode("utf-8")


def good_street(n: int = 8) -> bytes:
    return street_csv([street_row(f"c{i}", f"2024-0{1 + i % 3}", i % 4) for i in range(n)])


def ward_feature(code: str, geometry: dict | None, name: str = "Ward", lad="E09000033") -> dict:
    props = {"WD22CD": code, "WD22NM": name, "LAD22CD": lad}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def square(i: int) -> dict:
    x, y = X0 + 1000 * (i % 2), Y0 + 1000 * (i // 2)
    box = shapely.box(x, y, x + 1000, y + 1000)
    return json.loads(shapely.to_geojson(shapely.transform(box, _project, interleaved=False)))


def _project(x, y):
    return _TO_LONLAT.transform(x, y)


def wards_geojson(features: list[dict] | None = None) -> bytes:
    features = features or [ward_feature(c, square(i)) for i, c in enumerate(WARDS_2022)]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def mps_csv(rows: list[tuple], months=("202401", "202402")) -> bytes:
    lines = [f"{MPS_HEADER},{','.join(months)}"]
    for major, minor, ward, *counts in rows:
        lines.append(f"{major},{minor},Ward,{ward},Westminster,{','.join(map(str, counts))}")
    return ("\n".join(lines) + "\n").encode()


def api_json(records: list[dict]) -> bytes:
    return json.dumps(records).encode()


def crime(cid: int, month="2024-01", where: int = 0, slug="burglary") -> dict:
    lon, lat = lonlat(where)
    loc = {"latitude": str(lat), "longitude": str(lon)}
    return {"id": cid, "month": month, "category": slug, "location": loc}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# --- conservation: what a successful read must satisfy --------------------------------------


def _by_month(values: pd.Series | pd.DataFrame, weights: str | None = None) -> pd.Series:
    if isinstance(values, pd.DataFrame):
        if values.empty:
            return pd.Series(dtype="int64")
        return values.groupby(values[s.MONTH].astype(str))[weights].sum()
    return values.rename(index=str).groupby(level=0).sum()


def assert_conserved(frame: SourceFrame) -> None:
    """read = counted + rejected + duplicates, for every month and in total."""
    read = _by_month(frame.read_by_month)
    if len(frame.incidents):
        counted = frame.incidents[s.MONTH].astype(str).value_counts()
    elif len(frame.measures):
        counted = _by_month(frame.measures, s.COUNT)
    else:
        counted = _by_month(frame.counts, s.COUNT)
    parts = [counted, _by_month(frame.rejects, s.COUNT), _by_month(frame.duplicates_by_month)]
    total = pd.concat(parts).groupby(level=0).sum()
    both = read.index.union(total.index)
    diff = read.reindex(both, fill_value=0) - total.reindex(both, fill_value=0)
    assert (diff == 0).all(), f"not conserved: {diff[diff != 0].to_dict()}"
    for table in (frame.counts, frame.measures, frame.rejects):
        assert (table[s.COUNT] >= 0).all()
    if len(frame.incidents):
        assert list(frame.incidents.columns) == list(s.INCIDENT_COLUMNS)
        assert np.isfinite(frame.incidents[[s.X, s.Y]].to_numpy()).all()
        assert set(frame.incidents[s.CATEGORY].astype(str)) <= set(s.CATEGORIES)
        assert frame.incidents[s.MONTH].astype(str).str.fullmatch(r"[0-9]{4}-[0-9]{2}").all()


def assert_wards_usable(wards: gpd.GeoDataFrame) -> None:
    assert wards.crs == s.WORKING_CRS and len(wards) > 0
    assert wards.index.is_unique and (wards.index.str.strip() != "").all()
    geoms = np.asarray(wards.geometry.array, dtype=object)
    assert not shapely.is_empty(geoms).any()
    assert np.isin(shapely.get_type_id(geoms), (3, 6)).all()
    assert (wards[s.BOROUGH_CODE] != "").all() and (wards[s.BOROUGH_NAME] != "").all()


def read_or_error(read: Callable[[Path], object], path: Path) -> object | None:
    """The reader's result, or None for a PlannerError; anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recoverable problems may warn; that is allowed
        try:
            return read(path)
        except PlannerError as exc:
            assert str(exc).strip(), "a PlannerError must say what is wrong"
            return None


# --- the readers, each as path -> result ----------------------------------------------------

POINTS = PointColumns(month="month", category="type", lon="lon", lat="lat", incident_id="id")


def _street(p: Path) -> SourceFrame:
    config = shipped_config()
    return read_street_csv(p, categories=config.categories, checks=config.coordinates)


def _api(p: Path) -> SourceFrame:
    config = shipped_config()
    return read_api_json(p, categories=config.categories, checks=config.coordinates)


def _points(p: Path) -> SourceFrame:
    config = shipped_config()
    return read_points_csv(
        p, columns=POINTS, categories=config.categories, checks=config.coordinates
    )


def _mps(p: Path) -> SourceFrame:
    return read_mps_ward(p, categories=shipped_config().categories)


def _dash(p: Path) -> SourceFrame:
    return read_mps_dashboard(p, categories=shipped_config().categories)


def _wards(p: Path) -> gpd.GeoDataFrame:
    return read_wards(p, config=shipped_config()).frame


def _good_points() -> bytes:
    rows = ["id,month,type,lon,lat"]
    rows += [
        f"p{i},2024-0{1 + i % 2},{k},{lonlat(i % 4)[0]},{lonlat(i % 4)[1]}"
        for i, k in enumerate(["Burglary", "robbery", "Drugs", "Shoplifting"])
    ]
    return ("\n".join(rows) + "\n").encode()


def _good_dash() -> bytes:
    rows = [DASH_HEADER]
    for i, (area_type, code) in enumerate(
        [
            ("Safer Neighbourhood Teams", WARDS_2022[0]),
            ("Safer Neighbourhood Teams", "N/K"),
            ("Borough", "E09000033"),
            ("Safer Neighbourhood Teams", WARDS_2022[1]),
        ]
    ):
        rows.append(
            f"2024-0{1 + i % 2}-01,{area_type},{code},Domestic Abuse,Domestic Abuse,Offences,{i + 1}"
        )
    rows.append(
        f"2024-01-01,Safer Neighbourhood Teams,{WARDS_2022[2]},Knife Crime,Knife Crime,Offences,2"
    )
    return ("\n".join(rows) + "\n").encode()


def _good_mps() -> bytes:
    return mps_csv(
        [
            ("BURGLARY", "RES BURGLARY OF A HOME", WARDS_2022[0], 3, 1),
            ("THEFT", "SHOPLIFTING", WARDS_2022[1], 0, 4),
            ("FRAUD AND FORGERY", "FRAUD AND FORGERY", WARDS_2022[1], 2, 0),
            ("THEFT", "SOMETHING NEW", WARDS_2022[2], 1, 1),
        ]
    )


READERS = {
    # name: (reader, file suffix, a valid file, is the result a SourceFrame)
    "street_csv": (_street, ".csv", good_street(), True),
    "street_zip": (_street, ".zip", zipped({"2024/a.csv": good_street()}), True),
    "api_json": (_api, ".json", api_json([crime(i, where=i % 4) for i in range(6)]), True),
    "api_tar_gz": (_api, ".tar.gz", tar_gz({"a/1.json": api_json([crime(1), crime(2)])}), True),
    "points_csv": (_points, ".csv", _good_points(), True),
    "mps_ward": (_mps, ".csv", _good_mps(), True),
    "mps_dashboard": (_dash, ".csv", _good_dash(), True),
    "wards_geojson": (_wards, ".geojson", wards_geojson(), False),
}


def _check(name: str, path: Path, data: bytes) -> object | None:
    read, _, _, is_frame = READERS[name]
    path.write_bytes(data)
    result = read_or_error(read, path)
    if result is not None:
        if is_frame:
            assert_conserved(result)
        else:
            assert_wards_usable(result)
    return result


@pytest.mark.parametrize("name", list(READERS))
def test_valid_seed_files_read(tmp_path: Path, name: str) -> None:
    """The seeds the mutations start from are themselves valid."""
    _, suffix, data, _ = READERS[name]
    assert _check(name, tmp_path / f"seed{suffix}", data) is not None


# --- the corpus, through ingest --------------------------------------------------------------


def dataset(root: Path, sources: list[tuple[str, str, bytes]], wards: bytes | None = None):
    """A config whose one dataset reads *wards* and *sources* ((kind, file name, bytes))."""
    data = root / "data"
    (data / "in").mkdir(parents=True)
    (data / "wards.geojson").write_bytes(wards if wards is not None else wards_geojson())
    specs = []
    for kind, name, content in sources:
        target = data / "in" / name
        if isinstance(content, dict):  # a folder of files
            target.mkdir()
            for member, blob in content.items():
                (target / member).write_bytes(blob)
        else:
            target.write_bytes(content)
        specs.append(SourceSpec(kind=kind, path=f"in/{name}"))
    spec = DatasetSpec("corpus", "hostile inputs", WardsSpec(path="wards.geojson"), tuple(specs))
    config = shipped_config().with_data_dir(data).with_cache_dir(root / "cache")
    return dataclasses.replace(config, datasets={"corpus": spec})


def ingest_or_error(config: PlannerConfig) -> tuple[object | None, str]:
    """(result, "") or (None, the error's message); an error must leave no cache behind."""
    try:
        return ingest(config, use_cache=False), ""
    except DataError as exc:
        cache = Path(config.paths.cache_dir)
        files = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
        assert files == [], f"an error left files in the cache: {files}"
        return None, str(exc)


def street(data: bytes, name: str = "s.csv") -> list:
    return [("police_uk_csv", name, data)]


def two_wards(second: dict | None, code: str = WARDS_2022[1]) -> bytes:
    return wards_geojson([ward_feature(WARDS_2022[0], square(0)), ward_feature(code, second)])


HOME = ("BURGLARY", "RES BURGLARY OF A HOME")
BASE = [street_row("a1", where=0), street_row("a2", where=1), street_row("a3", where=2)]
SWAPPED = lonlat(0)[::-1]
BOWTIE = [  # a self-intersecting ring: repaired, and reported
    [lonlat(3)[0] + dx, lonlat(3)[1] + dy]
    for dx, dy in ((0, 0), (0.01, 0.01), (0.01, 0), (0, 0.01), (0, 0))
]
BAD_COORDINATES = [
    street_row("b1", where=SWAPPED),
    street_row("b2", where=(0.0, 0.0)),
    street_row("b3", where=(-0.12, 95.0)),
    street_row("b4", where=("", "")),
]
BAD_MONTHS = [
    street_row("b1", month="2024-13"),
    street_row("b2", month="２０２４-01"),  # full-width digits
    street_row("b3", kind=FORMULA),
]
API_FOLDER = {  # a crime in two neighbouring wards' files of one month, and in the next month's
    "2024-01.tar.gz": tar_gz(
        {"w1.json": api_json([crime(1), crime(2)]), "w2.json": api_json([crime(2)])}
    ),
    "2024-02.tar.gz": tar_gz({"w1.json": api_json([crime(1)])}),
}
MIXED_VINTAGES = mps_csv(  # two 2014 ward codes (Camden) against the May 2022 grid
    [
        (*HOME, WARDS_2022[0], 3, 1),
        (*HOME, "E05000644", 5, 2),
        ("ROBBERY", "ROBBERY OF PERSONAL PROPERTY", "E05000649", 0, 4),
    ]
)
REPAIRABLE = wards_geojson(
    [ward_feature(c, square(i)) for i, c in enumerate(WARDS_2022[:3])]
    + [ward_feature(WARDS_2022[3], {"type": "Polygon", "coordinates": [BOWTIE]})]
)
LATIN_1 = street_csv([*BASE, street_row("a4").replace("On or near X", "Café Row")])
MANY_MEMBERS = {f"w{i}.json": api_json([crime(i)] * 30) for i in range(20)}

ERRORS = {  # id: (sources, wards or None for the good grid, the error expected)
    "street-truncated-mid-line": (
        street(good_street(6)[:-20]),  # the last line loses its last columns
        None,
        r"cannot be read as CSV .*Expected 12 columns.*check it is a complete file",
    ),
    "street-zip-truncated": (
        street(zipped({"a.csv": good_street(50)})[:-40], "s.zip"),
        None,
        r"the zip is truncated or damaged .*download it again",
    ),
    "api-tar-gz-truncated": (
        [("police_uk_api", "a.tar.gz", tar_gz(MANY_MEMBERS)[:300])],  # cut between members
        None,
        r"the archive is truncated or damaged after member w\d+\.json \(EOFError",
    ),
    "street-latin-1": (
        street(LATIN_1.decode().encode("latin-1")),
        None,
        r"line 5 is not UTF-8 text .*Re-save the file as UTF-8",
    ),
    "street-utf-16": (
        street(street_csv(BASE).decode().encode("utf-16")),
        None,
        r"s\.csv: this is UTF-16 text \(little-endian, with a byte-order mark\).*iconv -f UTF-16 ",
    ),
    "street-utf-16-no-bom": (
        street(street_csv(BASE).decode().encode("utf-16-le")),
        None,
        r"s\.csv: this is UTF-16 text without a byte-order mark \(little-endian\).*UTF-16LE",
    ),
    "mps-utf-16": (
        [("mps_ward", "m.csv", _good_mps().decode().encode("utf-16"))],
        None,
        r"m\.csv: this is UTF-16 text .*Save As > CSV UTF-8",
    ),
    "mps-2014-codes-against-2022-wards": (
        [("mps_ward", "m.csv", MIXED_VINTAGES)],
        None,
        r"11 of 15 records \(73\.3%\) carry 2 ward codes that are not wards .*another ward "
        r"vintage\. Declare its vintage .*boundaries = ",
    ),
    "street-semicolons": (
        street(good_street(3).replace(b",", b";")),
        None,
        r"missing column\(s\) 'Crime ID', 'Month'",
    ),
    "street-all-swapped": (
        street(street_csv([street_row(f"x{i}", where=SWAPPED) for i in range(4)])),
        None,
        r"latitude and longitude look swapped .*swap the two column names",
    ),
    "street-all-eastings": (
        street(street_csv([street_row(f"x{i}", where=(529500, 180500)) for i in range(4)])),
        None,
        r"coordinates outside Great Britain .*eastings/northings",
    ),
    "street-empty-file": (street(b""), None, r"the file is empty"),
    "street-binary": (street(bytes(range(256)) * 8), None, r"is not UTF-8 text"),
    "mps-count-too-large": (
        [("mps_ward", "m.csv", mps_csv([(*HOME, WARDS_2022[0], 1, "99999999999999999999")]))],
        None,
        r"found row 1 \(line 2\): 99999999999999999999; .*no cell can hold more than 1,000,000,000",
    ),
    "wards-empty-geometry": (
        street(good_street()),
        two_wards({"type": "Polygon", "coordinates": []}),
        r"expected a non-empty polygon for every ward .*feature 2 \(E05013802\): no geometry",
    ),
    "wards-null-geometry": (
        street(good_street()),
        two_wards(None),
        r"feature 2 \(E05013802\): no geometry",
    ),
    "wards-point-geometry": (
        street(good_street()),
        two_wards({"type": "Point", "coordinates": list(lonlat(1))}),
        r"feature 2 \(E05013802\): Point",
    ),
    "wards-duplicate-codes": (
        street(good_street()),
        two_wards(square(1), code=WARDS_2022[0]),
        r"code E05013801 repeated \(features 1, 2\)",
    ),
    "wards-truncated": (
        street(good_street()),
        wards_geojson()[:300],
        r"wards\.geojson: not a readable boundary file",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_corpus_errors_are_clear_and_write_nothing(tmp_path: Path, case: str) -> None:
    sources, wards, match = ERRORS[case]
    result, message = ingest_or_error(dataset(tmp_path, sources, wards))
    assert result is None, f"{case}: expected an error, ingest succeeded"
    assert re.search(match, message, flags=re.S), message


REJECTS = {  # id: (sources, wards or None, {reason: records} expected, duplicates expected)
    "street-some-swapped-and-out-of-range": (
        street(street_csv(BASE + BAD_COORDINATES)),
        None,
        {s.REASON_LAT_LON_SWAPPED: 1, s.REASON_OUTSIDE_GB: 2, s.REASON_NO_COORDINATES: 1},
        0,
    ),
    "street-bad-months-and-categories": (
        street(street_csv(BASE + BAD_MONTHS)),
        None,
        {s.REASON_BAD_MONTH: 2, s.REASON_UNKNOWN_CATEGORY: 1},
        0,
    ),
    "street-duplicate-crime-ids": (
        street(street_csv([*BASE, street_row("a1", where=0), street_row("a1", where=0)])),
        None,
        {},
        2,
    ),
    "api-duplicates-across-archives": (
        [("police_uk_api", "api", API_FOLDER)],
        None,
        {},
        2,
    ),
    "dashboard-unknown-areas": (
        [("mps_dashboard", "d.csv", _good_dash())],
        None,
        {s.REASON_UNKNOWN_WARD: 2},
        0,
    ),
    "street-old-mac-line-endings": (street(good_street(3).replace(b"\n", b"\r")), None, {}, 0),
    "wards-self-intersecting": (
        street(good_street()),
        REPAIRABLE,
        {},
        0,
    ),
}


@pytest.mark.parametrize("case", list(REJECTS))
def test_corpus_rejects_are_counted(tmp_path: Path, case: str) -> None:
    sources, wards, reasons, duplicates = REJECTS[case]
    config = dataset(tmp_path, sources, wards)
    # one unknown name in six rows is over max_unknown_share (tested on its own): allow it here
    categories = dataclasses.replace(config.categories, max_unknown_share=1.0)
    result, message = ingest_or_error(dataclasses.replace(config, categories=categories))
    assert result is not None, message
    assert result.quality["conservation_ok"]
    got = result.rejects.groupby(s.REASON)[s.COUNT].sum()
    assert {k: int(v) for k, v in got.items()} == reasons
    (totals,) = result.quality["totals"].values()
    counted = sum(v for k, v in totals.items() if k.startswith("counted"))
    assert totals["duplicates"] == duplicates
    assert totals["read"] == counted + sum(reasons.values()) + duplicates
    if case == "wards-self-intersecting":
        report = result.quality["wards"]["boundary_file"]
        assert report["repaired_geometries"] == 1
        assert report["repaired_ward_codes"] == [WARDS_2022[3]]


# --- months after today ----------------------------------------------------------------------


def test_months_after_this_month_are_rejected_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.csv"
    path.write_bytes(street_csv([street_row("a1"), street_row("f1", month="2099-01")]))
    frame = _street(path)
    assert frame.rejects[[s.REASON, s.INCIDENT_ID]].values.tolist() == [
        [s.REASON_FUTURE_MONTH, "f1"]
    ]
    assert frame.read_by_month.to_dict() == {"2024-01": 1, "unknown": 1}
    assert_conserved(frame)
    path.write_bytes(mps_csv([(*HOME, WARDS_2022[0], 3, 1)], ("202401", "209901")))
    with pytest.raises(DataError, match=r"'209901' is a month in the future \(today is "):
        _mps(path)


def test_dashboard_months_after_this_month_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.csv"
    path.write_bytes(_good_dash().replace(b"2024-02-01", b"2099-02-01"))
    with pytest.raises(DataError, match=r"future"):
        _dash(path)


# --- a million rows, one bad line ------------------------------------------------------------


@pytest.fixture(scope="module")
def million_rows() -> bytes:
    """1,000,000 police.uk rows (63 MB), built once per module in a few seconds."""
    lon, lat = lonlat(0)
    body = "".join(
        f"c{i:07d},2024-0{1 + i % 9},Met,Met,{lon},{lat},X,E01,L,Burglary,,\n"
        for i in range(1_000_000)
    )
    return (STREET_HEADER + "\n").encode() + body.encode()


def _replace_line(data: bytes, line_no: int, new: bytes) -> bytes:
    start = -1
    for _ in range(line_no):
        start = data.index(b"\n", start + 1)
    end = data.index(b"\n", start + 1)
    return data[: start + 1] + new + data[end:]


@pytest.mark.slow
def test_a_million_rows_with_one_bad_month_give_one_reject(tmp_path, million_rows) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(
        _replace_line(million_rows, 777_777, street_row("bad", month="2024-1x").encode())
    )
    started = time.perf_counter()
    frame = _street(path)
    elapsed = time.perf_counter() - started
    assert len(frame.rejects) == 1 and frame.rejects[s.COUNT].sum() == 1
    bad = frame.rejects.iloc[0]
    assert (bad[s.REASON], bad[s.SOURCE_ROW], bad[s.INCIDENT_ID]) == (
        s.REASON_BAD_MONTH,
        777_777,
        "bad",
    )
    assert len(frame.incidents) == 999_999
    assert_conserved(frame)
    assert elapsed < 60, f"reading 1,000,000 rows took {elapsed:.1f} s"


def test_a_million_rows_with_one_broken_line_give_a_clear_error(tmp_path, million_rows) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(_replace_line(million_rows, 500_000, b"c0500000,2024-01,Met,Met,oops"))
    started = time.perf_counter()
    with pytest.raises(
        DataError,
        match=r"big\.csv: cannot be read as CSV .*Expected 12 columns, got 5: c0500000,2024-01,Met,Met,oops",
    ):
        _street(path)
    assert time.perf_counter() - started < 60


# --- formula text in names ----------------------------------------------------------------


def test_formula_text_in_names_is_neutralised_in_exports(tmp_path: Path) -> None:
    """A ward and a borough named =HYPERLINK(...) in the boundary file stay text in CSV/Excel."""
    openpyxl = pytest.importorskip("openpyxl")
    features = [ward_feature(c, square(i), name=f"Ward {i}") for i, c in enumerate(WARDS_2022)]
    features[1]["properties"]["WD22NM"] = FORMULA
    features[2]["properties"]["WD22NM"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    for f in features:
        f["properties"]["LAD22NM"] = "-2+3+cmd|' /C calc'!A0"
    (tmp_path / "w.geojson").write_bytes(wards_geojson(features))
    wards = _wards(tmp_path / "w.geojson")
    assert wards.loc[WARDS_2022[1], s.WARD_NAME] == FORMULA  # read as it is ...
    need = pd.Series([4.0, 3.0, 2.0, 1.0], index=wards.index)
    result = allocate_wards(need, wards[s.BOROUGH_CODE], pool=6, settings=allocation_settings())
    out = tmp_path / "out"
    files = write_allocation(
        result, wards, out, manifest={"dataset": FORMULA}, formats=("csv", "xlsx"), stem=FORMULA
    )
    assert all(f.parent == out for f in files)  # the stem cannot leave the folder
    base = safe_filename(FORMULA)
    table = pd.read_csv(out / f"{base}.csv")
    assert f"'{FORMULA}" in table[s.WARD_NAME].tolist()  # ... and exported as text
    assert table[s.WARD_NAME].str.match(r"[=+\-@]").sum() == 0
    assert table[s.BOROUGH_NAME].str.startswith("'-2+3").all()
    book = openpyxl.load_workbook(out / f"{base}.xlsx")
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert f"'{FORMULA}" in texts
    assert not [t for t in texts if t[:1] in "=+-@"], "a cell would run as a formula"
    assert all(c.data_type != "f" for c in cells)


# --- property-based fuzzing -------------------------------------------------------------

_TOKENS = [bytes([c]) for c in b',\n\r"\x00;\t-[]{}\xe9'] + [
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"1e400",
    b"nan",
    b"-inf",
    b"99999999999999999999",
    b"2099-12",
    b"0000-00",
    b"null",
    b'"id":',
    b"E05000001",
    b"=cmd|' /C calc'!A0",
]
_EDITS = st.lists(
    st.tuples(
        st.integers(0, 4),  # truncate, insert, overwrite, delete a span, repeat a span
        st.floats(0, 1, exclude_max=True),  # where, as a share of the length
        st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(_TOKENS)),
    ),
    min_size=1,
    max_size=6,
)


def _mutate(data: bytes, edits: list[tuple[int, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, payload in edits:
        i = int(where * len(out))
        if kind == 0:
            del out[i:]
        elif kind == 1:
            out[i:i] = payload
        elif kind == 2:
            out[i : i + len(payload)] = payload
        elif kind == 3:
            del out[i : i + 1 + 3 * len(payload)]
        else:
            out[i:i] = out[i : i + 1 + 5 * len(payload)]
    return bytes(out)


@pytest.mark.parametrize("name", list(READERS))
@FUZZ
@given(data=st.binary(max_size=3000))
def test_fuzz_random_bytes(tmp_path: Path, name: str, data: bytes) -> None:
    _check(name, tmp_path / f"random{READERS[name][1]}", data)


@pytest.mark.parametrize("name", list(READERS))
@FUZZ
@given(edits=_EDITS)
def test_fuzz_mutations_of_a_valid_file(tmp_path: Path, name: str, edits: list) -> None:
    _check(name, tmp_path / f"mutated{READERS[name][1]}", _mutate(READERS[name][2], edits))


# Structurally valid files whose cells are mostly plausible and sometimes anything: they get
# past the parsers to the checks behind them (months, coordinates, categories, counts, ward
# codes, geometry), and many of them read, so conservation is checked on real output.
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


def _mostly(*values: object, odd: st.SearchStrategy = _TEXT) -> st.SearchStrategy:
    """One of *values* seven times in eight, else *odd* (any text by default)."""
    return st.integers(0, 7).flatmap(lambda k: odd if k == 0 else st.sampled_from(values))


_LON = _mostly(*(str(lonlat(i)[0]) for i in range(4)), "", odd=st.floats().map(str) | _TEXT)
_LAT = _mostly(*(str(lonlat(i)[1]) for i in range(4)), "", odd=st.floats().map(str) | _TEXT)
_MONTH = _mostly("2024-01", "2024-02", "2024-03", "2024-13")
_KIND = _mostly("Burglary", "Anti-social behaviour", "robbery", "Drugs", FORMULA)
_ID = _mostly("", "c1", "c2", "c3")
_COUNT = _mostly(
    *map(str, range(6)),
    "12",
    " 3 ",
    "0.0",
    odd=_TEXT | st.sampled_from(["-1", "1.5", "1e20", "nan"]),
)
_WARD_CODE = _mostly(*WARDS_2022, "E05000644", "N/K")


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue().encode("utf-8")


@FUZZ
@given(rows=st.lists(st.tuples(_ID, _MONTH, _LON, _LAT, _KIND), max_size=25))
def test_fuzz_street_cells(tmp_path: Path, rows: list) -> None:
    table = [[i, m, "Met", "Met", lo, la, "X", "E01", "L", k, "", ""] for i, m, lo, la, k in rows]
    _check("street_csv", tmp_path / "cells.csv", _csv_bytes(STREET_HEADER.split(","), table))


@FUZZ
@given(rows=st.lists(st.tuples(_ID, _MONTH, _KIND, _LON, _LAT).map(list), max_size=25))
def test_fuzz_points_cells(tmp_path: Path, rows: list) -> None:
    header = ["id", "month", "type", "lon", "lat"]
    _check("points_csv", tmp_path / "cells.csv", _csv_bytes(header, rows))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_LOCATION = st.fixed_dictionaries({"latitude": _LAT, "longitude": _LON})
_CRIME = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(0, 6) | _mostly(0, odd=_JSON),
        "month": _mostly("2024-01", "2024-02", odd=_JSON | _MONTH),
        "category": _mostly("burglary", "anti-social-behaviour", "drugs", odd=_JSON | _KIND),
        "location": st.integers(0, 7).flatmap(lambda k: _JSON if k == 0 else _LOCATION),
    },
)


@FUZZ
@given(records=st.lists(_CRIME, max_size=12))
def test_fuzz_api_records(tmp_path: Path, records: list) -> None:
    _check("api_json", tmp_path / "records.json", json.dumps(records).encode())


_MINOR = _mostly(
    HOME,
    ("THEFT", "SHOPLIFTING"),
    ("FRAUD AND FORGERY", "FRAUD AND FORGERY"),
    odd=st.tuples(_TEXT, _TEXT),
)
_MONTH_COLUMNS = st.lists(
    _mostly("202401", "202402", "202403"), min_size=1, max_size=3, unique=True
)


@FUZZ
@given(
    months=_MONTH_COLUMNS,
    rows=st.lists(
        st.tuples(_MINOR, _WARD_CODE, st.lists(_COUNT, min_size=3, max_size=3)), max_size=10
    ),
)
def test_fuzz_mps_ward_cells(tmp_path: Path, months: list, rows: list) -> None:
    header = [*MPS_HEADER.split(","), *months]
    table = [[a, b, "W", ward, "Westminster", *n[: len(months)]] for (a, b), ward, n in rows]
    _check("mps_ward", tmp_path / "cells.csv", _csv_bytes(header, table))


_DASH_ROW = st.tuples(
    _mostly("2024-01-01", "2024-02-01", "20240301"),
    _mostly("Safer Neighbourhood Teams", "Safer Neighbourhood Teams", "Borough"),
    _WARD_CODE,
    _mostly(
        ("Domestic Abuse", "Domestic Abuse"),
        ("Knife Crime", "Knife Crime"),
        odd=st.tuples(_TEXT, _TEXT),
    ),
    _mostly("Offences", "Offences", "Positive Outcomes"),
    _COUNT,
)


@FUZZ
@given(rows=st.lists(_DASH_ROW, max_size=12))
def test_fuzz_dashboard_cells(tmp_path: Path, rows: list) -> None:
    table = [[m, area, code, a, b, measure, n] for m, area, code, (a, b), measure, n in rows]
    _check("mps_dashboard", tmp_path / "cells.csv", _csv_bytes(DASH_HEADER.split(","), table))


_COORD = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e300, 0.0])
_NEAR = st.tuples(st.floats(-0.14, -0.12), st.floats(51.50, 51.52)).map(list)
_RING = st.lists(
    st.integers(0, 7).flatmap(lambda k: st.tuples(_COORD, _COORD).map(list) if k == 0 else _NEAR),
    max_size=7,
)
_ODD_GEOMETRY = st.sampled_from(
    [
        None,
        {"type": "Point", "coordinates": [-0.1, 51.5]},
        {"type": "Polygon", "coordinates": []},
        {"type": "GeometryCollection", "geometries": []},
    ]
)
_GEOMETRY = st.one_of(
    st.integers(0, 3).map(square),
    st.integers(0, 3).map(square),
    _RING.map(lambda ring: {"type": "Polygon", "coordinates": [ring + ring[:1]]}),
    st.lists(_RING, max_size=2).map(lambda rs: {"type": "MultiPolygon", "coordinates": [rs]}),
    _ODD_GEOMETRY,
)
_FEATURE = st.tuples(
    _WARD_CODE, _mostly("Ward A", FORMULA), _mostly("E09000033", "E09000007", ""), _GEOMETRY
)


@FUZZ
@given(features=st.lists(_FEATURE, min_size=1, max_size=5))
def test_fuzz_ward_features(tmp_path: Path, features: list) -> None:
    feats = [ward_feature(code, geom, name, lad) for code, name, lad, geom in features]
    data = json.dumps({"type": "FeatureCollection", "features": feats}, allow_nan=True)
    _check("wards_geojson", tmp_path / "features.geojson", data.encode())
