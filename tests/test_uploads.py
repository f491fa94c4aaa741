"""Tests for planner.ingest.uploads: type and size checks, private reading, join and quality report."""

from __future__ import annotations

import dataclasses
import io
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from planner import schema as s
from planner.config import PlannerConfig, UploadLimits
from planner.errors import DataError
from planner.ingest.quality import format_quality
from planner.ingest.sources.wards import WardFile
from planner.ingest.uploads import (
    INCIDENT_TYPES,
    WARD_TYPES,
    check_upload,
    read_incident_upload,
    read_ward_upload,
)
from tests.factories import shipped_config

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)
X0, Y0, SIDE = 530_000.0, 180_000.0, 1_000.0
CODES = ["E05000001", "E05000002", "E05000003", "E05000004"]  # BL, BR, TL, TR
LEFT, RIGHT = "E09000002", "E09000003"


def grid() -> gpd.GeoDataFrame:
    """A 2x2 grid of 1 km wards (EPSG:27700) in two boroughs, as read_ward_upload reads."""
    squares = [
        box(X0 + i * SIDE, Y0 + j * SIDE, X0 + (i + 1) * SIDE, Y0 + (j + 1) * SIDE)
        for j in range(2)
        for i in range(2)
    ]
    return gpd.GeoDataFrame(
        {
            "GSS_CODE": CODES,
            "NAME": ["Ward A", "Ward B", "Ward C", "Ward D"],
            "LAGSSCODE": [LEFT, RIGHT, LEFT, RIGHT],
            "DISTRICT": ["Barking and Dagenham", "Barnet", "Barking and Dagenham", "Barnet"],
        },
        geometry=squares,
        crs=s.WORKING_CRS,
    )


def lonlat(x: float, y: float) -> tuple[float, float]:
    point = gpd.GeoSeries.from_xy([x], [y], crs=s.WORKING_CRS).to_crs(s.DISPLAY_CRS)
    return round(point.x[0], 6), round(point.y[0], 6)


def row(cid: str, x: float, y: float, ctype: str = "Burglary", month: str = "2024-04") -> str:
    lon, lat = lonlat(x, y)
    return f"{cid},{month},Met,Met,{lon},{lat},On or near X,E01,Name,{ctype},Open,"


