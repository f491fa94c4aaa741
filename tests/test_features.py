"""Tests of planner.model.features: harm weights, windows, counts, trend, alignment, config errors."""

from __future__ import annotations

import json
import re
import tomllib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from shapely.geometry import box

from planner import schema as s
from planner.config import HarmSettings, load_config
from planner.errors import ConfigError, DataError, PlannerWarning
from planner.model import features as F
from planner.model import harm as H
from planner.model import window as W
from planner.model.stats import binomial_p
from tests.factories import CONFIG_DIR, config_copy, harm_settings

WARDS = pd.Index(["E05000001", "E05000002", "E05000003"], name=s.WARD_CODE)
MONTHS = [f"{y}-{m:02d}" for y in (2023, 2024) for m in range(1, 13)]  # two years
LAST_YEAR = W.Window("2024-01", "2024-12")
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def harm() -> HarmSettings:
    """The shipped harm settings (config/harm.toml): CCHI, proactive categories halved."""
    return harm_settings()


def make_counts(rows, *, categorical: bool = True) -> pd.DataFrame:
    """ward_counts from (ward, month, category, subcategory, count) tuples, typed like ingest."""
    frame = pd.DataFrame(rows, columns=list(s.WARD_COUNTS_COLUMNS))
    frame[s.COUNT] = frame[s.COUNT].astype("int64")
    if categorical:
        for col in (s.WARD_CODE, s.MONTH, s.CATEGORY, s.SUBCATEGORY):
            frame[col] = frame[col].astype("category")
    return frame


def harm_of(rows, settings_: HarmSettings | None = None, window=LAST_YEAR) -> pd.Series:
    settings_ = harm_settings() if settings_ is None else settings_
    return H.harm(make_counts(rows), window, wards=WARDS, settings=settings_)


# --- harm.toml as a table, written back into a configuration copy -----------------------------


def shipped_harm_table() -> dict:
    """The shipped harm.toml, parsed (a fresh copy each call)."""
    with (CONFIG_DIR / "harm.toml").open("rb") as f:
        return tomllib.load(f)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (\uXXXX escapes are TOML too)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML here")


def toml_text(table: dict, prefix: tuple[str, ...] = ()) -> str:
    """TOML text of a parsed table of scalars, lists and sub-tables (enough for harm.toml)."""
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    out = "[" + ".".join(json.dumps(k) for k in prefix) + "]\n" if prefix else ""
    out += "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in scalars)
    for key, sub in tables:
        out += "\n" + toml_text(sub, (*prefix, key))
    return out


def with_harm(**changes) -> dict:
    """The shipped harm.toml table with top-level entries replaced."""
    raw = shipped_harm_table()
    raw.update(changes)
    return raw


def harm_problems(tmp_path: Path, raw: dict) -> tuple[str, str]:
    """(harm.toml's path, the ConfigError load_config raises) for a config copy with *raw*."""
    cdir = config_copy(tmp_path, harm=toml_text(raw))
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    return str(cdir / "harm.toml"), str(info.value)


def assert_problem(path: str, error: str, pattern: str) -> None:
    """One listed problem names *path* (the file, then its table) and matches *pattern*."""
    assert re.search(rf"^  - {re.escape(path)}[^\n]*{pattern}", error, re.MULTILINE), error


# --- harm weights --------------------------------------------------------------------------


@pytest.mark.parametrize("categorical", [True, False], ids=["categorical", "plain-strings"])
def test_each_ward_is_weighted_by_its_own_offence_mix(harm, categorical):
    rows = [
        ("E05000001", "2024-03", "Burglary", "residential", 2),
        ("E05000002", "2024-03", "Burglary", "business and community", 2),
        ("E05000003", "2024-03", "Burglary", "", 2),  # police.uk: no subcategory
    ]
    frame = make_counts(rows, categorical=categorical)
    result = H.harm(frame, LAST_YEAR, wards=WARDS, settings=harm)
    assert result.tolist() == pytest.approx([2 * 273.5, 2 * 183.5, 2 * 244.68])
    assert result.name == "harm"


