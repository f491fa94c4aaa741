"""Bounded work for uploads (issue 14, item 5): the attacks of the issue, built in the test.

Each hostile upload must be refused within 10 s (a generous bound: the refusals take well under
a second once the worker runs) by the limit of ``planner.toml [limits]`` it breaks, named in
the message with the fix, with the worker's peak resident memory under 500 MB; and never with
a server path in the message.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
import shapely
from shapely.geometry import box

from planner.config import UploadLimits
from planner.errors import DataError
from planner.ingest.limits import (
    LineCheck,
    check_geopackage,
    check_json_geometry,
    check_shapefile,
    unzip,
)
from planner.ingest.uploads import read_incident_upload, read_ward_upload
from planner.ingest.worker import WorkerError, run_bounded
from tests.factories import grid_wards, shipped_config

HEADER = (
    b"Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    b"LSOA code,LSOA name,Crime type,Last outcome category,Context"
)
BOUND_S = 10.0
PEAK_MB = 500.0
SHIPPED = UploadLimits()


@pytest.fixture(scope="module")
def config():
    return shipped_config()


@pytest.fixture(scope="module")
def wards():
    return grid_wards()


def refused(call, match: str) -> WorkerError:
    """Run *call*; it must raise a WorkerError matching *match*, in time and memory."""
    start = time.monotonic()
    with pytest.raises(WorkerError, match=match) as caught:
        call()
    took = time.monotonic() - start
    error = caught.value
    assert took < BOUND_S, f"refused after {took:.1f} s"
    assert error.peak_mb is not None and error.peak_mb < PEAK_MB, error.peak_mb
    text = str(error)
    assert "planner-upload-" not in text and tempfile.gettempdir() not in text
    assert "planner.toml [limits]" in text
    return error


# --- the attacks of the issue ----------------------------------------------------------------


def test_a_csv_that_is_one_enormous_header_line_is_refused_before_parsing(config, wards):
    data = HEADER + b"," + b"x" * 51_000_000  # 51 MB, no newline: one header line
    refused(
        lambda: read_incident_upload("street.csv", data, wards=wards, config=config),
        r"'street.csv': the header line is longer than 65,536 bytes, the limit max_line_bytes",
    )


def test_a_header_of_too_many_columns_is_refused(config, wards):
    data = b",".join(b"c%d" % i for i in range(250)) + b"\n1,2\n"
    refused(
        lambda: read_incident_upload("street.csv", data, wards=wards, config=config),
        r"the header line has 250 columns, more than the limit max_columns = 200",
    )


def test_a_long_line_after_good_ones_is_refused_naming_its_line(config, wards):
    row = b"c1,2024-01,Met,Met,-0.1,51.5,On or near X,E01,L,Burglary,,\n"
    data = HEADER + b"\n" + row * 1000 + b"x" * 70_000 + b"\n"
    refused(
        lambda: read_incident_upload("street.csv", data, wards=wards, config=config),
        r"line 1,002 is longer than 65,536 bytes",
    )


def test_a_zip_bomb_of_one_line_is_refused_while_unpacking(config, wards):
    """The issue's bomb: 0.77 MB of zip that unpacks to a 122 MB header line."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("street.csv", HEADER + b"," + b"x" * 122_000_000)
    data = buffer.getvalue()
    assert len(data) < 1_000_000
    refused(
        lambda: read_incident_upload("bomb.zip", data, wards=wards, config=config),
        r"'bomb.zip' \(member street.csv\): the header line is longer than 65,536 bytes",
    )


def test_a_zip_bomb_of_short_lines_is_refused_by_its_ratio_while_unpacking(config, wards):
    row = b"c1,2024-01,Met,Met,-0.1,51.5,On or near X,E01,L,Burglary,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("street.csv", HEADER + b"\n" + row * 2_000_000)  # 122 MB of good lines
    data = buffer.getvalue()
    error = refused(
        lambda: read_incident_upload("bomb.zip", data, wards=wards, config=config),
        r"'bomb.zip': the zip unpacks to more than 50 times its 0.\d\d MB, the limit "
        r"max_zip_ratio = 50.0",
    )
    assert "refused while unpacking" in str(error)