def street_csv() -> bytes:
    """3 burglaries in ward A (bottom left), 1 in D (top right), 1 ASB in D, 1 far away."""
    rows = [
        row("a1", X0 + 200, Y0 + 200),
        row("a2", X0 + 500, Y0 + 500),
        row("a3", X0 + 800, Y0 + 300, month="2024-05"),
        row("d1", X0 + 1500, Y0 + 1500),
        row("", X0 + 1600, Y0 + 1400, ctype="Anti-social behaviour"),
        row("far", X0 + 8000, Y0 + 8000),
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.fixture
def config(tmp_path: Path) -> PlannerConfig:
    """The shipped configuration with its own (watched) data and cache folders."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    cache.mkdir()
    (data / "keep.txt").write_text("shared")
    return shipped_config().with_data_dir(data).with_cache_dir(cache)


@pytest.fixture
def ward_file(config, tmp_path: Path) -> WardFile:
    return read_ward_upload("wards.geojson", geojson_bytes(tmp_path), config=config)


@pytest.fixture
def wards(ward_file: WardFile) -> gpd.GeoDataFrame:
    return ward_file.frame


def geojson_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "grid.geojson"
    grid().to_file(path)
    data = path.read_bytes()
    path.unlink()
    return data


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for folder in folders
        for p in sorted(folder.rglob("*"))
    }


# --- type and size --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tool.exe", "wards.shp", "notes", "data.csv.exe", "x.xlsx"])
def test_types_not_on_the_whitelist_are_refused_by_name(name):
    with pytest.raises(DataError, match=r"cannot be uploaded here; accepted types are \.csv"):
        check_upload(name, 10, allowed=INCIDENT_TYPES)


def test_accepted_types_pass_ignoring_case_and_folders():
    assert check_upload("C:\\Users\\me\\2024-04-met-street.CSV", 10, allowed=INCIDENT_TYPES) == (
        ".csv"
    )
    assert check_upload("wards.GeoJSON", 10, allowed=WARD_TYPES) == ".geojson"


def test_the_size_limit_and_empty_files():
    with pytest.raises(DataError, match=r"2\.0 MB is more than the 1 MB upload limit"):
        check_upload("big.csv", 2_000_000, allowed=INCIDENT_TYPES, max_bytes=1_000_000)
    with pytest.raises(DataError, match="the file is empty"):
        check_upload("empty.csv", 0, allowed=INCIDENT_TYPES)


def test_an_oversized_upload_is_refused_before_reading(config, wards):
    with pytest.raises(DataError, match="upload limit"):
        read_incident_upload("s.csv", street_csv(), wards=wards, config=config, max_bytes=100)


def test_an_exe_is_refused_with_a_clear_message(config, wards):
    with pytest.raises(DataError, match=r"'setup\.exe': a \.exe file cannot be uploaded here"):
        read_incident_upload("setup.exe", b"MZ\x90\x00", wards=wards, config=config)


def test_a_zip_bomb_is_refused_from_its_declared_size(config, wards):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge.csv", b"0" * 2_000_000)
    small = dataclasses.replace(config, limits=UploadLimits(max_unzipped_mb=1.0))
    with pytest.raises(DataError, match=r"unpacking to 2 MB; .* 1 MB \(max_unzipped_mb\)"):
        read_incident_upload("bomb.zip", buffer.getvalue(), wards=wards, config=small)


# --- reading and joining --------------------------------------------------------------------


def test_a_street_csv_is_joined_to_the_wards_with_counts_and_a_quality_report(
    config, ward_file, tmp_path, monkeypatch
):
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    before = snapshot(config.data_dir, config.cache_dir)
    upload = read_incident_upload(
        "met-street.csv",
        street_csv(),
        wards=ward_file.frame,
        ward_report=ward_file.report,
        config=config,
    )
    assert snapshot(config.data_dir, config.cache_dir) == before  # nothing shared written
    assert list(private.iterdir()) == []  # the private temporary folder is gone
    table = upload.ward_counts
    assert table.index.tolist() == ["E05000001", "E05000004"]
    assert table["records"].tolist() == [3, 2]
    assert table["crimes"].tolist() == [3, 1]
    assert table["asb"].tolist() == [0, 1]
    assert table.loc["E05000001", s.WARD_NAME] == "Ward A"
    assert table.loc["E05000004", s.BOROUGH_NAME] == "Barnet"
    quality = upload.quality
    assert quality["conservation_ok"]
    assert quality["wards"]["with_no_records"] == 2
    assert quality["asb"]["records"] == 1
    assert quality["wards"]["boundary_file"] == ward_file.report  # the uploaded ward file's
    assert quality["wards"]["boundary_file"]["path"] == "wards.geojson"
    assert upload.rejects[s.REASON].tolist() == [s.REASON_OUTSIDE_WARDS]
    text = format_quality(quality)
    assert "met-street.csv" in text and str(private) not in text


def test_a_zip_of_street_csvs_reads_like_the_csv(config, wards):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("2024-04/2024-04-metropolitan-street.csv", street_csv())
    upload = read_incident_upload("met.zip", buffer.getvalue(), wards=wards, config=config)
    assert upload.ward_counts["records"].tolist() == [3, 2]


def test_a_zipped_shapefile_reads_as_wards(config, tmp_path):
    folder = tmp_path / "shp"
    folder.mkdir()
    grid().to_file(folder / "wards.shp")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, f"London_Ward/{part.name}")
        zf.writestr("../../escape.txt", "never outside the private folder")
    found = read_ward_upload("London_Ward.zip", buffer.getvalue(), config=config)
    assert isinstance(found, WardFile)
    assert found.frame.index.tolist() == CODES
    assert found.report["path"] == "London_Ward.zip"
    assert not (tmp_path.parent / "escape.txt").exists()


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        pytest.param("s.csv", b"not,a,police,file\n1,2,3,4\n", "missing column", id="columns"),
        pytest.param("s.csv", b"\xff\xfe\x00garbage", "UTF-8|not", id="binary"),
        pytest.param("s.zip", b"PK\x03\x04 truncated", "not a readable zip", id="bad-zip"),
        pytest.param("s.csv", b"   \n", "empty", id="blank"),
    ],
)
def test_a_malformed_incident_upload_is_a_data_error(config, wards, name, data, match):
    with pytest.raises(DataError, match=match):
        read_incident_upload(name, data, wards=wards, config=config)


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        pytest.param("w.geojson", b'{"type": "nonsense"', "not a readable boundary", id="json"),
        pytest.param("w.gpkg", b"SQLite format 3\x00junk", "w.gpkg", id="gpkg"),
        pytest.param("w.zip", b"PK\x05\x06" + b"\x00" * 18, "expected one boundary", id="empty"),
    ],
)
def test_a_malformed_ward_upload_is_a_data_error(config, name, data, match):
    with pytest.raises(DataError, match=match):
        read_ward_upload(name, data, config=config)


# --- hostile files: read only as their declared type (issue 14, item 1) ---------------------

SECRET = "planner-test-secret-7f3a9c"


def vrt_pointing_at(source: str) -> bytes:
    """A GDAL VRT that makes every line of *source* a feature: code, name and a point."""
    return (
        "<OGRVRTDataSource>\n"
        '  <OGRVRTLayer name="wards">\n'
        f"    <SrcDataSource>{source}</SrcDataSource>\n"
        '    <SrcSQL dialect="sqlite">SELECT line AS GSS_CODE, line AS NAME, '
        "MakePoint(-0.1, 51.5, 4326) AS geometry FROM secret</SrcSQL>\n"
        "  </OGRVRTLayer>\n"
        "</OGRVRTDataSource>\n"
    ).encode()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text(f"line\ncookie_secret = {SECRET}\nother = 1\n")
    return path


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "wrap"),
    [
        pytest.param("wards.geojson", lambda d: d, id="geojson"),
        pytest.param("wards.json", lambda d: d, id="json"),
        pytest.param("wards.topojson", lambda d: d, id="topojson"),
        pytest.param("wards.zip", lambda d: _zip_of({"wards.geojson": d}), id="zip-geojson"),
        pytest.param("wards.zip", lambda d: _zip_of({"wards.shp": d}), id="zip-shp"),
    ],
)
def test_a_vrt_upload_does_not_read_the_file_it_names(config, secret_file, name, wrap):
    data = wrap(vrt_pointing_at(f"CSV:{secret_file}"))
    with pytest.raises(DataError, match=r"declared .* but its content is XML") as caught:
        read_ward_upload(name, data, config=config)
    message = str(caught.value)
    assert SECRET not in message
    assert "cookie_secret" not in message
    assert str(secret_file.parent) not in message
    assert tempfile.gettempdir() not in message


def test_gdal_cannot_open_a_vrt_anywhere_in_the_process(tmp_path, secret_file):
    import pyogrio

    from planner.ingest.sources.vector import harden_gdal

    assert harden_gdal()["still_registered"] == []
    assert "OGR_VRT" not in pyogrio.list_drivers()
    path = tmp_path / "secret.vrt"
    path.write_bytes(vrt_pointing_at(f"CSV:{secret_file}"))
    with pytest.raises(Exception, match="not recognized") as caught:
        pyogrio.read_dataframe(path)
    assert SECRET not in str(caught.value)


@pytest.fixture
def http_server():
    """A loopback HTTP server that counts its requests (nothing leaves the machine)."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b"line\nfrom the internal address\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_no_upload_and_no_gdal_read_reaches_the_network(config, http_server):
    import pyogrio

    address, hits = http_server
    with pytest.raises(DataError) as caught:
        read_ward_upload(
            "wards.geojson", vrt_pointing_at(f"CSV:/vsicurl/{address}/x.csv"), config=config
        )
    for name in (f"/vsicurl/{address}/wards.geojson", f"/vsicurl?url={address}/w.geojson"):
        with pytest.raises(Exception):  # noqa: B017 - any GDAL error; the point is no request
            pyogrio.read_dataframe(name)
    assert hits == []
    assert "content is XML" in str(caught.value)
    assert "internal address" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        pytest.param("w.geojson", b"SQLite format 3\x00" + b"\x00" * 100, "SQLite", id="sqlite"),
        pytest.param("w.json", b"PK\x03\x04" + b"\x00" * 60, "zip", id="zip-as-json"),
        pytest.param("w.gpkg", b"SQLite format 3\x00" + b"\x00" * 100, "not a GeoPackage", id="db"),
        pytest.param("w.gpkg", b'{"type": "FeatureCollection"}', "not GeoPackage", id="json"),
    ],
)
def test_content_of_another_type_is_refused_by_name(config, name, data, match):
    with pytest.raises(DataError, match=match):
        read_ward_upload(name, data, config=config)


def _topojson(frame: gpd.GeoDataFrame) -> bytes:
    from tests.test_wards import topojson_text

    return topojson_text(frame).encode()


@pytest.mark.parametrize("name", ["wards.topojson", "wards.json"])
def test_a_topojson_upload_reads_as_wgs84(config, name):
    found = read_ward_upload(name, _topojson(grid()), config=config)
    assert found.frame.index.tolist() == CODES
    assert found.report["crs_source"].startswith("format")
    assert found.frame.area.round(-1).eq(SIDE * SIDE).all()
    assert "topojson" in WARD_TYPES


def test_errors_name_the_upload_never_the_server_folder(config, wards):
    bad_wards = b'{"type": "FeatureCollection", "features": [{"type": "Feature"'
    bad_csv = b"Crime ID,Month\n1,2\n"
    for call in (
        lambda: read_ward_upload("mine.geojson", bad_wards, config=config),
        lambda: read_incident_upload("mine.csv", bad_csv, wards=wards, config=config),
    ):
        with pytest.raises(DataError, match="mine") as caught:
            call()
        assert "planner-upload-" not in str(caught.value)
        assert tempfile.gettempdir() not in str(caught.value)