def test_unconfigured_subcategory_takes_the_category_weight():
    rows = [("E05000001", "2024-03", "Violence and sexual offences", "a label no table has", 1)]
    assert harm_of(rows).iloc[0] == pytest.approx(194.21)


def test_stalking_and_harassment_has_its_own_sourced_weight():
    rows = [("E05000001", "2024-03", "Violence and sexual offences", "stalking and harassment", 1)]
    assert harm_of(rows).iloc[0] == pytest.approx(10.0)


def test_asb_is_never_added_into_harm(harm):
    crime = [("E05000001", "2024-03", "Robbery", "personal property", 1)]
    with_asb = [*crime, ("E05000001", "2024-03", s.ASB, "", 500)]
    assert harm_of(with_asb).iloc[0] == harm_of(crime).iloc[0] == pytest.approx(365.0)
    weights = H.row_harm_weights(make_counts(with_asb), harm)
    assert weights.tolist() == pytest.approx([365.0, 0.0])


@pytest.mark.parametrize(
    ("mode", "factor", "expected"),
    [
        ("include", 0.5, 1.0),
        ("downweight", 0.5, 0.5),
        ("downweight", 0.2, 0.2),
        ("exclude", 0.5, 0.0),
    ],
    ids=["include", "downweight-half", "downweight-fifth", "exclude"],
)
def test_proactive_categories_are_included_downweighted_or_excluded(harm, mode, factor, expected):
    rows = [
        ("E05000001", "2024-03", "Drugs", "possession", 10),
        ("E05000002", "2024-03", "Possession of weapons", "possession of weapons", 4),
        ("E05000003", "2024-03", "Robbery", "personal property", 1),
    ]
    result = harm_of(rows, harm.with_proactive(mode, factor))
    assert result.tolist() == pytest.approx([30 * expected, 4 * 273.75 * expected, 365.0])


def test_with_index_and_with_proactive_return_new_objects(harm):
    css = harm.with_index("css")
    assert (css.index, harm.index) == ("css", "cchi")
    excluded = harm.with_proactive("exclude")
    assert (excluded.proactive_mode, harm.proactive_mode) == ("exclude", "downweight")
    assert excluded.proactive_factor == harm.proactive_factor
    with pytest.raises(ConfigError, match="index 'nope' is not one of cchi, css"):
        harm.with_index("nope")
    with pytest.raises(
        ConfigError, match="proactive_mode should be one of 'include', .* found 'sometimes'"
    ):
        harm.with_proactive("sometimes")
    with pytest.raises(ConfigError, match=r"proactive factor must be a number in \[0, 1\]"):
        harm.with_proactive("downweight", 1.5)


def test_every_index_weights_every_crime_category_and_cites_a_source(harm):
    for index in harm.indices.values():
        assert set(index.categories) == set(s.CRIME_CATEGORIES)
        assert index.source and index.unit
    assert harm.category_weights()["Drugs"] == pytest.approx(3.66 * 0.5)


def test_a_category_without_a_weight_in_ward_counts_is_an_error(harm):
    rows = [("E05000001", "2024-03", "Fraud", "", 1)]
    with pytest.raises(DataError, match=r"categories without a cchi harm weight: \['Fraud'\]"):
        H.row_harm_weights(make_counts(rows), harm)


# --- configuration errors (harm.toml in a config copy, read by load_config) -----------------


def test_the_shipped_harm_table_round_trips(tmp_path, harm):
    """The tests below change one entry of harm.toml; written back unchanged it loads as is."""
    assert load_config(config_copy(tmp_path, harm=toml_text(shipped_harm_table()))).harm == harm


def test_unknown_top_level_key_is_an_error(tmp_path):
    path, error = harm_problems(tmp_path, with_harm(weights={}))
    assert "1 problem(s)" in error
    assert_problem(path, error, r": unknown key 'weights'; correct its spelling or remove it")


