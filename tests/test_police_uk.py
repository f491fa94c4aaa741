"""Tests for planner.ingest.sources.police_uk: street CSVs, API JSON and generic points."""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from planner import schema as s
from planner.config import PointColumns, SettingsError, load_config
from planner.errors import ConfigError, DataError
from planner.ingest.sources.police_uk import read_points_csv, read_street_csv
from planner.ingest.sources.police_uk_api import read_api_json
from tests.factories import CONFIG_DIR, config_copy

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)
# Trafalgar Square and Tower Bridge, in WGS84
TRAFALGAR = (-0.128, 51.508)
TOWER = (-0.0754, 51.5055)


def street_row(cid="a1", month="2024-04", lon=TRAFALGAR[0], lat=TRAFALGAR[1], ctype="Burglary"):
    return f"{cid},{month},Met,Met,{lon},{lat},On or near X,E01,Name,{ctype},Under investigation,"


def write_csv(folder: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def read(path: Path, config):
    return read_street_csv(path, categories=config.categories, checks=config.coordinates)


def test_street_csv_rows_become_canonical(tmp_path, config):
    path = write_csv(
        tmp_path,
        "2024-04-metropolitan-street.csv",
        [street_row("a1"), street_row("", ctype="Anti-social behaviour"), street_row("a3", lon="")],
    )
    frame = read(path, config)
    assert list(frame.incidents.columns) == list(s.INCIDENT_COLUMNS)
    assert len(frame.incidents) == 2
    assert set(frame.incidents[s.CATEGORY]) == {"Burglary", s.ASB}
    asb = frame.incidents[frame.incidents[s.CATEGORY] == s.ASB]
    assert asb[s.INCIDENT_ID].isna().all()  # ASB has no Crime ID
    x, y = frame.incidents[[s.X, s.Y]].iloc[0]
    assert 529_000 < x < 531_000 and 180_000 < y < 181_000  # Trafalgar Square in BNG
    assert frame.rejects[s.REASON].tolist() == [s.REASON_NO_COORDINATES]
    assert frame.rejects[s.SOURCE_ROW].tolist() == [3]
    assert frame.read_by_month.to_dict() == {"2024-04": 3}


def test_folder_and_zip_read_the_same(tmp_path, config):
    folder = tmp_path / "csvs"
    folder.mkdir()
    write_csv(folder, "2024-04-street.csv", [street_row("a1"), street_row("a2")])
    write_csv(folder, "2024-05-street.csv", [street_row("b1", month="2024-05")])
    with zipfile.ZipFile(tmp_path / "all.zip", "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"2024/{f.name}")
    from_folder, from_zip = read(folder, config), read(tmp_path / "all.zip", config)
    assert len(from_folder.incidents) == len(from_zip.incidents) == 3
    assert from_zip.read_by_month.to_dict() == {"2024-04": 2, "2024-05": 1}
    assert len(from_zip.files) == 2


def test_duplicate_crime_ids_are_counted_once(tmp_path, config):
    path = write_csv(tmp_path, "d.csv", [street_row("same"), street_row("same"), street_row("")])
    frame = read(path, config)
    assert len(frame.incidents) == 2
    assert frame.duplicates_by_month.to_dict() == {"2024-04": 1}


def test_a_few_bad_rows_are_rejected_with_reasons(tmp_path, config):
    good = [street_row(f"g{i}") for i in range(10)]
    bad = [
        street_row("m1", month="2024-13"),
        street_row("o1", lon="-40.0", lat="10.0"),
        street_row("s1", lon=str(TRAFALGAR[1]), lat=str(TRAFALGAR[0])),
        street_row("c1", ctype="Jaywalking"),
    ]
    frame = read(write_csv(tmp_path, "x.csv", good + bad), config)
    reasons = dict(zip(frame.rejects[s.INCIDENT_ID], frame.rejects[s.REASON], strict=True))
    assert reasons == {
        "m1": s.REASON_BAD_MONTH,
        "o1": s.REASON_OUTSIDE_GB,
        "s1": s.REASON_LAT_LON_SWAPPED,
        "c1": s.REASON_UNKNOWN_CATEGORY,
    }
    assert len(frame.incidents) == 10
    assert frame.read_by_month.sum() == 14  # nothing lost: read = kept + rejected


@pytest.mark.parametrize(
    ("rows", "header", "match"),
    [
        pytest.param([street_row()], HEADER.replace("Month", "Mnth"), "missing column.*'Month'.*'Mnth' looks like", id="renamed-column"),
        pytest.param([street_row()], HEADER.replace("Crime type", "Offence"), "missing column.*'Crime type'", id="missing-column"),
        pytest.param([street_row(month="04/2024")] * 3, HEADER, "row 1: column Month holds '04/2024'; expected a month", id="unparseable-months"),
        pytest.param([street_row(lon=str(TRAFALGAR[1]), lat=str(TRAFALGAR[0]))] * 3, HEADER, "latitude and longitude look swapped", id="swapped-lat-lon"),
        pytest.param([street_row(lon="530000", lat="180000")] * 3, HEADER, "outside Great Britain.*easting/northing", id="outside-gb"),
    ],
)  # fmt: skip
def test_bad_files_raise_naming_the_problem(tmp_path, config, rows, header, match):
    path = write_csv(tmp_path, "bad.csv", rows, header=header)
    with pytest.raises(DataError, match=match) as info:
        read(path, config)
    assert "bad.csv" in str(info.value)


def test_empty_file_is_an_error(tmp_path, config):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        read(tmp_path / "empty.csv", config)


def test_text_that_is_not_utf8_names_the_line(tmp_path, config):
    body = "\n".join([HEADER, street_row("a1"), street_row("a2").replace("On or near X", "Café")])
    (tmp_path / "latin1.csv").write_bytes(body.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv: line 3 is not UTF-8.*CSV UTF-8"):
        read(tmp_path / "latin1.csv", config)


def test_truncated_zip_is_an_error(tmp_path, config):
    write_csv(tmp_path, "a.csv", [street_row()] * 200)
    with zipfile.ZipFile(tmp_path / "z.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "a.csv", "a.csv")
    data = (tmp_path / "z.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.zip: the zip is truncated or damaged"):
        read(tmp_path / "cut.zip", config)


# --- API JSON -------------------------------------------------------------------------


def crime(cid: int, month="2017-01", slug="burglary", lon=TRAFALGAR[0], lat=TRAFALGAR[1]):
    loc = None if lon is None else {"latitude": str(lat), "longitude": str(lon), "street": {}}
    return {"category": slug, "location": loc, "month": month, "id": cid, "context": ""}


def make_archive(path: Path, members: dict[str, list[dict]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, crimes in members.items():
            data = json.dumps(crimes).encode()
            info = tarfile.TarInfo(f"{path.name.split('.')[0]}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def read_api(path: Path, config):
    return read_api_json(path, categories=config.categories, checks=config.coordinates)


def test_api_archives_are_read_and_deduplicated(tmp_path, config):
    folder = tmp_path / "api"
    folder.mkdir()
    make_archive(
        folder / "london_month_2017_01.tar.gz",
        {
            "area_A.json": [crime(1), crime(2, slug="anti-social-behaviour"), crime(3, lon=None)],
            "area_B.json": [crime(2, slug="anti-social-behaviour"), crime(4, slug="violent-crime")],
            "area_C.json": [],
        },
    )
    make_archive(folder / "london_month_2017_02.tar.gz", {"a.json": [crime(5, month="2017-02")]})
    frame = read_api(folder, config)
    assert sorted(frame.incidents[s.INCIDENT_ID]) == ["1", "2", "4", "5"]
    assert set(frame.incidents[s.CATEGORY]) == {"Burglary", s.ASB, "Violence and sexual offences"}
    assert frame.duplicates_by_month.to_dict() == {"2017-01": 1}
    assert frame.rejects[s.REASON].tolist() == [s.REASON_NO_COORDINATES]
    assert frame.read_by_month.to_dict() == {"2017-01": 5, "2017-02": 1}
    kept = frame.incidents.set_index(s.INCIDENT_ID)
    # records are labelled by their archive
    assert kept.loc["2", s.SOURCE] == "london_month_2017_01.tar.gz"


def test_api_coordinates_are_checked_per_distinct_point(tmp_path, config):
    """Swapped and out-of-range points are set aside record by record (each distinct point is
    checked once); a file where most are swapped is refused naming a record's values."""
    folder = tmp_path / "api"
    folder.mkdir()
    swapped = {"lon": TRAFALGAR[1], "lat": TRAFALGAR[0]}
    records = [crime(k) for k in range(20)]
    records += [crime(100 + k, **swapped) for k in range(2)]  # one point, two records
    records += [crime(200, lon=3.5, lat=60.0), crime(201, lon=None)]  # outside GB; no location
    make_archive(folder / "london_month_2017_01.tar.gz", {"a.json": records})
    frame = read_api(folder, config)
    reasons = frame.rejects.set_index(s.INCIDENT_ID)[s.REASON].to_dict()
    assert reasons == {
        "100": s.REASON_LAT_LON_SWAPPED,
        "101": s.REASON_LAT_LON_SWAPPED,
        "200": s.REASON_OUTSIDE_GB,
        "201": s.REASON_NO_COORDINATES,
    }
    assert len(frame.incidents) == 20
    assert frame.incidents[[s.X, s.Y]].drop_duplicates().shape[0] == 1  # all at Trafalgar
    make_archive(folder / "london_month_2017_02.tar.gz", {"b.json": [crime(300 + k, month="2017-02", **swapped) for k in range(5)]})  # fmt: skip
    with pytest.raises(DataError, match=r"2017_02\.tar\.gz:london_month_2017_02/b\.json, record 1: latitude and longitude look swapped "
                       r"\(Longitude=51\.508, Latitude=-0\.128; 5 of 5 located rows fail\)"):  # fmt: skip
        read_api(folder, config)


def test_an_api_answer_that_is_mostly_wrong_is_named_with_its_record(tmp_path, config):
    """A refusal names the archive member and the record within it, not the archive alone."""
    good = [crime(k) for k in range(3)]
    answer = [crime(10), crime(11)] + [crime(20 + k, month="2017/01") for k in range(6)]
    path = make_archive(
        tmp_path / "london_month_2017_01.tar.gz", {"a.json": good, "b.json": answer}
    )
    with pytest.raises(
        DataError,
        match=r"london_month_2017_01\.tar\.gz:london_month_2017_01/b\.json, record 3: column "
        r"Month holds '2017/01'; expected a month in the form YYYY-MM \(6 of 11 rows fail\)",
    ):
        read_api(path, config)


def test_api_single_json_file(tmp_path, config):
    (tmp_path / "one.json").write_text(json.dumps([crime(1), crime(2, slug="drugs")]))
    frame = read_api(tmp_path / "one.json", config)
    assert sorted(frame.incidents[s.CATEGORY]) == ["Burglary", "Drugs"]


def test_truncated_archive_is_an_error(tmp_path, config):
    crimes = [crime(i) for i in range(3000)]
    full = make_archive(tmp_path / "full.tar.gz", {"a.json": crimes, "b.json": crimes})
    data = full.read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.tar.gz: the archive is truncated or damaged"):
        read_api(tmp_path / "cut.tar.gz", config)


def test_json_that_is_not_crimes_is_an_error(tmp_path, config):
    (tmp_path / "bad.json").write_text('{"not": "an array"')
    with pytest.raises(DataError, match="bad.json: a file is not a JSON array of police.uk"):
        read_api(tmp_path / "bad.json", config)


# --- generic points --------------------------------------------------------------------


def test_points_csv_with_eastings_and_northings(tmp_path, config):
    (tmp_path / "p.csv").write_text(
        "ref,when,what,E,N\n1,2024-01,robbery,530000,180500\n2,2024-01,Robbery,,\n"
    )
    cols = PointColumns(
        month="when",
        category="what",
        incident_id="ref",
        easting="E",
        northing="N",
        crs="EPSG:27700",
    )
    frame = read_points_csv(
        tmp_path / "p.csv", columns=cols, categories=config.categories, checks=config.coordinates
    )
    assert np.allclose(frame.incidents[[s.X, s.Y]].to_numpy(), [[530000, 180500]])
    assert frame.incidents[s.CATEGORY].tolist() == ["Robbery"]  # API slug or CSV name
    assert frame.rejects[s.REASON].tolist() == [s.REASON_NO_COORDINATES]


POINTS_WITHOUT_COORDINATES = """
[datasets.points]
description = "a points CSV whose columns table names no coordinates"
[datasets.points.wards]
path = "wards/grid.geojson"
[[datasets.points.sources]]
kind = "points_csv"
path = "incidents/p.csv"
columns = { month = "when", category = "what" }
"""


def test_points_csv_needs_a_coordinate_pair(tmp_path):
    """A points columns table without lon/lat or easting/northing cannot be made (the check
    moved from read_points_csv into PointColumns), and load_config names where it is."""
    with pytest.raises(SettingsError, match="give lon and lat, or easting and northing columns"):
        PointColumns(month="when", category="what")
    text = (CONFIG_DIR / "planner.toml").read_text(encoding="utf-8") + POINTS_WITHOUT_COORDINATES
    cdir = config_copy(tmp_path, planner=text)
    where = f"{cdir / 'planner.toml'} [datasets.points].sources[0].columns"
    with pytest.raises(ConfigError, match=re.escape(f"{where}: give lon and lat, or easting")):
        load_config(cdir)