def months_zip(compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for month in range(1, 4):
            zf.writestr(f"2024-{month:02d}.csv", HEADER + b"\n" + (b"x" * 99 + b"\n") * 9_000)
    return buffer.getvalue()


def test_a_zip_declaring_more_than_the_unpacked_size_is_refused_before_unpacking(config, wards):
    small = dataclasses.replace(config, limits=UploadLimits(max_unzipped_mb=2.0))
    refused(
        lambda: read_incident_upload("months.zip", months_zip(), wards=wards, config=small),
        r"'months.zip': the zip holds 3 files unpacking to 3 MB; .* 2 MB \(max_unzipped_mb\)",
    )


def test_unpacking_stops_at_the_unpacked_size_whatever_the_members_declare(tmp_path):
    """The count is of the bytes that come out, checked every 1 MiB piece."""
    limits = UploadLimits(max_unzipped_mb=2.0)
    with zipfile.ZipFile(io.BytesIO(months_zip())) as archive, pytest.raises(
        DataError, match=r"unpacks to more than 2 MB, the limit max_unzipped_mb = 2.0 .*after 2.\d MB"
    ):  # fmt: skip
        unzip(
            archive, archive.infolist(), lambda info: tmp_path / info.filename,
            label="'months.zip'", compressed=3_000_000, limits=limits,
        )  # fmt: skip
    written = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert 2_000_000 - (1 << 20) < written <= 2_000_000  # the piece over it is not written


def spiky_polygon(n: int) -> dict:
    """A self-intersecting ring of *n* vertices in WGS84 (a star that crosses itself)."""
    coords = []
    for k in range(n):
        angle = 2 * math.pi * k * 7 / n  # 7 turns: every turn crosses the others
        radius = 0.01 * (1.0 + 0.5 * (k % 2))
        coords.append([-0.1 + radius * math.cos(angle), 51.5 + radius * math.sin(angle)])
    coords.append(coords[0])
    return {"type": "Polygon", "coordinates": [coords]}


def feature_collection(geometries: list[dict]) -> bytes:
    features = [
        {"type": "Feature", "properties": {"WD22CD": f"E0500000{k}", "WD22NM": f"W{k}"},
         "geometry": g}
        for k, g in enumerate(geometries, start=1)
    ]  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_a_geojson_with_a_150k_vertex_polygon_is_refused_before_shapely(config):
    data = feature_collection([spiky_polygon(150_000)])
    assert 3_000_000 < len(data) < 8_000_000
    assert not shapely.from_geojson(json.dumps(spiky_polygon(2_000))).is_valid  # self-intersects
    refused(
        lambda: read_ward_upload("wards.geojson", data, config=config),
        r"'wards.geojson': feature 1 has 150,001 vertices, more than the limit "
        r"max_vertices_per_feature = 100000 .*Simplify the boundaries",
    )


def test_a_topojson_with_a_150k_vertex_arc_is_refused(config):
    arc = [[k % 3, 1] for k in range(150_000)]
    topo = {
        "type": "Topology",
        "arcs": [[[0, 0], [10, 0]], arc],
        "objects": {"wards": {"type": "GeometryCollection", "geometries": []}},
    }
    refused(
        lambda: read_ward_upload("wards.topojson", json.dumps(topo).encode(), config=config),
        r"feature 2 has 150,000 vertices, more than the limit max_vertices_per_feature",
    )


def test_geometry_nested_too_deep_is_refused(config):
    data = b'{"type": "FeatureCollection", "features": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    refused(
        lambda: read_ward_upload("wards.json", data, config=config),
        r"arrays and objects nest 5001 deep, more than the limit max_nesting = 20",
    )


def test_too_many_vertices_in_all_are_refused(config):
    squares = [shapely.geometry.mapping(box(k, 0, k + 0.001, 0.001).segmentize(0.00002))
               for k in range(30)]  # fmt: skip
    data = feature_collection([dict(g) for g in squares])
    few = dataclasses.replace(config, limits=UploadLimits(max_vertices=3_000))
    refused(
        lambda: read_ward_upload("wards.geojson", data, config=few),
        r"the file has [\d,]+ vertices, more than the limit max_vertices = 3000",
    )


def test_a_zipped_shapefile_with_a_huge_ring_is_refused_from_its_headers(config, tmp_path):
    import geopandas as gpd

    ring = shapely.Polygon(spiky_polygon(120_000)["coordinates"][0])
    frame = gpd.GeoDataFrame({"WD22CD": ["E05000001"], "WD22NM": ["A"]}, geometry=[ring],
                             crs="EPSG:4326")  # fmt: skip
    frame.to_file(tmp_path / "wards.shp")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in tmp_path.glob("wards.*"):
            zf.write(part, part.name)
    refused(
        lambda: read_ward_upload("wards.zip", buffer.getvalue(), config=config),
        r"'wards.zip' \(wards.shp\): record 0 has 120,001 vertices, more than the limit",
    )


def test_a_geopackage_with_a_huge_polygon_is_refused_from_its_geometry_sizes(config, tmp_path):
    import geopandas as gpd

    ring = shapely.Polygon(spiky_polygon(120_000)["coordinates"][0])
    frame = gpd.GeoDataFrame({"WD22CD": ["E05000001"], "WD22NM": ["A"]}, geometry=[ring],
                             crs="EPSG:4326")  # fmt: skip
    frame.to_file(tmp_path / "wards.gpkg", driver="GPKG")
    data = (tmp_path / "wards.gpkg").read_bytes()
    refused(
        lambda: read_ward_upload("wards.gpkg", data, config=config),
        r"'wards.gpkg': a feature holds 1,920,\d+ bytes of geometry, more than 100,000 vertices",
    )


@pytest.mark.parametrize("suffix", ["gpkg", "geojson"])
def test_ordinary_ward_files_still_read_through_the_worker(config, tmp_path, suffix):
    from tests.test_uploads import CODES, grid

    grid().to_file(tmp_path / f"wards.{suffix}")
    found = read_ward_upload(f"wards.{suffix}", (tmp_path / f"wards.{suffix}").read_bytes(),
                             config=config)  # fmt: skip
    assert found.frame.index.tolist() == CODES and found.report["path"] == f"wards.{suffix}"


