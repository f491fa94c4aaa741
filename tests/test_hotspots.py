"""Tests of planner.model.hotspots: Gi* hot spots on grids of square wards, errors, the real wards."""

from __future__ import annotations

import dataclasses
import json
import logging
import tomllib
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

pytest.importorskip("esda", reason="hot spots need the model extra (esda, libpysal)")

from planner.config import HotSpotSettings, PlannerConfig, load_config
from planner.errors import ConfigError, DataError
from planner.ingest.sources.wards import read_dataset_wards
from planner.model.hotspots import HOT_SPOT_CLASSES, HotSpots, hot_spots
from tests.factories import CONFIG_DIR, config_copy, hot_spot_settings

SIDE = 100.0  # metres
X0, Y0 = 530_000.0, 180_000.0  # central London, EPSG:27700


def code(row: int, col: int) -> str:
    return f"E05{row:03d}{col:03d}"


def squares(cells: list[tuple[int, int]], *, gap: float = 0.0) -> gpd.GeoDataFrame:
    """Square wards at grid cells (row, col); *gap* shrinks each square to leave gaps."""
    geoms = [
        shapely.box(X0 + c * SIDE, Y0 + r * SIDE, X0 + (c + 1) * SIDE - gap, Y0 + (r + 1) * SIDE)
        for r, c in cells
    ]
    index = pd.Index([code(r, c) for r, c in cells], name="ward_code")
    return gpd.GeoDataFrame(
        {"ward_name": index, "borough_code": "E09000033", "borough_name": "Westminster"},
        geometry=geoms,
        index=index,
        crs="EPSG:27700",
    )


def grid(rows: int, cols: int) -> gpd.GeoDataFrame:
    return squares([(r, c) for r in range(rows) for c in range(cols)])


def run(values: pd.Series, wards: gpd.GeoDataFrame, **changes) -> HotSpots:
    """hot_spots with the shipped settings (config/hotspots.toml) changed by *changes*."""
    return hot_spots(values, wards, hot_spot_settings(**changes))


def background(wards: gpd.GeoDataFrame, seed: int = 1) -> pd.Series:
    """Values of no spatial pattern: 1 to 2 at random."""
    rng = np.random.default_rng(seed)
    return pd.Series(rng.uniform(1, 2, len(wards)), index=wards.index, name="harm")


@pytest.fixture(scope="module")
def corner():
    """An 8x8 grid with a 3x3 block of high harm in the (0, 0) corner, and its result."""
    wards = grid(8, 8)
    values = background(wards)
    values[[code(r, c) for r in range(3) for c in range(3)]] = 20.0
    return wards, values, run(values, wards, permutations=999, seed=0)


# --- the statistic ---------------------------------------------------------------------


def test_corner_cluster_is_hot_far_corner_is_not(corner):
    _, values, result_spots = corner
    result = result_spots.table
    assert list(result.index) == list(values.index)
    assert list(result.columns) == [
        "value",
        "gi_z",
        "p_sim",
        "p_value",
        "q_value",
        "hot_spot",
        "confidence",
        "neighbours",
        "island",
        "single_neighbour",
    ]
    cluster = [code(r, c) for r in range(2) for c in range(2)]
    far = [code(r, c) for r in range(6, 8) for c in range(6, 8)]
    assert (result.loc[cluster, "hot_spot"] == "hot spot").all()
    assert (result.loc[cluster, "confidence"] >= 95).all()
    assert (result.loc[cluster, "gi_z"] > 3).all()
    assert (result.loc[far, "hot_spot"] != "hot spot").all()
    assert set(result["hot_spot"].unique()) <= set(HOT_SPOT_CLASSES)
    assert result.loc[result["hot_spot"] == "not significant", "confidence"].eq(0).all()
    assert (result["q_value"] >= result["p_value"]).all()
    assert np.allclose(result["p_value"], np.minimum(1, 2 * result["p_sim"]))
    report = result_spots.report
    assert report["islands"] == 0 and report["components"] == 1
    assert report["hot_spots"] == (result["hot_spot"] == "hot spot").sum() >= 4
    json.dumps(report)  # JSON-serialisable


