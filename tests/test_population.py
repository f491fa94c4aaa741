"""Tests of planner.ingest.sources.population: lookup and centroid methods, withheld wards, errors."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from planner import schema as s
from planner.config import PlannerConfig, PopulationSettings, Problems, build, load_config
from planner.errors import ConfigError, DataError
from planner.ingest.sources.population import _point_in_ward, ward_population
from tests.factories import config_copy, shipped_config

CITY, CAMDEN = s.CITY_OF_LONDON, "E09000007"
X0, Y0 = 500_000, 180_000


def settings_table(**changes) -> dict:
    table = {
        "method": "auto",
        "auto_min_share": 0.5,
        "min_plausible": 1000,
        "unseparable_boroughs": [CITY],
        "lookup": {
            "population": "pop21.csv",
            "population_code": "LSOA21CD",
            "population_value": "TotalRes21",
            "population_borough": "LAD22CD",
            "lookup": "lookup.csv",
            "lookup_code": "lsoa21cd",
            "lookup_ward": "ward22cd",
            "year": 2021,
        },
        "centroid": {
            "areas": "lsoa11.gpkg",
            "area_code": "LSOA11CD",
            "population_value": "USUALRES",
            "area_borough": "LAD11CD",
            "snap_distance_m": 250.0,
            "year": 2011,
        },
    }
    table.update(changes)
    return table


def settings_from(table: dict) -> PopulationSettings:
    """*table* built as load_config builds population.toml (ConfigError if it is wrong)."""
    problems = Problems()
    settings = build(PopulationSettings, table, "population table", problems)
    problems.raise_if_any("population table")
    assert settings is not None
    return settings


def config_for(data_dir: Path, table: dict | None = None) -> PlannerConfig:
    config = shipped_config().with_data_dir(data_dir)
    settings = settings_from(settings_table() if table is None else table)
    return dataclasses.replace(config, population=settings)


def toml_text(table: dict) -> str:
    """*table* as population.toml text: top-level keys first, then one [section] per table."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for section, inner in table.items():
        if isinstance(inner, dict):
            lines += [f"[{section}]", *(f"{k} = {json.dumps(v)}" for k, v in inner.items())]
    return "\n".join(lines) + "\n"


@pytest.fixture
def lookup_data(tmp_path):
    """Four LSOAs: two in ward W1 (one repeated, as the merge file repeats merged LSOAs), one in
    the City, one missing from the lookup; four wards, one with no LSOA."""
    pd.DataFrame(
        {
            "LSOA21CD": ["L1", "L2", "L2", "L3", "L4"],
            "TotalRes21": [1000, 2000, 2000, 500, 700],
            "LAD22CD": [CAMDEN, CAMDEN, CAMDEN, CITY, CAMDEN],
            "LSOA11CD": ["A", "B", "C", "D", "E"],
        }
    ).to_csv(tmp_path / "pop21.csv", index=False)
    pd.DataFrame(
        {"lsoa21cd": ["L1", "L2", "L3", "X9"], "ward22cd": ["W1", "W1", "WC1", "W9"]}
    ).to_csv(tmp_path / "lookup.csv", index=False)
    wards = pd.DataFrame(
        {
            s.BOROUGH_CODE: [CAMDEN, CAMDEN, CITY, CITY],
            s.BOROUGH_NAME: ["Camden"] * 2 + ["City"] * 2,
        },
        index=pd.Index(["W1", "W2", "WC1", "WC2"], name=s.WARD_CODE),
    )
    return tmp_path, wards


def test_lookup_sums_small_areas_and_withholds_unseparable_wards(lookup_data):
    data_dir, wards = lookup_data
    result = ward_population(config_for(data_dir), wards)
    population, report = result.values, result.report
    assert population.name == "population"
    assert population.index.tolist() == wards.index.tolist()
    assert population["W1"] == 3000  # L2 counted once although the file repeats it
    assert population[["W2", "WC1", "WC2"]].isna().all()
    assert report["method"] == "lookup"
    assert report["wards_in_lookup_share"] == pytest.approx(0.5)
    assert (report["total"], report["population_withheld"]) == (3000, 500)
    assert (report["areas_unassigned"], report["population_unassigned"]) == (1, 700)
    assert report["missing"]["W2"].startswith("no small area assigned")
    assert "E09000001 (City)" in report["missing"]["WC1"]
    assert "cannot be separated" in report["missing"]["WC2"]
    assert report["implausible"] == {}


