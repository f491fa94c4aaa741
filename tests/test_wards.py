"""Tests for planner.ingest.sources.wards: tiny grids built in code, then the real ward files."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from planner import schema as s
from planner.config import DatasetSpec, WardColumns, WardsSpec
from planner.errors import DataError
from planner.ingest.sources.wards import WardFile, read_dataset_wards, read_wards

X0, Y0, SIDE = 530_000.0, 180_000.0, 1_000.0
CODES = ["E05000001", "E05000002", "E05000003", "E05000004"]
LEFT, RIGHT = "E09000002", "E09000003"  # Barking and Dagenham, Barnet


def grid(**columns: list) -> gpd.GeoDataFrame:
    """A 2x2 grid of 1 km square wards in EPSG:27700: left column LEFT, right column RIGHT.

    Order: bottom-left, bottom-right, top-left, top-right.
    """
    squares = [
        box(X0 + i * SIDE, Y0 + j * SIDE, X0 + (i + 1) * SIDE, Y0 + (j + 1) * SIDE)
        for j in range(2)
        for i in range(2)
    ]
    data = columns or {
        "GSS_CODE": CODES,
        "NAME": ["Ward A", "Ward B", "Ward C", "Ward D"],
        "LAGSSCODE": [LEFT, RIGHT, LEFT, RIGHT],
        "DISTRICT": ["Barking and Dagenham", "Barnet", "Barking and Dagenham", "Barnet"],
    }
    return gpd.GeoDataFrame(data, geometry=squares, crs=s.WORKING_CRS)


def topojson_text(gdf: gpd.GeoDataFrame) -> str:
    """TopoJSON text (one arc per ring, lon/lat, no transform): GDAL cannot write TopoJSON."""
    lonlat = gdf.to_crs(s.DISPLAY_CRS)
    arcs = [shapely.get_coordinates(g.exterior).tolist() for g in lonlat.geometry]
    props = lonlat.drop(columns="geometry").to_dict("records")
    geoms = [{"type": "Polygon", "arcs": [[i]], "properties": p} for i, p in enumerate(props)]
    objects = {"ward": {"type": "GeometryCollection", "geometries": geoms}}
    return json.dumps({"type": "Topology", "objects": objects, "arcs": arcs})


def write(gdf: gpd.GeoDataFrame, folder: Path, fmt: str) -> Path:
    if fmt == "topojson":
        path = folder / "wards.topojson"
        path.write_text(topojson_text(gdf))
        return path
    suffix = {"shapefile": ".shp", "geojson": ".geojson", "gpkg": ".gpkg"}[fmt]
    path = folder / f"wards{suffix}"
    gdf.to_file(path)
    return path


# --- formats and columns --------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "crs", "crs_source"),
    [
        ("shapefile", None, "file"),
        ("geojson", None, "file"),
        ("gpkg", None, "file"),
        ("topojson", "EPSG:4326", "config"),
    ],
    ids=["shapefile", "geojson", "gpkg", "topojson"],
)
def test_formats_load(tmp_path, config, fmt, crs, crs_source):
    found = read_wards(write(grid(), tmp_path, fmt), crs=crs, config=config)
    assert isinstance(found, WardFile)
    wards, report = found.frame, found.report
    assert wards.index.name == s.WARD_CODE
    assert list(wards.index) == CODES
    assert list(wards.columns) == [s.WARD_NAME, s.BOROUGH_CODE, s.BOROUGH_NAME, "geometry"]
    assert wards.crs.to_epsg() == 27700
    assert list(wards[s.BOROUGH_CODE]) == [LEFT, RIGHT, LEFT, RIGHT]
    assert wards.loc["E05000004", s.BOROUGH_NAME] == "Barnet"
    assert wards.area.round(-1).eq(SIDE * SIDE).all()  # TopoJSON round trip through lon/lat
    assert wards.total_bounds == pytest.approx([X0, Y0, X0 + 2 * SIDE, Y0 + 2 * SIDE], abs=0.01)
    assert report["crs_source"] == crs_source
    assert report["features"] == 4
    assert report["boroughs"] == 2
    assert report["repaired_geometries"] == 0
    json.dumps(report)  # plain JSON


def test_detected_columns_are_reported(tmp_path, config):
    report = read_wards(write(grid(), tmp_path, "gpkg"), config=config).report
    assert report["columns"] == {
        s.WARD_CODE: "GSS_CODE",
        s.WARD_NAME: "NAME",
        s.BOROUGH_CODE: "LAGSSCODE",
        s.BOROUGH_NAME: "DISTRICT",
    }


def test_detection_is_case_insensitive_and_strips_codes(tmp_path, config):
    gdf = grid(wd24cd=[f" {c} " for c in CODES], wd24nm=list("ABCD"), lad24cd=[LEFT] * 4)
    found = read_wards(write(gdf, tmp_path, "geojson"), config=config)
    wards = found.frame
    assert list(wards.index) == CODES
    assert found.report["columns"][s.BOROUGH_NAME] == "config borough names"
    assert set(wards[s.BOROUGH_NAME]) == {"Barking and Dagenham"}


def test_explicit_columns(tmp_path, config):
    gdf = grid(ID=CODES, LABEL=list("ABCD"), LA=[LEFT, RIGHT, LEFT, RIGHT])
    mapping = WardColumns(ward_code="ID", ward_name="LABEL", borough_code="LA")
    found = read_wards(write(gdf, tmp_path, "gpkg"), columns=mapping, config=config)
    wards = found.frame
    assert list(wards[s.WARD_NAME]) == list("ABCD")
    assert list(wards[s.BOROUGH_NAME].unique()) == ["Barking and Dagenham", "Barnet"]
    assert found.report["columns"] == {
        s.WARD_CODE: "ID",
        s.WARD_NAME: "LABEL",
        s.BOROUGH_CODE: "LA",
        s.BOROUGH_NAME: "config borough names",
    }


def test_borough_aliases_apply_to_file_names(tmp_path, config):
    gdf = grid()
    gdf["DISTRICT"] = ["Barking & Dagenham", "Barnet", "Barking & Dagenham", "Barnet"]
    wards = read_wards(write(gdf, tmp_path, "gpkg"), config=config).frame
    assert wards.loc["E05000001", s.BOROUGH_NAME] == "Barking and Dagenham"


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        (WardColumns(ward_code="ID", ward_name="NOPE"), r"ward_name = 'NOPE'.*columns found: ID"),
        (
            WardColumns(ward_code="ID", ward_name="LABEL", borough_code="LAD"),
            r"borough_code = 'LAD'.*\[datasets\.NAME\.wards\.columns\]",
        ),
    ],
    ids=["ward-name", "borough-code"],
)
def test_explicit_column_missing(tmp_path, config, mapping, match):
    path = write(grid(ID=CODES, LABEL=list("ABCD")), tmp_path, "gpkg")
    with pytest.raises(DataError, match=match):
        read_wards(path, columns=mapping, config=config)


def test_undetected_columns(tmp_path, config):
    path = write(grid(ID=CODES, LABEL=list("ABCD")), tmp_path, "gpkg")
    with pytest.raises(DataError, match=r"no column found for ward_code, ward_name.*planner\.toml"):
        read_wards(path, config=config)


# --- boroughs by overlap -----------------------------------------------------------


def borough_file(folder: Path, split: float = X0 + 1.1 * SIDE, *, both: bool = True) -> Path:
    """Two boroughs side by side, the border 100 m right of the grid's middle line."""
    shapes = [box(X0 - 500, Y0 - 500, split, Y0 + 2500), box(split, Y0 - 500, X0 + 2500, Y0 + 2500)]
    gdf = gpd.GeoDataFrame(
        {"LAD22CD": [LEFT, RIGHT], "LAD22NM": ["Barking and Dagenham", "Barnet"]},
        geometry=shapes,
        crs=s.WORKING_CRS,
    ).iloc[: 2 if both else 1]
    path = folder / "boroughs.gpkg"
    gdf.to_file(path)
    return path