@pytest.mark.parametrize(
    ("contiguity", "interior", "corner_count"), [("queen", 8, 3), ("rook", 4, 2)], ids=str
)
def test_contiguity_counts_on_a_grid(contiguity, interior, corner_count):
    wards = grid(4, 4)
    result_spots = run(background(wards), wards, permutations=9, contiguity=contiguity)
    result = result_spots.table
    assert result.loc[code(1, 1), "neighbours"] == interior
    assert result.loc[code(0, 0), "neighbours"] == corner_count
    assert result_spots.report["corner_contacts_dropped"] == (18 if contiguity == "rook" else 0)


def test_snap_bridges_hairline_gaps():
    wards = squares([(0, 0), (0, 1), (0, 2)], gap=0.5)  # 0.5 m between neighbours
    values = pd.Series([1.0, 2.0, 3.0], index=wards.index)
    snapped_spots = run(values, wards, permutations=9, snap_m=1.0)
    snapped = snapped_spots.table
    assert snapped["neighbours"].tolist() == [1, 2, 1]
    assert snapped_spots.report["pairs_bridged_by_snap"] == 2
    middle = snapped.loc[code(0, 1)]  # its neighbourhood is every ward: Gi* is undefined
    assert np.isnan(middle["gi_z"]) and middle["p_value"] == 1.0
    assert middle["hot_spot"] == "not significant"
    assert snapped_spots.report["undefined_gi_z"] == 1
    exact_spots = run(values, wards, permutations=9, snap_m=0.0)
    exact = exact_spots.table
    assert exact["island"].all()  # no contact at all: each joined to its nearest ward
    assert exact_spots.report["islands"] == 3


def test_fdr_never_makes_more_wards_significant(corner):
    wards, values, corrected_spots = corner
    corrected = corrected_spots.table
    uncorrected_spots = run(values, wards, permutations=999, seed=0, fdr=False)
    uncorrected = uncorrected_spots.table
    significant = (corrected["hot_spot"] != "not significant").sum()
    assert significant <= (uncorrected["hot_spot"] != "not significant").sum()
    assert significant == corrected_spots.report["significant_fdr"]
    assert (uncorrected["hot_spot"] != "not significant").sum() == (
        uncorrected["p_value"] <= 0.05
    ).sum()
    from esda import fdr  # the Benjamini-Hochberg threshold, for a cross-check

    threshold = fdr(corrected["p_value"].to_numpy(), 0.05)
    assert ((corrected["q_value"] <= 0.05) == (corrected["p_value"] < threshold)).all()


def test_same_seed_same_table_whatever_the_row_order(corner):
    wards, values, first_spots = corner
    first = first_spots.table
    state = np.random.get_state()[1].copy()
    again_spots = run(values, wards, permutations=999, seed=0)
    again = again_spots.table
    pd.testing.assert_frame_equal(first, again)
    without_time = [
        {k: v for k, v in r.report.items() if k != "seconds"} for r in (first_spots, again_spots)
    ]
    assert without_time[0] == without_time[1]
    assert (np.random.get_state()[1] == state).all()  # numpy's global generator untouched
    order = np.random.default_rng(7).permutation(len(values))
    shuffled_spots = run(values.iloc[order], wards.iloc[order[::-1]], permutations=999, seed=0)
    shuffled = shuffled_spots.table
    assert list(shuffled.index) == list(values.index[order])
    pd.testing.assert_frame_equal(shuffled.loc[first.index], first)
    other_spots = run(values, wards, permutations=999, seed=1)
    other = other_spots.table
    assert not np.array_equal(other["p_sim"], first["p_sim"])


def test_gi_z_is_the_ord_getis_1995_z_score(corner):
    """Gi* z by hand: binary weights with the ward itself, Ord & Getis (1995)."""
    _, values, result_spots = corner
    result = result_spots.table
    x = values.to_numpy()
    n, mean = x.size, x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    cells = [(r, c) for r in range(8) for c in range(8)]
    for i, (r, c) in enumerate(cells):
        star = [j for j, (rr, cc) in enumerate(cells) if abs(rr - r) <= 1 and abs(cc - c) <= 1]
        weight = len(star)  # binary: sum of weights = sum of squared weights
        z = (x[star].sum() - mean * weight) / (s * np.sqrt((n * weight - weight**2) / (n - 1)))
        assert result["gi_z"].iloc[i] == pytest.approx(z, rel=1e-9)