def test_missing_category_weights_are_named(tmp_path):
    raw = with_harm()
    del raw["indices"]["css"]["categories"]["Shoplifting"]
    del raw["indices"]["css"]["categories"]["Robbery"]
    path, error = harm_problems(tmp_path, raw)
    assert_problem(
        path, error, r" \[indices.css\].categories: no weight for Robbery, Shoplifting; add them"
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("categories", "Robbery", -1, r"'Robbery': a weight must be a number >= 0, found -1"),
        ("categories", "Robbery", "high", r"a weight must be a number >= 0, found 'high'"),
        ("categories", s.ASB, 1.0, r"'Anti-social behaviour': ASB is never weighted"),
        ("categories", "Arson", 1.0, r"'Arson': not a category"),
        (
            "subcategories",
            "residential burglary",
            1.0,
            r"should read 'Crime category \| subcategory'",
        ),
        (
            "name_typo",
            None,
            None,
            r": unknown key 'name_typo' \(did you mean 'name'\?\); correct its spelling",
        ),
    ],
    ids=["negative", "text", "asb", "not-a-category", "no-separator", "unknown-index-key"],
)
def test_bad_index_entries_are_errors(tmp_path, section, key, value, message):
    raw = with_harm()
    if key is None:
        raw["indices"]["cchi"][section] = "x"
    else:
        raw["indices"]["cchi"][section][key] = value
    path, error = harm_problems(tmp_path, raw)
    assert_problem(path, error, rf" \[indices.cchi\][^\n]*{message}")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"default": "ons"}, r"index 'ons' is not one of cchi, css"),
        ({"proactive": {"mode": "half"}}, r"\[proactive\]: 'mode' should be one of 'include'"),
        (
            {"proactive": {"factor": 2}},
            r"proactive factor must be a number in \[0, 1\], found 2\.0",
        ),
        ({"proactive": {"categories": ["Drug"]}}, r"proactive categories \['Drug'\] are not"),
        (
            {"proactive": {"mode": "exclude", "weight": 1}},
            r" \[proactive\]: unknown key 'weight'; correct its spelling or remove it",
        ),
        ({"indices": {}}, r"no \[indices.NAME\] table; define at least one harm index"),
    ],
    ids=["default", "mode", "factor", "category", "unknown-key", "no-index"],
)
def test_bad_top_level_settings_are_errors(tmp_path, changes, message):
    raw = with_harm()
    for key, value in changes.items():  # [proactive] keys change one at a time, the rest kept
        raw[key] = {**raw[key], **value} if key == "proactive" else value
    path, error = harm_problems(tmp_path, raw)
    assert_problem(path, error, message)


def test_proactive_keys_have_no_defaults(tmp_path):
    raw = with_harm(proactive={"mode": "exclude"})
    path, error = harm_problems(tmp_path, raw)
    for key in ("categories", "factor"):
        assert_problem(path, error, rf": missing key '\[proactive\] {key}'; add it")


def test_a_subcategory_no_source_produces_is_a_warning(tmp_path):
    raw = with_harm()
    raw["indices"]["cchi"]["subcategories"]["Burglary | resdential"] = 1.0
    cdir = config_copy(tmp_path, harm=toml_text(raw))
    with pytest.warns(PlannerWarning, match=r"'Burglary \| resdential' matches no subcategory"):
        load_config(cdir)


def test_missing_harm_file_is_an_error(tmp_path):
    cdir = config_copy(tmp_path)
    (cdir / "harm.toml").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    assert_problem(
        str(cdir / "harm.toml"), str(info.value), r": not found; every configuration folder"
    )


# --- windows -------------------------------------------------------------------------------


def test_window_months_length_and_previous():
    window = W.Window("2024-11", "2025-02")
    assert window.months == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert len(window) == 4
    assert window.previous() == W.Window("2024-07", "2024-10")
    assert W.Window.ending("2025-01", months=12) == W.Window("2024-02", "2025-01")
    assert W.Window.ending("2025-01", months=12).previous() == W.Window("2023-02", "2024-01")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [("2024-13", "2024-12", "must be 'YYYY-MM'"), ("2024/01", "2024-12", "must be 'YYYY-MM'"),
     ("2024-06", "2024-01", "start 2024-06 is after its end 2024-01")],
    ids=["month-13", "slash", "reversed"],
)  # fmt: skip
def test_bad_windows_are_errors(start, end, message):
    with pytest.raises(ConfigError, match=message):
        W.Window(start, end)