def test_boroughs_by_overlap(tmp_path, config):
    path = write(grid(WD24CD=CODES, WD24NM=list("ABCD")), tmp_path, "geojson")
    boroughs = borough_file(tmp_path)
    found = read_wards(path, boroughs=boroughs, config=config)
    wards = found.frame
    assert list(wards[s.BOROUGH_CODE]) == [LEFT, RIGHT, LEFT, RIGHT]
    assert list(wards[s.BOROUGH_NAME]) == ["Barking and Dagenham", "Barnet"] * 2
    used = found.report["columns"]
    assert used[s.BOROUGH_CODE] == f"overlap with {boroughs} (LAD22CD)"
    assert used[s.BOROUGH_NAME] == f"overlap with {boroughs} (LAD22NM)"


def test_boroughs_by_overlap_unassigned(tmp_path, config):
    path = write(grid(WD24CD=CODES, WD24NM=list("ABCD")), tmp_path, "geojson")
    boroughs = borough_file(tmp_path, split=X0 + SIDE, both=False)
    with pytest.raises(DataError, match=r"feature 2 \(E05000002: no code, no name\), feature 4"):
        read_wards(path, boroughs=boroughs, config=config)


def test_borough_file_missing(tmp_path, config):
    path = write(grid(WD24CD=CODES, WD24NM=list("ABCD")), tmp_path, "geojson")
    with pytest.raises(DataError, match=r"borough boundary file not found.*boroughs = "):
        read_wards(path, boroughs=tmp_path / "nowhere.shp", config=config)