@pytest.mark.parametrize("alpha", [0.01, 0.025, 0.1], ids=str)
def test_confidence_levels_follow_alpha(corner, alpha):
    wards, values, _ = corner
    result_spots = run(values, wards, permutations=999, alpha=alpha, fdr=False)
    result = result_spots.table
    significant = result["hot_spot"] != "not significant"
    confidence = result.loc[significant, "confidence"]
    assert significant.any() and (confidence >= 100 * (1 - alpha) - 1e-9).all()
    assert set(confidence) <= {99.0, 95.0, 90.0, round(100 * (1 - alpha), 6)}
    assert (result.loc[~significant, "confidence"] == 0).all()
    strict = result["p_value"] <= 0.01
    assert (result.loc[strict & significant, "confidence"] == 99.0).all()


# --- islands and single neighbours --------------------------------------------------------


@pytest.mark.parametrize("island_k", [1, 2], ids=lambda k: f"k{k}")
def test_island_is_joined_to_nearest_and_flagged(island_k, caplog):
    cells = [(r, c) for r in range(4) for c in range(4)] + [(1, 9)]  # (1, 9): 500 m east
    wards = squares(cells)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # libpysal's island warnings stay inside
        with caplog.at_level(logging.WARNING, logger="planner.model.hotspots"):
            result_spots = run(background(wards), wards, permutations=99, island_k=island_k)
            result = result_spots.table
    island = code(1, 9)
    assert result["island"].sum() == 1 and result.loc[island, "island"]
    assert result.loc[island, "neighbours"] == island_k
    assert result.loc[code(1, 3), "neighbours"] == 5 + 1  # its own 5 plus the island
    assert result_spots.report["islands"] == 1
    assert result_spots.report["island_ward_codes"] == [island]
    assert result_spots.report["components"] == 1
    assert "no neighbour" in caplog.text and island in caplog.text


@pytest.mark.parametrize("contiguity", ["queen", "rook"])
def test_single_neighbour_ward_is_flagged(contiguity):
    cells = [(r, c) for r in range(3) for c in range(3)] + [(1, 3), (1, 4)]  # a spur east
    wards = squares(cells)
    result_spots = run(background(wards), wards, permutations=9, contiguity=contiguity)
    result = result_spots.table
    single = result.index[result["single_neighbour"]]
    assert list(single) == [code(1, 4)]
    assert result_spots.report["single_neighbour"] == 1
    assert result_spots.report["single_neighbour_ward_codes"] == [code(1, 4)]
    assert not result["island"].any()


# --- errors --------------------------------------------------------------------------


def _bad(kind: str, wards: gpd.GeoDataFrame) -> pd.Series:
    values = background(wards)
    if kind == "missing":
        return values.drop([code(0, 0), code(2, 2)])
    if kind == "extra":
        return pd.concat([values, pd.Series({"E05999999": 1.0})])
    if kind == "nan":
        values[code(1, 1)] = np.nan
    if kind == "negative":
        values[code(1, 2)] = -3.0
    if kind == "text":
        values = values.astype(object)
        values[code(0, 1)] = "many"
    if kind == "duplicated":
        return pd.concat([values, values.iloc[:1]])
    if kind == "constant":
        values[:] = 4.0
    return values


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("missing", r"2 ward\(s\) have no value: E05000000, E05002002"),
        ("extra", r"1 value\(s\) for codes that are not wards: E05999999"),
        ("nan", r"missing or not finite numbers: E05001001"),
        ("negative", r"negative value\(s\) \(Gi\* needs values >= 0\): E05001002"),
        ("text", r"not finite numbers: E05000001"),
        ("duplicated", r"values repeat ward code\(s\) E05000000"),
        ("constant", r"values that differ; found 9 ward\(s\) and 1 distinct"),
    ],
    ids=str,
)
def test_bad_values_raise_data_error_naming_wards(kind, match):
    wards = grid(3, 3)
    with pytest.raises(DataError, match=match):
        run(_bad(kind, wards), wards, permutations=9)


def test_missing_and_extra_codes_are_reported_together():
    wards = grid(3, 3)
    values = background(wards).rename(index={code(0, 0): "E05XXXXXX"})
    with pytest.raises(DataError, match=r"no value: E05000000; 1 value\(s\) .*E05XXXXXX"):
        run(values, wards, permutations=9)