# --- the worker's own limits -----------------------------------------------------------------


def test_a_parse_that_takes_too_long_is_stopped():
    limits = UploadLimits(parse_timeout_s=2.0)
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"'slow.csv': reading it took longer than 2 s, the "
                       r"limit parse_timeout_s \(planner.toml \[limits\]\)"):  # fmt: skip
        run_bounded(time.sleep, 60, label="'slow.csv'", limits=limits)
    assert time.monotonic() - start < BOUND_S


def test_a_parse_that_needs_too_much_memory_is_stopped_at_the_address_space_limit():
    limits = UploadLimits(parse_memory_mb=1024)
    error = refused(
        lambda: run_bounded(bytearray, 2 * 1024**3, label="'big.csv'", limits=limits),
        r"'big.csv': reading it needed more memory than the limit parse_memory_mb = 1024 MB",
    )
    assert error.peak_mb < PEAK_MB  # the allocation was refused, not made


def test_a_bug_in_the_worker_is_a_data_error_without_a_traceback():
    with pytest.raises(WorkerError, match=r"^'x.csv': the file could not be read \(ValueError\)"):
        run_bounded(int, "not a number", label="'x.csv'", limits=SHIPPED)


def test_a_data_error_in_the_worker_keeps_its_message():
    with pytest.raises(DataError, match="^boom$"):
        run_bounded(_raise_data_error, "boom", label="'x'", limits=SHIPPED)


def _raise_data_error(message: str) -> None:
    raise DataError(message)


# --- the checks themselves -------------------------------------------------------------------


@pytest.mark.parametrize("piece", [1, 7, 100, 10_000], ids=lambda n: f"pieces-of-{n}")
def test_the_line_check_counts_across_pieces(piece):
    limits = UploadLimits(max_line_bytes=100, max_columns=5)
    ok = b"a,b,c\n" + (b"y" * 100 + b"\n") * 3 + b"z" * 100
    check = LineCheck("'f'", limits)
    for k in range(0, len(ok), piece):
        check.feed(ok[k : k + piece])
    check.close()
    bad = ok + b"\n" + b"w" * 101
    check = LineCheck("'f'", limits)
    with pytest.raises(DataError, match="line 6 is longer than 100 bytes"):
        for k in range(0, len(bad), piece):
            check.feed(bad[k : k + piece])
        check.close()


@pytest.mark.parametrize("piece", [1, 5, 64, 1 << 22], ids=lambda n: f"pieces-of-{n}")
def test_the_geometry_measure_does_not_depend_on_where_pieces_end(monkeypatch, piece):
    from planner.ingest import limits as bounded

    rings = [spiky_polygon(n) for n in (7, 30, 12)]
    data = feature_collection(rings).replace(b"51.5", b"-5.15e+1")  # signs and exponents
    monkeypatch.setattr(bounded, "_PIECE", piece)
    deepest, numbers = bounded._structure(data)
    assert deepest == 7  # root, features, feature, geometry, coordinates, ring, position
    assert (numbers[1:] // 2).tolist() == [8, 31, 13]  # each ring closed: n + 1 vertices


def test_strings_and_properties_do_not_count_as_vertices():
    limits = UploadLimits(max_vertices_per_feature=10, max_nesting=8)
    text = "[[[1, 2]]] " * 1000  # brackets and numbers inside a string are text
    data = feature_collection([{"type": "Point", "coordinates": [1.0, 2.0]}])
    data = data.replace(b'"W1"', json.dumps(text).encode())
    check_json_geometry(data, "'w'", limits)


def test_a_huge_string_is_measured_quickly():
    """One 30 MB property value (escaped quotes in it too): the check stays fast and small."""
    limits = UploadLimits()
    value = json.dumps("y" * 30_000_000 + '"quoted"' * 1000).encode()
    data = feature_collection([{"type": "Point", "coordinates": [1.0, 2.0]}])
    data = data.replace(b'"W1"', value)
    start = time.monotonic()
    check_json_geometry(data, "'w'", limits)
    check_json_geometry(b'{"type": "' + b"y" * 30_000_000, "'w'", limits)  # never ends
    assert time.monotonic() - start < BOUND_S


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "wards"


@pytest.mark.parametrize(
    "name",
    [
        "london_wards_2022_bgc_incl_city/E12000007.topojson",
        "london_wards_2024_met_bsc/london_ward_boundaries.geojson",
        "london_wards_2014/London_Ward.shp",
    ],
)
def test_the_shipped_limits_accept_the_real_ward_files(name, tmp_path):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not present (../shared/data)")
    if path.suffix == ".shp":
        check_shapefile(path, repr(path.name), SHIPPED)
        shp = __import__("geopandas").read_file(path)
        shp.to_file(tmp_path / "wards.gpkg", driver="GPKG")
        check_geopackage(tmp_path / "wards.gpkg", "'wards.gpkg'", SHIPPED)
    else:
        check_json_geometry(path.read_bytes(), repr(path.name), SHIPPED)