# --- CRS ---------------------------------------------------------------------------


def test_no_crs(tmp_path, config):
    path = write(grid(), tmp_path, "shapefile")
    path.with_suffix(".prj").unlink()
    with pytest.raises(DataError, match=r"wards\.shp: the file has no CRS.*crs = \"EPSG:"):
        read_wards(path, config=config)
    found = read_wards(path, crs="EPSG:27700", config=config)
    assert found.frame.crs.to_epsg() == 27700
    assert found.report["crs_source"] == "config"


def test_wrong_crs_given(tmp_path, config):
    path = write(grid(), tmp_path, "shapefile")
    path.with_suffix(".prj").unlink()
    with pytest.raises(DataError, match="outside Great Britain"):
        read_wards(path, crs="EPSG:4326", config=config)


def test_file_crs_wins_over_config(tmp_path, config):
    found = read_wards(write(grid(), tmp_path, "gpkg"), crs="EPSG:4326", config=config)
    assert found.report["crs_source"] == "file"
    assert found.frame.total_bounds[0] == pytest.approx(X0)


# --- codes, geometry, layers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "match"),
    [
        (
            ["E05000001", "E05000002", "E05000001", "E05000002"],
            r"E05000001 repeated \(features 1, 3\)",
        ),
        (
            ["E05000001", " ", None, "E05000004"],
            r"2 feature\(s\) with a blank code \(features 2, 3\)",
        ),
    ],
    ids=["duplicate", "blank"],
)
def test_bad_ward_codes(tmp_path, config, codes, match):
    path = write(grid(GSS_CODE=codes, NAME=list("ABCD"), LAGSSCODE=[LEFT] * 4), tmp_path, "gpkg")
    with pytest.raises(DataError, match=match):
        read_wards(path, config=config)


def test_empty_file(tmp_path, config):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(DataError, match="no features"):
        read_wards(path, config=config)


def test_missing_file(tmp_path, config):
    with pytest.raises(DataError, match="file not found"):
        read_wards(tmp_path / "absent.gpkg", config=config)