def test_default_window_is_the_last_months_of_the_data():
    rows = [("E05000001", m, "Robbery", "", 1) for m in MONTHS]
    frame = make_counts(rows)
    assert W.default_window(frame) == W.Window("2024-01", "2024-12")
    assert W.default_window(frame, months=3) == W.Window("2024-10", "2024-12")
    with pytest.raises(
        DataError, match=r"a 36-month window needs 36 months .* covers 24 \(2023-01 to 2024-12\)"
    ):
        W.default_window(frame, months=36)


def test_default_window_warns_about_months_without_rows():
    rows = [("E05000001", m, "Robbery", "", 1) for m in MONTHS if m != "2024-06"]
    with pytest.warns(PlannerWarning, match="no rows at all for 2024-06"):
        W.default_window(make_counts(rows))


# --- counts, ASB, alignment ----------------------------------------------------------------


def test_results_align_to_the_ward_index(harm):
    rows = [
        ("E05000002", "2024-05", "Robbery", "personal property", 3),
        ("E05999999", "2024-05", "Robbery", "personal property", 7),  # not one of the wards
        ("E05000002", "2022-05", "Robbery", "personal property", 9),  # outside the window
    ]
    frame = make_counts(rows)
    wards = pd.Index(["E05000003", "E05000002", "E05000001"])
    counts = H.category_counts(frame, LAST_YEAR, wards=wards)
    assert counts.index.tolist() == wards.tolist()
    assert counts.columns.tolist() == list(s.CATEGORIES)
    assert counts["Robbery"].tolist() == [0, 3, 0]
    assert counts.drop(columns="Robbery").to_numpy().sum() == 0
    by_cat = H.harm_by_category(frame, LAST_YEAR, wards=wards, settings=harm)
    assert by_cat.columns.tolist() == list(s.CRIME_CATEGORIES)
    assert by_cat["Robbery"].tolist() == [0.0, 3 * 365.0, 0.0]


def test_duplicate_ward_codes_are_an_error():
    frame = make_counts([("E05000001", "2024-05", "Robbery", "", 1)])
    with pytest.raises(DataError, match="duplicate codes"):
        H.category_counts(frame, LAST_YEAR, wards=["E05000001", "E05000001"])


def test_asb_absent_is_none_not_zero():
    crime_only = make_counts([("E05000001", "2024-05", "Robbery", "", 1)])
    assert H.asb(crime_only, LAST_YEAR, wards=WARDS) is None
    with_asb = make_counts([("E05000002", "2024-05", s.ASB, "", 4)])
    result = H.asb(with_asb, LAST_YEAR, wards=WARDS)
    assert result.name == "asb"
    assert result.tolist() == [0, 4, 0]


def test_monthly_harm_covers_every_month_of_the_range(harm):
    rows = [
        ("E05000001", "2024-01", "Robbery", "", 1),
        ("E05000002", "2024-04", "Shoplifting", "", 3),
        ("E05000002", "2024-04", s.ASB, "", 3),
    ]
    frame = make_counts(rows)
    monthly = H.monthly_harm(frame, harm, wards=WARDS)
    assert monthly.columns.tolist() == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert monthly.loc["E05000001"].tolist() == [365.0, 0.0, 0.0, 0.0]
    assert monthly.loc["E05000002"].tolist() == [0.0, 0.0, 0.0, 3.0]
    assert monthly.loc["E05000003"].sum() == 0
    counts = H.monthly_counts(frame, wards=WARDS)
    assert counts.loc["E05000002", "2024-04"] == 3  # ASB not counted as crime
    assert H.monthly_counts(frame, wards=WARDS, categories=[s.ASB]).to_numpy().sum() == 3
    with pytest.raises(ConfigError, match=r"unknown categories \['Burglaries'\]"):
        H.monthly_counts(frame, wards=WARDS, categories=["Burglaries"])


# --- rates and areas -----------------------------------------------------------------------


def test_rates_are_nan_where_the_denominator_is_missing_or_zero():
    values = pd.Series([10.0, 10.0, 10.0], index=WARDS, name="harm")
    population = pd.Series({"E05000001": 2000.0, "E05000002": 0.0})
    rate = F.per_1000(values, population)
    assert rate.name == "harm_per_1000"
    assert rate.iloc[0] == pytest.approx(5.0)
    assert rate.iloc[1:].isna().all()
    area = pd.Series([2.0, np.nan, 0.5], index=WARDS)
    assert F.per_km2(values, area).tolist()[::2] == [5.0, 20.0]