def test_lookup_withholds_a_ward_fed_by_an_unseparable_borough_without_a_borough_column(
    lookup_data,
):
    data_dir, wards = lookup_data
    result = ward_population(config_for(data_dir), pd.DataFrame(index=wards.index))
    assert np.isnan(result.values["WC1"])
    assert "in E09000001" in result.report["missing"]["WC1"]


def test_implausibly_small_wards_are_listed_but_kept(lookup_data):
    data_dir, wards = lookup_data
    result = ward_population(config_for(data_dir, settings_table(min_plausible=5000)), wards)
    assert result.values["W1"] == 3000
    assert result.report["implausible"] == {"W1": 3000.0}


def test_areas_with_different_totals_for_one_code_are_an_error(lookup_data):
    data_dir, wards = lookup_data
    table = pd.read_csv(data_dir / "pop21.csv")
    table.loc[2, "TotalRes21"] = 1999
    table.to_csv(data_dir / "pop21.csv", index=False)
    with pytest.raises(DataError, match=r"1 LSOA21CD codes carry different TotalRes21 values"):
        ward_population(config_for(data_dir), wards)


def test_a_missing_column_is_named(lookup_data):
    data_dir, wards = lookup_data
    table = settings_table()
    table["lookup"] = {**table["lookup"], "population_value": "Persons"}
    with pytest.raises(DataError, match=r"pop21.csv: column\(s\) \['Persons'\] not found"):
        ward_population(config_for(data_dir, table), wards, method="lookup")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"lookup.csv not found; run `planner fetch"):
        ward_population(config_for(tmp_path), pd.DataFrame(index=pd.Index(["W1"])))


@pytest.mark.parametrize(
    ("table", "where", "message"),
    [
        (settings_table(denominator="residents"), "", r"unknown key 'denominator'"),
        (
            settings_table(method="census"),
            "",
            r"'method' should be one of 'auto', 'lookup', 'centroid', found 'census'",
        ),
        (
            settings_table(lookup={"population": "x.csv"}),
            " [lookup]",
            r"missing key 'population_code'",
        ),
        (
            settings_table(centroid={**settings_table()["centroid"], "crs": "EPSG:27700"}),
            " [centroid]",
            r"unknown key 'crs'",
        ),
    ],
    ids=["unknown-key", "method", "missing-key", "unknown-nested-key"],
)
def test_bad_settings_are_config_errors(tmp_path, table, where, message):
    """load_config names population.toml, the table and the key."""
    cdir = config_copy(tmp_path, population=toml_text(table))
    at = re.escape(f"{cdir / 'population.toml'}{where}: ")
    with pytest.raises(ConfigError, match=at + message):
        load_config(cdir)


def test_the_shipped_settings_written_back_load(tmp_path):
    """toml_text is faithful: the shipped-like table loads without problems."""
    loaded = load_config(config_copy(tmp_path, population=toml_text(settings_table())))
    assert loaded.population == settings_from(settings_table())


def test_missing_population_file_is_a_config_error(tmp_path):
    cdir = config_copy(tmp_path)
    (cdir / "population.toml").unlink()
    with pytest.raises(ConfigError, match=re.escape(f"{cdir / 'population.toml'}: not found")):
        load_config(cdir)


def test_the_shipped_settings_load(config):
    settings = config.population
    assert settings.unseparable_boroughs == (CITY,)
    assert settings.lookup.population_value == "TotalRes21"
    assert settings.centroid.population_value == "USUALRES"


# --- centroid method ---------------------------------------------------------------------------