def test_bow_tie_repaired(tmp_path, config):
    gdf = grid()
    x, y = X0 + SIDE, Y0 + SIDE  # the top-right square, drawn as a bow-tie
    gdf.loc[3, "geometry"] = Polygon([(x, y), (x + SIDE, y + SIDE), (x + SIDE, y), (x, y + SIDE)])
    assert not gdf.is_valid[3]
    found = read_wards(write(gdf, tmp_path, "gpkg"), config=config)
    wards = found.frame
    assert wards.is_valid.all()
    assert wards.loc["E05000004"].geometry.geom_type == "MultiPolygon"
    assert wards.loc["E05000004"].geometry.area == pytest.approx(SIDE * SIDE / 2)
    assert found.report["repaired_geometries"] == 1
    assert found.report["repaired_ward_codes"] == ["E05000004"]


def test_null_geometry(tmp_path, config):
    gdf = grid()
    gdf.loc[1, "geometry"] = None
    with pytest.raises(DataError, match=r"feature 2 \(E05000002\): no geometry"):
        read_wards(write(gdf, tmp_path, "geojson"), config=config)


def test_polygon_layer_picked(tmp_path, config):
    path = write(grid(), tmp_path, "gpkg")
    points = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(X0, Y0)], crs=s.WORKING_CRS)
    points.to_file(path, layer="centroids")
    assert read_wards(path, config=config).report["layer"] == "wards"


def test_several_polygon_layers(tmp_path, config):
    path = write(grid(), tmp_path, "gpkg")
    grid().to_file(path, layer="wards_2018")
    with pytest.raises(DataError, match=r"2 layers and 2 of them polygon layers.*layer = "):
        read_wards(path, config=config)
    assert len(read_wards(path, layer="wards_2018", config=config).frame) == 4
    with pytest.raises(DataError, match=r"no layer 'ward'; layers found: wards"):
        read_wards(path, layer="ward", config=config)


def test_read_dataset_wards(tmp_path, config):
    write(grid(), tmp_path, "gpkg")
    spec = DatasetSpec("tiny", "test", WardsSpec(path="wards.gpkg"), sources=())
    tiny = dataclasses.replace(config.with_data_dir(tmp_path), datasets={"tiny": spec})
    found = read_dataset_wards(tiny, "tiny")
    assert isinstance(found, WardFile)
    assert found.report["path"] == str(tmp_path / "wards.gpkg")
    assert len(found.frame) == 4


# --- the real ward files (../shared/data) --------------------------------------------

REAL = [
    ("wards/london_wards_2022_bgc_incl_city/E12000007.topojson", "ward", "EPSG:4326", 704, 15, 33),
    ("wards/london_wards_2024_met_bsc/london_ward_boundaries.geojson", None, None, 679, 0, 32),
    ("wards/london_wards_2018/London_Ward.shp", None, None, 657, 0, 33),
    ("wards/london_wards_2018/London_Ward_CityMerged.shp", None, None, 633, 0, 33),
    ("wards/london_wards_2014/London_Ward.shp", None, None, 654, 2, 33),
    ("wards/london_wards_2014/London_Ward_CityMerged.shp", None, None, 630, 2, 33),
    ("wards/london_wards_2011_statistical_gis/London_Ward.shp", None, None, 649, 0, 33),
    ("wards/london_wards_2011_statistical_gis/London_Ward_CityMerged.shp", None, None, 625, 0, 33),
]
REAL_IDS = [
    "2022-topojson",
    "2024-bsc",
    "2018",
    "2018-city",
    "2014",
    "2014-city",
    "2011",
    "2011-city",
]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("rel", "layer", "crs", "count", "repaired", "boroughs"), REAL, ids=REAL_IDS
)
def test_real_ward_files(shared_data, real_config, rel, layer, crs, count, repaired, boroughs):
    started = time.perf_counter()
    found = read_wards(shared_data / rel, layer=layer, crs=crs, config=real_config)
    assert time.perf_counter() - started < 30
    wards, report = found.frame, found.report
    assert len(wards) == count
    assert wards.index.is_unique
    assert wards.crs.to_epsg() == 27700
    assert wards.is_valid.all()
    assert wards.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert wards[s.BOROUGH_CODE].str.match(r"^E09\d{6}$").all()
    assert (wards[s.BOROUGH_NAME] != "").all()
    assert wards[s.BOROUGH_CODE].nunique() == boroughs
    assert report["repaired_geometries"] == repaired
    if s.HEATHROW_VILLAGES in wards.index:
        assert wards.loc[s.HEATHROW_VILLAGES, s.BOROUGH_CODE] == "E09000017"
        assert wards.loc[s.HEATHROW_VILLAGES, s.BOROUGH_NAME] == "Hillingdon"
    json.dumps(report)