def test_area_is_measured_in_british_national_grid():
    square = gpd.GeoDataFrame(
        {"geometry": [box(500_000, 180_000, 501_000, 181_000)]}, index=WARDS[:1], crs=s.WORKING_CRS
    )
    assert F.area_km2(square).iloc[0] == pytest.approx(1.0)
    assert F.area_km2(square.to_crs(s.DISPLAY_CRS)).iloc[0] == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(DataError, match="no CRS"):
        F.area_km2(square.set_crs(None, allow_override=True))


# --- trend ---------------------------------------------------------------------------------


# Rows of a ward outside the index: they mark the data's range (2023-01 to 2024-12) and are
# otherwise ignored.
RANGE = [("E05999999", m, "Shoplifting", "", 1) for m in ("2023-01", "2024-12")]


def two_windows(last: int, prior: int, ward: str = "E05000001", category: str = "Robbery"):
    return [(ward, "2024-06", category, "", last), (ward, "2023-06", category, "", prior), *RANGE]


def test_two_to_four_is_neither_a_doubling_nor_significant(harm):
    result = F.trend(make_counts(two_windows(4, 2)), LAST_YEAR, wards=WARDS, settings=harm)
    row = result.loc["E05000001"]
    assert (row.crimes_last, row.crimes_prior) == (4, 2)
    assert row.crimes_change_shrunk == pytest.approx(14 / 12 - 1)  # +17 %, not +100 %
    assert row.crimes_p == pytest.approx(stats.binomtest(4, 6, 0.5).pvalue)
    assert row.crimes_p > 0.5
    assert row.direction == "no clear change"
    assert abs(row.harm_z) < 1.0


