"""Any force, not just the Met (issue 12): a synthetic Greater Manchester built in code.

Ward boundaries as the ONS publishes them for any local authority of England (WD23CD, WD23NM,
LAD23CD, LAD23NM columns; borough = local authority), the force's police.uk street CSVs in the
published layout, and a population lookup of its own named in the configuration. Nothing here
is London's: the plan, the priorities and their words must follow the configuration alone.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from planner import api
from planner.config import DatasetSpec, SourceSpec, WardsSpec, load_config
from planner.errors import PlannerWarning
from planner.scenario import Scenario
from tests.factories import CONFIG_DIR, config_copy

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)
LADS = (("E08000001", "Bolton"), ("E08000002", "Bury"), ("E08000003", "Manchester"))
WARDS_PER_LAD = 4
SIDE = 1500.0  # metres
ORIGIN = (380_000.0, 400_000.0)  # British National Grid, in Greater Manchester
TYPES = (
    "Burglary",
    "Violence and sexual offences",
    "Vehicle crime",
    "Shoplifting",
    "Robbery",
    "Criminal damage and arson",
    "Anti-social behaviour",
)
MONTHS = [str(p) for p in pd.period_range("2023-01", "2025-12", freq="M")]
FORCE = "Greater Manchester Police"


def gm_wards() -> gpd.GeoDataFrame:
    """Four square wards per local authority, in rows, coded as the ONS codes wards."""
    records = []
    for row, (lad, name) in enumerate(LADS):
        for col in range(WARDS_PER_LAD):
            x0, y0 = ORIGIN[0] + col * SIDE, ORIGIN[1] + row * SIDE
            code = f"E05{11001 + row * WARDS_PER_LAD + col:06d}"
            records.append(
                {
                    "WD23CD": code,
                    "WD23NM": f"{name} ward {col + 1}",
                    "LAD23CD": lad,
                    "LAD23NM": name,
                    "geometry": shapely.box(x0, y0, x0 + SIDE, y0 + SIDE),
                }
            )
    return gpd.GeoDataFrame(records, crs="EPSG:27700")


def write_street_csvs(root: Path, wards: gpd.GeoDataFrame, seed: int = 7) -> int:
    """One folder per month, ``YYYY-MM-greater-manchester-street.csv``; Manchester's first
    ward gets three times the burglary of the rest. Returns the number of rows."""
    to_wgs84 = Transformer.from_crs(27700, 4326, always_xy=True)
    rng = np.random.default_rng(seed)
    hot = wards.geometry.iloc[2 * WARDS_PER_LAD]  # Manchester ward 1
    xmin, ymin, xmax, ymax = wards.total_bounds
    rows = 0
    for month in MONTHS:
        folder = root / month
        folder.mkdir(parents=True)
        n = 400
        x = np.concatenate(
            [
                rng.uniform(xmin + 1, xmax - 1, n),
                rng.uniform(hot.bounds[0] + 1, hot.bounds[2] - 1, 40),
            ]
        )
        y = np.concatenate(
            [
                rng.uniform(ymin + 1, ymax - 1, n),
                rng.uniform(hot.bounds[1] + 1, hot.bounds[3] - 1, 40),
            ]
        )
        kinds = np.concatenate([rng.choice(TYPES, n), np.full(40, "Burglary")])
        lon, lat = to_wgs84.transform(x, y)
        lines = [HEADER]
        for i, (kind, lo, la) in enumerate(zip(kinds, lon, lat, strict=True)):
            cid = "" if kind == "Anti-social behaviour" else f"{month}-{i:05d}".encode().hex()
            lines.append(
                f"{cid},{month},{FORCE},{FORCE},{lo:.6f},{la:.6f},On or near Any Street,"
                f"E01000001,Somewhere 001A,{kind},Under investigation,"
            )
        (folder / f"{month}-greater-manchester-street.csv").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )
        rows += len(lines) - 1
    return rows


def write_population(data: Path, wards: gpd.GeoDataFrame) -> None:
    """A small-area population file and a best-fit lookup, as population.toml [lookup] reads:
    two areas per ward of 4,000 and 3,000 residents."""
    areas = [(f"E01{20000 + 2 * k + j:06d}", code, lad) for k, (code, lad) in
             enumerate(zip(wards["WD23CD"], wards["LAD23CD"], strict=True)) for j in (0, 1)]  # fmt: skip
    (data / "population").mkdir()
    (data / "lookups").mkdir()
    pd.DataFrame(
        {
            "LSOA21CD": [a for a, _, _ in areas],
            "TotalRes21": [4000 if i % 2 == 0 else 3000 for i in range(len(areas))],
            "LAD22CD": [lad for _, _, lad in areas],
        }
    ).to_csv(data / "population" / "gm_lsoa21_residents.csv", index=False)
    pd.DataFrame(
        {"lsoa21cd": [a for a, _, _ in areas], "ward22cd": [w for _, w, _ in areas]}
    ).to_csv(data / "lookups" / "gm_lsoa21_ward23.csv", index=False)


@pytest.fixture(scope="module")
def gm(tmp_path_factory):
    """(config, inputs) of the synthetic force, its own area name and population."""
    root = tmp_path_factory.mktemp("greater_manchester")
    data = root / "data"
    wards = gm_wards()
    (data / "wards").mkdir(parents=True)
    wards.to_file(data / "wards" / "gm_wards_2023.geojson")
    rows = write_street_csvs(data / "incidents" / "gmp", wards)
    write_population(data, wards)
    text = (CONFIG_DIR / "population.toml").read_text(encoding="utf-8")
    text = re.sub(
        r'(?m)^population = ".*"$', 'population = "population/gm_lsoa21_residents.csv"', text
    )
    text = re.sub(r'(?m)^lookup = ".*"$', 'lookup = "lookups/gm_lsoa21_ward23.csv"', text)
    priorities = (CONFIG_DIR / "priorities.toml").read_text(encoding="utf-8")
    assert '\narea = "London"\n' in priorities
    priorities = priorities.replace('\narea = "London"\n', '\narea = "Greater Manchester"\n')
    cdir = config_copy(root, population=text, priorities=priorities)
    spec = DatasetSpec(
        "gmp-2023",
        "synthetic Greater Manchester",
        WardsSpec(path="wards/gm_wards_2023.geojson"),
        (SourceSpec(kind="police_uk_csv", path="incidents/gmp"),),
    )
    config = load_config(cdir).with_data_dir(data).with_cache_dir(root / "cache")
    config = dataclasses.replace(config, datasets={spec.name: spec})
    scenario = Scenario.from_config(config, dataset=spec.name).changed(pool=24, use_forecast=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlannerWarning)  # nothing London-shaped to warn about
        inputs = api.prepare(config, scenario)
    return config, scenario, inputs, rows


def test_every_ward_of_the_force_is_scored_with_its_local_authorities_as_boroughs(gm):
    _, _, inputs, rows = gm
    assert len(inputs.wards) == len(LADS) * WARDS_PER_LAD
    assert set(inputs.wards["borough_code"]) == {code for code, _ in LADS}
    assert set(inputs.wards["borough_name"]) == {name for _, name in LADS}
    counts = inputs.ingest.ward_counts
    assert counts["count"].sum() == rows  # every row placed: all fall inside the wards
    assert (inputs.population == 7000).all()  # the configured lookup, not London's
    assert inputs.asb_present


def test_the_plan_scores_every_ward_and_allocates_the_whole_pool(gm):
    _, scenario, inputs, _ = gm
    result = api.plan(inputs, scenario)
    scores = result.need.scores
    assert scores["need_score"].notna().all() and (scores["need_score"] > 0).all()
    assert not result.need.absent or "forecast" in result.need.absent
    assert {"harm", "asb", "rate"} <= set(result.need.weights_used)
    assert not any("London" in note for note in result.need.notes), result.need.notes
    assert int(result.allocation.wards["extra"].sum()) == scenario.pool
    hot = "E05011009"  # Manchester ward 1: three times the burglary
    assert scores.loc[hot, "rank_london"] == 1


def test_priorities_compare_with_the_configured_area(gm):
    config, _, inputs, _ = gm
    view = api.borough_priorities(inputs, config, "Manchester")
    assert len(view.proposed) >= 1
    text = " ".join(view.proposed["sentence"]) + " " + " ".join(view.proposed["why"])
    assert (
        "times the Greater Manchester rate" in text or "about the Greater Manchester rate" in text
    )
    assert "London" not in text
    evidence = " ".join(view.evidence["sentence"]) if "sentence" in view.evidence else ""
    assert "London" not in evidence
    assert view.proposed.iloc[0]["candidate"] == "Burglary", view.proposed[["candidate", "score"]]


def test_without_a_population_for_the_force_the_rate_is_left_out_and_said(tmp_path):
    """The shipped (London) population files do not cover these wards: the rates are no data,
    the rate component drops out with its weight shared, and the plan still runs."""
    data = tmp_path / "data"
    wards = gm_wards()
    (data / "wards").mkdir(parents=True)
    wards.to_file(data / "wards" / "gm.geojson")
    write_street_csvs(data / "incidents" / "gmp", wards)
    spec = DatasetSpec(
        "gmp", "synthetic", WardsSpec(path="wards/gm.geojson"),
        (SourceSpec(kind="police_uk_csv", path="incidents/gmp"),),
    )  # fmt: skip
    config = load_config(CONFIG_DIR).with_data_dir(data).with_cache_dir(tmp_path / "cache")
    config = dataclasses.replace(config, datasets={"gmp": spec})
    scenario = Scenario.from_config(config, dataset="gmp").changed(pool=12, use_forecast=False)
    with pytest.warns(PlannerWarning, match="population: cannot be read"):
        inputs = api.prepare(config, scenario)
    result = api.plan(inputs, scenario)
    assert "rate" in result.need.absent and "rate" not in result.need.weights_used
    assert sum(result.need.weights_used.values()) == pytest.approx(1.0)
    assert any("rate: no ward has a value" in n for n in result.need.notes)
    assert result.need.scores["need_score"].notna().all()
    assert int(result.allocation.wards["extra"].sum()) == 12
