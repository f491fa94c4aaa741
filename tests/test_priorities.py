"""Tests for planner.plan.priorities: borough evidence, proposals and the high-harm basket."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from planner import api
from planner import schema as s
from planner.config import PlannerConfig, PrioritySettings, load_config
from planner.errors import ConfigError, DataError
from planner.ingest import IngestResult
from planner.model.need import NeedInputs
from planner.model.window import Window
from planner.plan.basket import Basket, high_harm_basket
from planner.plan.evidence import Evidence, borough_evidence
from planner.plan.priorities import (
    BoroughPriorities,
    borough_priorities,
    match_borough,
    propose_priorities,
)
from tests.factories import CONFIG_DIR, config_copy, harm_settings

WESTMINSTER, CAMDEN = "E09000033", "E09000007"
WINDOW = Window("2025-01", "2025-12")
NOW, BEFORE = "2025-06", "2024-06"  # one month in the window, one in the previous window
SENTENCE = re.compile(
    r"^[A-Z][\w ,-]+: (\d+(\.\d)? times the London rate|about the London rate|none recorded), "
    r"(up \d+ % on last year|down \d+ % on last year|no clear change on last year)"
    r"(, (\d+ %|under 1 %) of the borough's harm)?\.$"
)


@pytest.fixture(scope="module")
def settings(config: PlannerConfig) -> PrioritySettings:
    """The shipped priority settings (config/priorities.toml)."""
    return config.priorities


def _wards() -> gpd.GeoDataFrame:
    """Four 1 km square wards: W1, W2 in Westminster, W3, W4 in Camden."""
    return gpd.GeoDataFrame(
        {
            s.WARD_NAME: ["One", "Two", "Three", "Four"],
            s.BOROUGH_CODE: [WESTMINSTER, WESTMINSTER, CAMDEN, CAMDEN],
            s.BOROUGH_NAME: ["Westminster", "Westminster", "Camden", "Camden"],
        },
        geometry=[box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(4)],
        index=pd.Index(["W1", "W2", "W3", "W4"], name=s.WARD_CODE),
        crs=s.WORKING_CRS,
    )


def _counts(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    """ward_counts from (ward, month, category, subcategory, count); spans 2024-01 to 2025-12."""
    frame = pd.DataFrame(rows, columns=list(s.WARD_COUNTS_COLUMNS))
    edges = pd.DataFrame(
        [("W2", "2024-01", "Drugs", "possession", 0), ("W2", "2025-12", "Drugs", "possession", 0)],
        columns=list(s.WARD_COUNTS_COLUMNS),
    )
    return pd.concat([frame, edges], ignore_index=True)


def _inputs(counts: pd.DataFrame, *, measures: pd.DataFrame | None = None, dataset="tiny"):
    wards = _wards()
    measures = measures if measures is not None else pd.DataFrame(columns=s.WARD_MEASURES_COLUMNS)
    data = IngestResult(dataset, counts, measures, pd.DataFrame(), {}, {}, Path("."))
    population = pd.Series(1000.0, index=wards.index, name="population")
    return NeedInputs(
        dataset=dataset,
        ingest=data,
        wards=wards,
        all_wards=wards,
        population=population,
        window=WINDOW,
        harm=harm_settings(),
        features={},
        asb_present=bool((counts[s.CATEGORY] == s.ASB).any()),
        trend_available=True,
        forecast={},
        backtest=None,
        verdict=None,
        monthly=pd.DataFrame(),
    )


def _met_like() -> pd.DataFrame:
    rob, tftp, burg = "Robbery", "Theft from the person", "Burglary"
    return _counts(
        [
            ("W1", NOW, rob, "personal property", 120),
            ("W1", BEFORE, rob, "personal property", 60),
            ("W1", NOW, tftp, "theft from the person", 400),
            ("W1", BEFORE, tftp, "theft from the person", 390),
            ("W2", NOW, burg, "residential", 20),
            ("W2", BEFORE, burg, "residential", 20),
            ("W3", NOW, rob, "personal property", 40),
            ("W3", BEFORE, rob, "personal property", 40),
            ("W4", NOW, tftp, "theft from the person", 100),
            ("W4", BEFORE, tftp, "theft from the person", 100),
            ("W4", NOW, burg, "residential", 60),
            ("W4", BEFORE, burg, "residential", 55),
        ]
    )


@pytest.fixture(scope="module")
def found(settings) -> Evidence:
    return borough_evidence(_inputs(_met_like()), settings=settings)


@pytest.fixture(scope="module")
def evidence(found) -> pd.DataFrame:
    return found.table


def _row(evidence: Evidence | pd.DataFrame, borough: str, candidate: str) -> pd.Series:
    evidence = evidence.table if isinstance(evidence, Evidence) else evidence
    found = evidence[(evidence["borough_code"] == borough) & (evidence["candidate"] == candidate)]
    assert len(found) == 1, (borough, candidate)
    return found.iloc[0]


# --- evidence ---------------------------------------------------------------------------------


def test_rate_ratio_is_the_borough_rate_over_the_london_rate(evidence):
    west, camden = _row(evidence, WESTMINSTER, "Robbery"), _row(evidence, CAMDEN, "Robbery")
    # 120 and 40 robberies, 2,000 residents each: 60 and 20 per 1,000; London 160 / 4,000 = 40
    assert west["rate_per_1000"] == pytest.approx(60.0)
    assert camden["rate_per_1000"] == pytest.approx(20.0)
    assert west["london_rate_per_1000"] == camden["london_rate_per_1000"] == pytest.approx(40.0)
    assert (west["rate_ratio"], camden["rate_ratio"]) == pytest.approx((1.5, 0.5))
    assert west["population"] == 2000.0


def test_one_row_per_borough_and_candidate_present_in_the_data(found, evidence):
    assert sorted(evidence["borough_name"].unique()) == ["Camden", "Westminster"]
    assert set(evidence["candidate"]) == {"Robbery", "Theft from the person", "Burglary"}
    assert evidence.groupby("borough_code")["rank"].apply(sorted).tolist() == [[1, 2, 3]] * 2
    assert any("Anti-social behaviour is not a candidate" in n for n in found.notes)
    assert (found.window, found.trend_available) == (WINDOW, True)


def test_a_doubling_is_up_with_the_shrunk_change(evidence):
    west = _row(evidence, WESTMINSTER, "Robbery")
    assert west["direction"] == "up"
    assert west["change"] == pytest.approx((120 + 10) / (60 + 10) - 1)  # shrunk, k = 10
    assert west["p_value"] < 1e-4
    assert "up 86 % on last year" in west["sentence"]


@pytest.mark.parametrize(
    ("now", "before", "why"),
    [(400, 390, "p = 0.75"), (55, 60, "p = 0.7"), (10400, 10000, "p < 0.01 but +4 %")],
    ids=["small-rise", "small-fall", "significant-but-under-min-change"],
)
def test_a_small_change_is_no_clear_change(settings, now, before, why):
    counts = _counts([("W1", NOW, "Shoplifting", "shoplifting", now),
                      ("W1", BEFORE, "Shoplifting", "shoplifting", before),
                      ("W3", NOW, "Shoplifting", "shoplifting", 100)])  # fmt: skip
    row = _row(borough_evidence(_inputs(counts), settings=settings), WESTMINSTER, "Shoplifting")
    assert row["direction"] == "no clear change", why
    assert "no clear change on last year" in row["sentence"]
    assert row["trend_term"] == 0.0


def test_the_sentence_reads_as_the_evidence(evidence):
    west = _row(evidence, WESTMINSTER, "Robbery")
    # harm: 120 x 365 of 120 x 365 + 400 x 2 + 20 x 273.5 days = 87 %
    assert west["sentence"] == (
        "Robbery: 1.5 times the London rate, up 86 % on last year, 87 % of the borough's harm."
    )
    # Camden: 40 x 365 of 40 x 365 + 100 x 2 + 60 x 273.5 days = 47 %
    assert _row(evidence, CAMDEN, "Robbery")["sentence"] == (
        "Robbery: 0.5 times the London rate, no clear change on last year, 47 % of the "
        "borough's harm."
    )
    assert evidence["sentence"].str.match(SENTENCE).all(), evidence["sentence"].tolist()


def test_top_two_are_the_highest_scores(evidence, settings):
    proposed = propose_priorities(evidence)
    assert proposed.groupby("borough_name").size().to_dict() == {"Camden": 2, "Westminster": 2}
    west = proposed[proposed["borough_code"] == WESTMINSTER]
    assert west["candidate"].tolist()[0] == "Robbery" and west["rank"].tolist() == [1, 2]
    ours = evidence[evidence["borough_code"] == WESTMINSTER].sort_values("score", ascending=False)
    assert west["candidate"].tolist() == ours["candidate"].head(2).tolist()
    assert len(propose_priorities(evidence, n=1)) == 2


def test_ties_go_to_config_order_whatever_the_row_order(settings):
    rows = [
        (ward, month, cat, cat.lower(), n)
        for cat in ("Bicycle theft", "Other theft")  # Other theft comes first in the config
        for ward, n in (("W1", 30), ("W3", 10))
        for month in (NOW, BEFORE)
    ]
    counts = _counts(rows)
    first = propose_priorities(borough_evidence(_inputs(counts), settings=settings).table)
    shuffled = counts.sample(frac=1.0, random_state=7).reset_index(drop=True)
    again = propose_priorities(borough_evidence(_inputs(shuffled), settings=settings).table)
    pd.testing.assert_frame_equal(first, again)
    west = first[first["borough_code"] == WESTMINSTER]
    assert west["candidate"].tolist() == ["Other theft", "Bicycle theft"]
    assert west["score"].nunique() == 1


def test_asb_has_no_harm_share(settings):
    rows = [
        ("W1", NOW, s.ASB, "", 300),
        ("W1", BEFORE, s.ASB, "", 200),
        ("W3", NOW, s.ASB, "", 100),
        ("W1", NOW, "Burglary", "", 10),
        ("W3", NOW, "Burglary", "", 10),
    ]
    evidence = borough_evidence(_inputs(_counts(rows)), settings=settings).table
    asb = _row(evidence, WESTMINSTER, "Anti-social behaviour")
    assert np.isnan(asb["harm_share"]) and np.isnan(asb["harm"])
    assert asb["harm_share_text"] == "n/a"
    assert "harm" not in asb["sentence"]
    assert (
        asb["sentence"] == "Anti-social behaviour: 1.5 times the London rate, up 48 % on last year."
    )
    assert np.isnan(asb["harm_term"]) and np.isfinite(asb["score"])
    assert _row(evidence, WESTMINSTER, "Burglary")["harm_share"] == 1.0


def test_without_subcategories_the_whole_category_is_used_and_said(settings):
    rows = [(w, m, "Violence and sexual offences", "", n)
            for w, n in (("W1", 50), ("W3", 50)) for m in (NOW, BEFORE)]  # fmt: skip
    found = borough_evidence(_inputs(_counts(rows)), settings=settings)
    evidence = found.table
    assert set(evidence["candidate"]) == {"Violence and sexual offences"}
    assert (evidence["subcategory"] == "").all()
    assert any("Violence with injury is shown as the whole" in n for n in found.notes)


def test_with_subcategories_only_violence_with_injury_counts(settings):
    vsi = "Violence and sexual offences"
    rows = [("W1", NOW, vsi, "violence with injury", 30), ("W1", NOW, vsi, "rape", 5),
            ("W3", NOW, vsi, "violence without injury", 70)]  # fmt: skip
    evidence = borough_evidence(_inputs(_counts(rows)), settings=settings).table
    row = _row(evidence, WESTMINSTER, "Violence with injury")
    assert row["volume"] == 30 and row["subcategory"] == "violence with injury"
    assert _row(evidence, CAMDEN, "Violence with injury")["volume"] == 0
    assert "none recorded" in _row(evidence, CAMDEN, "Violence with injury")["sentence"]


def test_short_data_says_the_trend_is_not_available(settings):
    rows = [("W1", NOW, "Robbery", "", 10), ("W3", NOW, "Robbery", "", 30)]
    rows += [("W1", "2024-07", "Robbery", "", 4)]
    counts = _counts(rows)
    counts = counts[counts[s.MONTH] >= "2024-07"]  # 18 months, 2024-07 to 2025-12
    found = borough_evidence(_inputs(counts), settings=settings)
    row = _row(found, WESTMINSTER, "Robbery")
    assert row["direction"] == "not available" and np.isnan(row["change"])
    assert (
        "trend not available (the data cover 18 months; a change on last year needs 24)"
        in (row["sentence"])
    )
    assert found.trend_available is False
    assert np.isnan(row["trend_term"]) and np.isfinite(row["score"])


def test_propose_rejects_bad_input(evidence):
    with pytest.raises(ConfigError, match="n must be a whole number >= 1"):
        propose_priorities(evidence, n=0)
    with pytest.raises(DataError, match=r"evidence lacks columns \['sentence'\]"):
        propose_priorities(evidence.drop(columns="sentence"))


def priorities_problems(tmp_path, text: str) -> tuple[str, str]:
    """(priorities.toml's path, load_config's ConfigError) for a config copy with *text*."""
    cdir = config_copy(tmp_path, priorities=text)
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    return str(cdir / "priorities.toml"), str(info.value)


def shipped_priorities_toml() -> str:
    return (CONFIG_DIR / "priorities.toml").read_text(encoding="utf-8")


def test_unknown_settings_key_is_an_error(tmp_path):
    text = shipped_priorities_toml() + "\n[weights]\nrate = 1\n"
    path, error = priorities_problems(tmp_path, text)
    assert (
        f"{path}: unknown key 'weights'; correct its spelling or remove it (keys allowed "
        "here: basket, candidates, n_priorities, score, trend)" in error
    )


def test_unknown_score_key_is_an_error(tmp_path):
    text = shipped_priorities_toml()
    assert "\nrate = 1.0\n" in text
    path, error = priorities_problems(tmp_path, text.replace("\nrate = 1.0\n", "\nrat = 1.0\n"))
    assert f"{path} [score]: unknown key 'rat' (did you mean 'rate'?)" in error
    assert f"{path} [score]: missing key 'rate' (a number); add `rate = ...`" in error


def test_a_candidate_of_no_category_is_an_error(tmp_path):
    text = shipped_priorities_toml() + '\n[[candidates]]\nlabel = "Fraud"\ncategory = "Fraud"\n'
    path, error = priorities_problems(tmp_path, text)
    assert "category 'Fraud' is not one of the 14 categories" in error
    assert f"{path} [candidates" in error


def test_priority_settings_are_nested_and_check_their_ranges(settings):
    assert (settings.n_priorities, settings.trend.alpha, settings.trend.min_change) == (
        2,
        0.05,
        0.05,
    )
    assert settings.trend.prior_count == 10.0
    assert (settings.score.rate, settings.score.trend, settings.score.harm) == (1.0, 1.0, 4.0)
    assert (settings.score.rate_cap, settings.score.trend_cap) == (2.0, 1.0)
    with pytest.raises(ConfigError, match=r"alpha must be in \[0, 1\]"):
        dataclasses.replace(settings.trend, alpha=2.0)
    with pytest.raises(ConfigError, match="score weights and caps must be >= 0"):
        dataclasses.replace(settings.score, harm=-1.0)
    with pytest.raises(ConfigError, match="n_priorities must be a whole number >= 1, found 0"):
        dataclasses.replace(settings, n_priorities=0)
    with pytest.raises(ConfigError, match="candidate labels must be unique"):
        dataclasses.replace(settings, candidates=settings.candidates[:2] * 2)


# --- the high-harm basket -----------------------------------------------------------------------


def _measures() -> pd.DataFrame:
    months = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]
    months = [m for m in months if m <= "2025-07"]  # the dashboard ends before the crime data
    rows = [(w, m, measure, n) for m in months
            for w, measure, n in (("W1", "domestic abuse", 4), ("W3", "domestic abuse", 2),
                                  ("W1", "knife crime", 1), ("W1", "hate crime", 3))]  # fmt: skip
    return pd.DataFrame(rows, columns=list(s.WARD_MEASURES_COLUMNS))


def test_basket_reads_dashboard_measures_and_sexual_offences(settings):
    vsi = "Violence and sexual offences"
    counts = _counts([("W1", NOW, vsi, "rape", 3), ("W1", NOW, vsi, "other sexual offences", 7),
                      ("W3", NOW, vsi, "violence with injury", 9),
                      ("W1", NOW, "Possession of weapons", "possession of weapons", 4)])  # fmt: skip
    found = high_harm_basket(_inputs(counts, measures=_measures()), settings=settings)
    assert isinstance(found, Basket)
    basket = found.table
    west = basket[basket["borough_code"] == WESTMINSTER].set_index("item")
    assert west.loc["Sexual offences", "volume"] == 10
    assert west.loc["Domestic abuse", "volume"] == 48  # 12 months x 4
    assert west.loc["Domestic abuse", "window"] == "2024-08 to 2025-07"
    assert west.loc["Domestic abuse", "rate_ratio"] == pytest.approx(4 / 3)
    assert west.loc["Domestic abuse", "direction"] == "no clear change"
    assert "the dashboard series ends in 2025-07" in west.loc["Domestic abuse", "sentence"]
    assert west.loc["Knife crime", "sentence"].startswith("Knife crime: 12 offences in 2024-08")
    assert not west.loc["Gun crime", "available"]
    assert "not available in this data" in west.loc["Gun crime", "sentence"]
    assert not west.loc["Child sexual exploitation", "available"]
    assert list(west.index) == [b.label for b in settings.basket]
    assert (
        "Domestic abuse, Knife crime, Hate crime: the dashboard series ends in 2025-07"
        in found.notes
    )


def test_basket_never_fabricates_what_police_uk_data_lacks(settings):
    rows = [(w, m, c, "", 5) for w in ("W1", "W3") for m in (NOW, BEFORE)
            for c in ("Violence and sexual offences", "Possession of weapons")]  # fmt: skip
    basket = high_harm_basket(_inputs(_counts(rows), dataset="policeuk"), settings=settings).table
    west = basket[basket["borough_code"] == WESTMINSTER].set_index("item")
    assert west.loc[west["available"]].index.tolist() == ["Possession of weapons"]
    assert west.loc[~west["available"], "volume"].isna().all()
    assert "so sexual offences cannot be isolated" in west.loc["Sexual offences", "note"]
    assert "has no Met dashboard series 'domestic abuse'" in west.loc["Domestic abuse", "note"]


# --- one borough --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Westminster", "WESTMINSTER", "e09000033", "City of Westminster"])
def test_a_borough_is_found_by_name_code_or_alias(config, name):
    result = borough_priorities(_inputs(_met_like()), name, config=config)
    assert isinstance(result, BoroughPriorities)
    assert (result.borough_code, result.borough_name) == (WESTMINSTER, "Westminster")
    assert len(result.proposed) == 2 and set(result.evidence["borough_code"]) == {WESTMINSTER}
    assert set(result.basket["borough_code"]) == {WESTMINSTER} and result.notes


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Westminister", "no borough called 'Westminister'.*did you mean Westminster"),
        ("camdne", "did you mean Camden"),
        ("Narnia", "no borough called 'Narnia' in data set 'tiny'; Use a borough name"),
        ("City of London", r"City of London \(E09000001\) is not among the 2 boroughs"),
    ],
    ids=["misspelt", "transposed", "nothing-close", "known-but-not-in-data"],
)
def test_an_unknown_borough_is_an_error_with_close_matches(config, name, message):
    with pytest.raises(DataError, match=message):
        borough_priorities(_inputs(_met_like()), name, config=config)
    names = pd.Series({WESTMINSTER: "Westminster", CAMDEN: "Camden"})
    with pytest.raises(DataError, match=message):
        match_borough(name, names, config, "tiny")


def test_match_borough_gives_the_code(config):
    names = pd.Series({WESTMINSTER: "Westminster", CAMDEN: "Camden"})
    for query in ("camden", "E09000007", " CAMDEN "):
        assert match_borough(query, names, config, "tiny") == CAMDEN
    assert match_borough("City of Westminster", names, config, "tiny") == WESTMINSTER


# --- real data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def met(met_inputs):
    """The default dataset (met-2022), prepared once per session without the forecast."""
    return met_inputs


@pytest.mark.integration
def test_every_borough_gets_two_proposals_with_evidence(met, settings):
    found = borough_evidence(met, settings=settings)
    evidence = found.table
    assert found.window == met.window and found.trend_available is True
    proposed = propose_priorities(evidence)
    assert evidence["borough_code"].nunique() == 32 and len(evidence) == 32 * 9  # no ASB
    assert (proposed.groupby("borough_code").size() == 2).all() and len(proposed) == 64
    assert proposed["sentence"].str.match(SENTENCE).all()
    assert evidence["sentence"].str.match(SENTENCE).all()
    assert evidence["harm_share"].between(0, 1).all()
    london = evidence.groupby("candidate")["london_rate_per_1000"].nunique()
    assert (london == 1).all()  # one London rate per candidate
    west = proposed[proposed["borough_name"] == "Westminster"]["candidate"]
    assert {"Robbery", "Theft from the person"} & set(west)
    tftp = evidence[(evidence["borough_name"] == "Westminster")
                    & (evidence["candidate"] == "Theft from the person")]  # fmt: skip
    assert tftp["rate_ratio"].iloc[0] > 5  # the West End: many times the London rate


@pytest.mark.integration
def test_the_real_basket_has_domestic_abuse_knife_and_hate_crime(met, settings, real_config):
    found = high_harm_basket(met, settings=settings)
    basket = found.table
    assert basket["borough_code"].nunique() == 32
    for item in ("Domestic abuse", "Knife crime", "Hate crime", "Sexual offences"):
        rows = basket[basket["item"] == item]
        assert rows["available"].all() and (rows["volume"] > 0).all(), item
        assert (rows["window"].str[-7:] <= met.window.end).all()
    cse = basket[basket["item"] == "Child sexual exploitation"]
    assert not cse["available"].any() and cse["volume"].isna().all()
    result = borough_priorities(met, "hackney", config=real_config)
    assert result.borough_name == "Hackney" and len(result.proposed) == 2
    assert len(result.basket) == len(settings.basket)
    evidence = borough_evidence(met, settings=settings)
    again = borough_priorities(
        met, "E09000012", config=real_config, evidence=evidence, basket=found
    )
    pd.testing.assert_frame_equal(again.proposed, result.proposed)
    london = api.evidence(met, real_config)
    pd.testing.assert_frame_equal(london[0].table, evidence.table)
    pd.testing.assert_frame_equal(london[1].table, basket)
    view = api.borough_priorities(met, real_config, "Hackney", london=london)
    pd.testing.assert_frame_equal(view.proposed, result.proposed)