@pytest.mark.parametrize(
    ("last", "prior", "direction"), [(400, 200, "up"), (200, 400, "down")], ids=["up", "down"]
)
def test_large_changes_are_significant(harm, last, prior, direction):
    result = F.trend(make_counts(two_windows(last, prior)), LAST_YEAR, wards=WARDS, settings=harm)
    row = result.loc["E05000001"]
    assert row.crimes_p < 1e-10
    assert row.crimes_z == pytest.approx((last - prior) / np.sqrt(last + prior))
    assert row.harm_z == pytest.approx(row.crimes_z)  # one category: same weight throughout
    assert row.direction == direction
    assert result.loc["E05000002"].tolist()[:5] == [0, 0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(("a", "b"), [(0, 1), (1, 0), (3, 9), (5, 5), (17, 8), (60, 41)])
def test_binomial_p_matches_scipy_binomtest(a, b):
    expected = stats.binomtest(a, a + b, 0.5).pvalue
    assert binomial_p(np.array([a]), np.array([b]))[0] == pytest.approx(expected)


def test_harm_z_is_the_weighted_poisson_z(harm):
    rows = [
        ("E05000001", "2024-06", "Burglary", "residential", 3),
        ("E05000001", "2024-06", "Shoplifting", "", 10),
        ("E05000001", "2023-06", "Burglary", "residential", 1),
        *RANGE,
    ]
    row = F.trend(make_counts(rows), LAST_YEAR, wards=WARDS, settings=harm).loc["E05000001"]
    h1, h0 = 3 * 273.5 + 10, 273.5
    assert (row.harm_last, row.harm_prior) == pytest.approx((h1, h0))
    assert row.harm_z == pytest.approx((h1 - h0) / np.sqrt(273.5**2 * 4 + 10))


def test_trend_needs_the_previous_window_in_the_data(harm):
    frame = make_counts([("E05000001", m, "Robbery", "", 1) for m in MONTHS[12:]])
    with pytest.raises(
        DataError, match=r"needs data from 2023-01 .* ward_counts cover 2024-01 to 2024-12"
    ):
        F.trend(frame, LAST_YEAR, wards=WARDS, settings=harm)


# --- ward_features -------------------------------------------------------------------------


def grid_wards() -> gpd.GeoDataFrame:
    boxes = [box(500_000 + 1000 * i, 180_000, 501_000 + 1000 * i, 181_000) for i in range(3)]
    return gpd.GeoDataFrame({"geometry": boxes}, index=WARDS, crs=s.WORKING_CRS)


def test_ward_features_combines_every_measure(harm):
    rows = [
        *two_windows(40, 20),
        ("E05000002", "2024-02", "Burglary", "residential", 2),
        ("E05000002", "2024-02", s.ASB, "", 6),
    ]
    population = pd.Series({"E05000001": 2000, "E05000002": 4000, "E05000003": 0})
    features = F.ward_features(
        make_counts(rows), grid_wards(), population, window=LAST_YEAR, settings=harm
    )
    assert isinstance(features, F.WardFeatures)
    assert (
        features.asb_present,
        features.window,
        features.harm_index,
        features.trend_available,
    ) == (True, LAST_YEAR, "cchi", True)
    result = features.table
    assert result.index.tolist() == WARDS.tolist()
    assert result.attrs == {}  # everything said about the table is a field of WardFeatures
    assert result.loc["E05000001", "harm"] == pytest.approx(40 * 365)
    assert result.loc["E05000001", "harm_per_1000"] == pytest.approx(40 * 365 / 2)
    assert result.loc["E05000002", "harm: Burglary"] == pytest.approx(547.0)
    assert result.loc["E05000002", "count: Burglary"] == 2
    assert result.loc["E05000002", "asb_per_1000"] == pytest.approx(1.5)
    assert result.loc["E05000002", "crimes"] == 2  # ASB is not crime
    assert result["area_km2"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert np.isnan(result.loc["E05000003", "harm_per_1000"])
    assert result.loc["E05000003", "direction"] == "no clear change"
    for column in ("harm", "population", "area_km2", "harm_per_km2", "crimes_per_1000", "crimes_p"):
        assert column in result


def test_ward_features_follow_the_harm_settings_they_are_given(harm):
    rows = [("E05000001", "2024-03", "Drugs", "possession", 10), *RANGE]
    half = F.ward_features(make_counts(rows), WARDS, None, window=LAST_YEAR, settings=harm)
    css = harm.with_index("css").with_proactive("exclude")
    none = F.ward_features(make_counts(rows), WARDS, None, window=LAST_YEAR, settings=css)
    assert half.table.loc["E05000001", "harm"] == pytest.approx(10 * 3.0 * 0.5)
    assert none.table.loc["E05000001", "harm"] == 0.0
    assert (half.harm_index, none.harm_index) == ("cchi", "css")


def test_ward_features_without_asb_or_previous_window(harm):
    rows = [("E05000001", m, "Robbery", "", 1) for m in MONTHS[12:]]
    with pytest.warns(PlannerWarning, match="trend not available"):
        features = F.ward_features(make_counts(rows), WARDS, None, window=LAST_YEAR, settings=harm)
    result = features.table
    assert "asb" not in result and "asb_per_1000" not in result
    assert features.asb_present is False
    assert features.trend_available is False
    assert (result["direction"] == "not available").all()
    assert result["population"].isna().all() and result["area_km2"].isna().all()


# --- invariants ----------------------------------------------------------------------------

CRIME_ROWS = [
    ("Burglary", "residential"),
    ("Burglary", "business and community"),
    ("Violence and sexual offences", "violence without injury"),
    ("Drugs", "possession"),
    ("Shoplifting", ""),
    (s.ASB, ""),
]
row_strategy = st.tuples(
    st.sampled_from([*WARDS.tolist(), "E05999999"]),
    st.sampled_from(MONTHS),
    st.sampled_from(range(len(CRIME_ROWS))),
    st.integers(0, 50),
)


def to_rows(drawn):
    return [(w, m, *CRIME_ROWS[i], c) for w, m, i, c in drawn]


@HYPOTHESIS
@given(
    drawn=st.lists(row_strategy, max_size=30),
    extra=st.tuples(
        st.sampled_from(WARDS.tolist()),
        st.sampled_from(MONTHS[12:]),
        st.integers(0, 4),
        st.integers(1, 20),
    ),
    mode=st.sampled_from(["include", "downweight", "exclude"]),
)
def test_adding_incidents_never_lowers_a_wards_harm(harm, drawn, extra, mode):
    chosen = harm.with_proactive(mode)
    before = harm_of(to_rows(drawn), chosen)
    after = harm_of(to_rows([*drawn, extra]), chosen)
    assert (after >= before - 1e-9).all()
    others = WARDS.to_numpy() != extra[0]
    assert after[others].tolist() == pytest.approx(before[others].tolist())


@HYPOTHESIS
@given(drawn=st.lists(row_strategy, min_size=1, max_size=30), seed=st.integers(0, 2**32 - 1))
def test_row_order_never_changes_the_features(harm, drawn, seed):
    rows = to_rows(drawn)
    shuffled = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        a, b = (
            F.ward_features(make_counts(r), WARDS, None, window=LAST_YEAR, settings=harm)
            for r in (rows, shuffled)
        )
    pd.testing.assert_frame_equal(a.table, b.table)
    assert (a.window, a.harm_index, a.asb_present, a.trend_available) == (
        b.window,
        b.harm_index,
        b.asb_present,
        b.trend_available,
    )


# --- the real data -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def met(met_inputs):
    """The met-2022 ward_counts (ingested once per session) and all its wards (the City too)."""
    return met_inputs.ingest.ward_counts, met_inputs.all_wards


@pytest.mark.integration
def test_real_met_features(harm, met):
    counts, wards = met
    window = W.default_window(counts)
    result = F.ward_features(counts, wards, None, window=window, settings=harm)
    assert result.asb_present is False
    features = result.table
    assert len(features) == len(wards) == 704
    city = wards.index[wards[s.BOROUGH_CODE] == s.CITY_OF_LONDON]
    assert features.loc[city, "crimes"].sum() == 0  # the City has its own police force
    assert (features.drop(index=city)["crimes"] > 0).all()
    # own offence mix: burglary harm = 273.5 per residential + 183.5 per business burglary
    in_window = counts[counts[s.MONTH].isin(window.months)]
    burglary = in_window[in_window[s.CATEGORY] == "Burglary"]
    by_sub = (
        burglary.pivot_table(
            index=s.WARD_CODE, columns=s.SUBCATEGORY, values=s.COUNT, aggfunc="sum", observed=True
        )
        .reindex(wards.index, fill_value=0)
        .fillna(0)
    )
    expected = 273.5 * by_sub["residential"] + 183.5 * by_sub["business and community"]
    assert features["harm: Burglary"].to_numpy() == pytest.approx(expected.to_numpy())
    # the monthly series adds up to the window's harm
    monthly = H.monthly_harm(counts, harm, wards=wards)
    assert monthly[window.months].sum(axis=1).to_numpy() == pytest.approx(
        features["harm"].to_numpy()
    )
    # the direction follows the exact test, never the raw change alone
    called = features[features["direction"] != "no clear change"]
    assert (called["crimes_p"] < 0.05).all()
    up = called["direction"] == "up"
    assert (called.loc[up, "crimes_last"] > called.loc[up, "crimes_prior"]).all()
    assert (called.loc[~up, "crimes_last"] < called.loc[~up, "crimes_prior"]).all()
    assert set(features["direction"]) <= {"up", "down", "no clear change"}


@pytest.mark.integration
def test_real_met_indices_and_proactive_modes_order_as_expected(harm, met):
    counts, wards = met
    window = W.default_window(counts)
    total = {
        mode: H.harm(counts, window, wards=wards, settings=harm.with_proactive(mode)).sum()
        for mode in ("include", "downweight", "exclude")
    }
    assert total["include"] > total["downweight"] > total["exclude"] > 0
    css = H.harm(counts, window, wards=wards, settings=harm.with_index("css"))
    cchi = H.harm(counts, window, wards=wards, settings=harm)
    assert css.corr(cchi, method="spearman") > 0.8  # different weights, similar ranking


# --- ward-months without data are missing, not zeros (issue 11, item 1) -----------------------


def _steady(per_month: int, months=MONTHS, skip=()) -> list[tuple]:
    """Ward 1 burglaries every month but *skip* (no data then); ward 2 steady throughout."""
    rows = []
    for m in months:
        rows.append(("E05000002", m, "Burglary", "residential", per_month))
        if m not in skip:
            rows.append(("E05000001", m, "Burglary", "residential", per_month))
    return rows


def _status(skip=(), without=()) -> pd.DataFrame:
    """Coverage as ward_month_status gives it: ward 1 has no data in *skip*; *without* none."""
    table = pd.DataFrame(True, index=WARDS, columns=MONTHS)
    table.loc["E05000001", list(skip)] = False
    table.loc[list(without), :] = False
    return table


def test_no_data_months_are_missing_so_rates_come_from_the_months_present(harm):
    skip = ("2024-03", "2024-04", "2024-05")  # 3 of the window's 12 months without data
    rows = _steady(10, skip=skip)
    status = _status(skip)
    got = F.ward_features(
        make_counts(rows), WARDS, None, window=LAST_YEAR, settings=harm, crime_status=status
    ).table
    naive = F.ward_features(make_counts(rows), WARDS, None, window=LAST_YEAR, settings=harm).table
    per_crime = naive.loc["E05000002", "harm"] / 120
    assert naive.loc["E05000001", "harm"] == pytest.approx(90 * per_crime)  # read as zeros
    assert got.loc["E05000001", "harm"] == pytest.approx(120 * per_crime)  # 90 over 9 months
    assert got.loc["E05000001", "crimes"] == pytest.approx(120.0)
    assert got.loc["E05000001", "data_share"] == pytest.approx(9 / 12)
    assert got.loc["E05000002", "data_share"] == 1.0
    assert got.loc["E05000002", "harm"] == naive.loc["E05000002", "harm"]  # unchanged
    # the trend compares rates: a steady ward with missing months has not fallen
    assert naive.loc["E05000001", "crimes_last"] == 90
    assert got.loc["E05000001", "crimes_last"] == pytest.approx(120.0)
    assert got.loc["E05000001", "crimes_prior"] == pytest.approx(120.0)
    assert got.loc["E05000001", "harm_z"] == pytest.approx(0.0)
    assert got.loc["E05000001", "direction"] == "no clear change"


def test_a_ward_without_any_month_of_data_has_no_harm_not_zero(harm):
    rows = _steady(5)
    status = _status(without=["E05000003"])
    got = F.ward_features(
        make_counts(rows), WARDS, None, window=LAST_YEAR, settings=harm, crime_status=status
    ).table
    assert np.isnan(got.loc["E05000003", "harm"]) and got.loc["E05000003", "data_share"] == 0
    assert got.loc["E05000003", "crimes_p"] == 1.0  # no trend claimed through missing data


def test_the_tested_trend_uses_rates_over_the_months_present(harm):
    from planner.model.trend import harm_trend

    trend_settings = load_config(CONFIG_DIR).need.trend
    skip = tuple(f"2024-{m:02d}" for m in range(1, 7))  # half the window missing
    rows = _steady(30, skip=skip)
    present = (np.array([6, 12, 12]), np.array([12, 12, 12]))
    with_missing = harm_trend(
        make_counts(rows), WARDS, window=LAST_YEAR, harm=harm, settings=trend_settings,
        present=present,
    )  # fmt: skip
    naive = harm_trend(
        make_counts(rows), WARDS, window=LAST_YEAR, harm=harm, settings=trend_settings
    )
    assert naive.loc["E05000001", "trend_z"] < -3  # half the months read as zeros: a fall
    assert with_missing.loc["E05000001", "trend_z"] == pytest.approx(0.0)
    assert with_missing.loc["E05000001", "trend_harm_last"] == pytest.approx(
        with_missing.loc["E05000001", "trend_harm_prior"]
    )


def test_the_binomial_test_weighs_unequal_exposure():
    # 60 of 90 crimes in a window with twice the months of data: exactly the expected share
    assert binomial_p(np.array([60]), np.array([30]), np.array([2 / 3]))[0] > 0.5
    assert binomial_p(np.array([60]), np.array([30]))[0] < 0.01  # at p = 0.5 it would shout