@pytest.mark.integration
def test_real_2024_boroughs_by_overlap_match_2022(shared_data, real_config):
    found24 = read_wards(shared_data / REAL[1][0], config=real_config)
    wards24, report24 = found24.frame, found24.report
    wards22 = read_dataset_wards(real_config, "met-2022").frame
    assert s.HEATHROW_VILLAGES in wards24.index
    assert report24["columns"][s.BOROUGH_CODE].startswith("overlap with ")
    assert report24["crs_source"] == "file"
    met22 = wards22[wards22[s.BOROUGH_CODE] != s.CITY_OF_LONDON]
    assert sorted(met22.index) == sorted(wards24.index)
    assert (wards24[s.BOROUGH_CODE] == met22[s.BOROUGH_CODE].reindex(wards24.index)).all()


# --- files read only as their declared type (issue 14, item 1) ---------------------------


def test_topojson_is_wgs84_by_definition(tmp_path, config):
    found = read_wards(write(grid(), tmp_path, "topojson"), config=config)
    assert found.report["crs_source"] == "format (TopoJSON is WGS84 lon/lat)"
    assert found.frame.total_bounds == pytest.approx(
        [X0, Y0, X0 + 2 * SIDE, Y0 + 2 * SIDE], abs=0.01
    )


@pytest.mark.parametrize("suffix", [".vrt", ".kml", ".csv", ".gml", ""])
def test_types_other_than_boundary_files_are_refused(tmp_path, config, suffix):
    path = tmp_path / f"wards{suffix}"
    path.write_text("<OGRVRTDataSource/>")
    with pytest.raises(DataError, match=r"not a boundary file; expected one of \.geojson"):
        read_wards(path, config=config)


def test_a_configured_geojson_holding_a_vrt_is_refused_unread(tmp_path, config):
    secret = tmp_path / "secret.csv"
    secret.write_text("line\nsecret-value-41c2\n")
    path = tmp_path / "wards.geojson"
    path.write_text(
        f'<OGRVRTDataSource><OGRVRTLayer name="w"><SrcDataSource>CSV:{secret}</SrcDataSource>'
        "</OGRVRTLayer></OGRVRTDataSource>"
    )
    with pytest.raises(DataError, match=r"declared GeoJSON .* content is XML") as caught:
        read_wards(path, config=config)
    assert "secret-value-41c2" not in str(caught.value)


def test_a_shapefile_is_checked_by_its_first_bytes(tmp_path, config):
    path = write(grid(), tmp_path, "shapefile")
    path.write_bytes(b'{"type": "FeatureCollection", "features": []}')
    with pytest.raises(DataError, match=r"declared ESRI Shapefile .* not shapefile"):
        read_wards(path, config=config)


def test_messages_show_codes_but_never_other_feature_values(tmp_path, config):
    gdf = grid(
        GSS_CODE=["E05000001", "cookie_secret = abc", "E05000003", "E05000003"],
        NAME=list("ABCD"),
        LAGSSCODE=[LEFT] * 4,
    )
    with pytest.raises(DataError, match=r"code E05000003 repeated") as caught:
        read_wards(write(gdf, tmp_path, "gpkg"), config=config)
    gdf.loc[3, "GSS_CODE"] = "E05000004"
    gdf.loc[1, "geometry"] = None
    with pytest.raises(DataError, match=r"feature 2 \(a value that is not a code\)") as second:
        read_wards(write(gdf, tmp_path / "..", "geojson"), config=config)
    for message in (str(caught.value), str(second.value)):
        assert "cookie_secret" not in message