@pytest.fixture
def centroid_data(lookup_data):
    """Two 1 km square wards side by side and five LSOAs: two in the first, one in the second,
    one 100 m beyond the second (snapped to it), one 5 km away (unassigned)."""
    data_dir, _ = lookup_data
    cells = [
        box(X0 + 100, Y0 + 100, X0 + 400, Y0 + 400),
        box(X0 + 500, Y0 + 500, X0 + 900, Y0 + 900),
        box(X0 + 1100, Y0 + 100, X0 + 1900, Y0 + 900),
        box(X0 + 2100, Y0 + 100, X0 + 2300, Y0 + 900),
        box(X0 + 7000, Y0, X0 + 7500, Y0 + 500),
    ]
    gpd.GeoDataFrame(
        {
            "LSOA11CD": ["A", "B", "C", "D", "E"],
            "USUALRES": [100, 200, 300, 50, 70],
            "LAD11CD": [CAMDEN] * 5,
        },
        geometry=cells,
        crs=s.WORKING_CRS,
    ).to_file(data_dir / "lsoa11.gpkg")
    wards = gpd.GeoDataFrame(
        {s.BOROUGH_CODE: [CAMDEN, CAMDEN]},
        geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)],
        index=pd.Index(["E05000002", "E05000001"], name=s.WARD_CODE),
        crs=s.WORKING_CRS,
    )
    return data_dir, wards


def test_centroid_assigns_each_area_to_the_ward_holding_its_point(centroid_data):
    data_dir, wards = centroid_data
    result = ward_population(config_for(data_dir), wards.to_crs(s.DISPLAY_CRS))
    population, report = result.values, result.report
    assert population.tolist() == [300.0, 350.0]
    assert report["method"] == "centroid"  # auto: no ward code is in the lookup
    assert report["wards_in_lookup_share"] == 0.0
    assert report["areas_snapped_to_nearest"] == 1
    assert (report["areas_unassigned"], report["population_unassigned"]) == (1, 70)
    assert report["population_in_source"] == 720
    assert report["sources"][0].endswith("lsoa11.gpkg")


def test_a_point_on_a_shared_edge_goes_to_the_lowest_ward_code(centroid_data):
    _, wards = centroid_data
    points = np.array([Point(X0 + 1000, Y0 + 500), Point(X0 + 500, Y0 + 500)])
    found, snapped = _point_in_ward(points, wards.geometry, wards.index, 250.0)
    assert wards.index[found].tolist() == ["E05000001", "E05000002"]
    assert snapped == 0


def test_method_argument_overrides_the_automatic_choice(centroid_data):
    data_dir, wards = centroid_data
    result = ward_population(config_for(data_dir), wards, method="lookup")
    assert result.values.isna().all()
    assert result.report["method"] == "lookup"


# --- the real data -----------------------------------------------------------------------------


@pytest.mark.integration
def test_every_met_ward_of_2022_gets_a_population(real_config, shared_data):
    from planner.ingest.sources.wards import read_dataset_wards

    wards = read_dataset_wards(real_config, "met-2022").frame
    result = ward_population(real_config, wards)
    population, report = result.values, result.report
    assert report["method"] == "lookup"
    city = wards[s.BOROUGH_CODE] == CITY
    assert population[~city].notna().all() and (~city).sum() == 679
    assert population[city].isna().all()
    assert set(report["missing"]) == set(wards.index[city])
    census = pd.read_csv(
        shared_data / "population/london_lsoa11_lsoa21_census2011_2021_TotalRes_merge_efit.csv"
    ).drop_duplicates("LSOA21CD")
    city_residents = census.loc[census["LAD22CD"] == CITY, "TotalRes21"].sum()
    assert (census["TotalRes21"].sum(), city_residents) == (8_799_776, 8_583)
    assert population.sum() == pytest.approx(8_799_776 - city_residents, rel=0.01)
    assert report["population_withheld"] == city_residents
    assert population[~city].min() > 1000


@pytest.mark.integration
def test_2014_wards_get_london_2011_population_by_centroid(real_config):
    from planner.ingest.sources.wards import read_dataset_wards

    wards = read_dataset_wards(real_config, "policeuk-2014").frame
    result = ward_population(real_config, wards)
    population, report = result.values, result.report
    assert report["method"] == "centroid"
    assert report["population_in_source"] == 8_173_941  # Census 2011, London usual residents
    city = wards[s.BOROUGH_CODE] == CITY
    assert population[~city].notna().all()
    assert report["areas_unassigned"] == 0
    # all of London but the City's 7,375 residents (Census 2011), withheld like the 2022 wards
    assert population.sum() == pytest.approx(8_173_941 - 7_375, abs=0.5)
    assert report["population_withheld"] == 7_375