def test_wards_without_crs_raise():
    wards = grid(3, 3)
    with pytest.raises(DataError, match="wards have no CRS"):
        run(background(wards), wards.set_crs(None, allow_override=True), permutations=9)


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"alpha": 1.5}, r"alpha must be in \(0, 1\), found 1.5"),
        ({"contiguity": "bishop"}, "contiguity should be one of 'queen', 'rook', found 'bishop'"),
        ({"permutations": 0}, "permutations must be a whole number >= 1, found 0"),
        ({"snap_m": -1.0}, "snap_m must be a distance in metres >= 0"),
    ],
    ids=str,
)
def test_bad_options_are_refused_by_the_settings(option, match):
    with pytest.raises(ConfigError, match=match):
        hot_spot_settings(**option)


@pytest.mark.parametrize(
    ("option", "match"),
    [({"fdr": "yes"}, "fdr should be true or false, found 'yes'"),
     ({"alpha": "x"}, "alpha should be a number, found 'x'"),
     ({"snap_m": None}, "snap_m should be a number, found None")],
    ids=str,
)  # fmt: skip
def test_settings_built_in_code_check_their_types(option, match):
    with pytest.raises(ConfigError, match=match):
        hot_spot_settings(**option)


def test_more_island_neighbours_than_wards_is_a_data_error():
    wards = grid(3, 3)
    with pytest.raises(DataError, match="more than island_k=9 wards"):
        run(background(wards), wards, island_k=9)


# --- configuration --------------------------------------------------------------------


def test_config_file_gives_the_settings(config: PlannerConfig):
    with (CONFIG_DIR / "hotspots.toml").open("rb") as f:
        table = tomllib.load(f)
    assert config.hotspots == HotSpotSettings(
        permutations=999,
        alpha=0.05,
        fdr=True,
        seed=0,
        contiguity="queen",
        snap_m=1.0,
        island_k=1,
    )
    assert config.hotspots.options() == table
    assert hot_spot_settings() == config.hotspots
    assert dataclasses.replace(config.hotspots, seed=3).seed == 3


@pytest.mark.parametrize(
    ("old", "new", "messages"),
    [
        (
            "permutations = 999",
            "permutation = 99",
            [
                ": unknown key 'permutation' (did you mean 'permutations'?); correct its "
                "spelling or remove it (keys allowed here: alpha, contiguity, fdr, island_k, "
                "permutations, seed, snap_m)",
                ": missing key 'permutations' (a whole number); add `permutations = ...`",
            ],
        ),
        (
            "fdr = true",
            'fdr = "yes"',
            [": 'fdr' should be true or false, found 'yes'; change the value of `fdr`"],
        ),
        (
            'contiguity = "queen"',
            'contiguity = "bishop"',
            [": 'contiguity' should be one of 'queen', 'rook', found 'bishop'"],
        ),
    ],
    ids=["unknown-key", "fdr", "contiguity"],
)
def test_bad_config_raises(tmp_path, old, new, messages):
    text = (CONFIG_DIR / "hotspots.toml").read_text(encoding="utf-8")
    assert f"\n{old}" in text  # the key's own line, not a comment mentioning it
    cdir = config_copy(tmp_path, hotspots=text.replace(f"\n{old}", f"\n{new}", 1))
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    for message in messages:
        assert f"{cdir / 'hotspots.toml'}{message}" in str(info.value)


# --- the real wards ----------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    ("dataset", "count", "single"),
    [("met-2022", 704, "E05013931"), ("policeuk-2014", 654, "E05000405")],
)
def test_real_wards(real_config, dataset, count, single):
    wards = read_dataset_wards(real_config, dataset).frame
    area_km2 = wards.geometry.area / 1e6  # large outer wards cluster: a pattern to find
    result_spots = run(area_km2, wards, permutations=99)
    result = result_spots.table
    report = result_spots.report
    assert result.shape == (count, 10) and list(result.index) == list(wards.index)
    assert report["islands"] == 0 and not result["island"].any()
    assert report["single_neighbour_ward_codes"] == [single]
    assert report["components"] == 1
    assert 5 < report["mean_neighbours"] < 6.5
    assert report["seconds"] < 30
    assert result["hot_spot"].notna().all()
    pd.testing.assert_series_equal(result_spots.classes, result["hot_spot"])
