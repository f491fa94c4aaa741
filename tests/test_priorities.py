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
from planner.cli import show
from planner.config import Candidate, PlannerConfig, PrioritySettings, SpecialWard, load_config
from planner.errors import ConfigError, DataError
from planner.ingest import IngestResult
from planner.ingest.sources.workplace import Workplace, read_workplace, workplace_for
from planner.model.need import NeedInputs
from planner.model.window import Window, month_index, month_label
from planner.plan.basket import Basket, high_harm_basket
from planner.plan.evidence import Evidence, borough_evidence, check_window
from planner.plan.priorities import (
    OUTCOME_COLUMNS,
    PROPOSAL_COLUMNS,
    BoroughPriorities,
    borough_priorities,
    match_borough,
    propose_priorities,
)
from tests.factories import CONFIG_DIR, config_copy, harm_settings

WESTMINSTER, CAMDEN = "E09000033", "E09000007"
WINDOW = Window("2025-01", "2025-12")
NOW, BEFORE = "2025-06", "2024-06"  # one month in the window, one in the previous window
CODES = ("W1", "W2", "W3", "W4")
RATE = (
    r"(\d+(\.\d)? times the London rate|about the London rate|none recorded)"
    r"( counting residents and workers \(\d+\.\d times per resident\))?"
)
SENTENCE = re.compile(
    rf"^[A-Z][\w ,()-]+: {RATE}, "
    r"(up \d+ % on last year|down \d+ % on last year|no clear change on last year)"
    r"(, (\d+ %|under 1 %) of the borough's harm)?"
    r"( \(measured over \d{4}-\d\d to \d{4}-\d\d: the [\w ]+ series ends in \d{4}-\d\d\))?\.$"
)
VSO = "Violence and sexual offences"
DA_VWI = "domestic abuse violence with injury"


@pytest.fixture(scope="module")
def settings(config: PlannerConfig) -> PrioritySettings:
    """The shipped priority settings (config/priorities.toml)."""
    return config.priorities


def _wards(codes: tuple[str, ...] = CODES) -> gpd.GeoDataFrame:
    """Four 1 km square wards: the first two in Westminster, the others in Camden."""
    return gpd.GeoDataFrame(
        {
            s.WARD_NAME: ["One", "Two", "Three", "Four"],
            s.BOROUGH_CODE: [WESTMINSTER, WESTMINSTER, CAMDEN, CAMDEN],
            s.BOROUGH_NAME: ["Westminster", "Westminster", "Camden", "Camden"],
        },
        geometry=[box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(4)],
        index=pd.Index(list(codes), name=s.WARD_CODE),
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


def _inputs(
    counts: pd.DataFrame,
    *,
    measures: pd.DataFrame | None = None,
    dataset="tiny",
    codes: tuple[str, ...] = CODES,
    window: Window = WINDOW,
):
    wards = _wards(codes)
    rename = dict(zip(CODES, codes, strict=True))
    counts = counts.assign(**{s.WARD_CODE: counts[s.WARD_CODE].replace(rename)})
    measures = measures if measures is not None else pd.DataFrame(columns=s.WARD_MEASURES_COLUMNS)
    measures = measures.assign(**{s.WARD_CODE: measures[s.WARD_CODE].replace(rename)})
    data = IngestResult(dataset, counts, measures, pd.DataFrame(), {}, {}, Path("."))
    population = pd.Series(1000.0, index=wards.index, name="population")
    return NeedInputs(
        dataset=dataset,
        ingest=data,
        wards=wards,
        all_wards=wards,
        population=population,
        window=window,
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


def _jobs(westminster: float, camden: float) -> Workplace:
    jobs = pd.Series({WESTMINSTER: westminster, CAMDEN: camden}, name="workday_population")
    return Workplace(jobs, "test jobs (2013)")


@pytest.fixture(scope="module")
def found(settings) -> Evidence:
    return borough_evidence(_inputs(_met_like()), settings=settings)


@pytest.fixture(scope="module")
def evidence(found) -> pd.DataFrame:
    return found.table


def _row(evidence: Evidence | pd.DataFrame, borough: str, candidate: str) -> pd.Series:
    evidence = evidence.table if isinstance(evidence, Evidence) else evidence
    found = evidence[(evidence["borough_code"] == borough) & (evidence["candidate"] == candidate)]
    assert len(found) == 1, (borough, candidate, evidence["candidate"].unique())
    return found.iloc[0]


def _widened(settings: PrioritySettings, *candidates: Candidate) -> PrioritySettings:
    """The shipped menu widened by *candidates* (what a planner does in priorities.toml)."""
    return dataclasses.replace(settings, candidates=settings.candidates + candidates)


# --- evidence ---------------------------------------------------------------------------------


def test_rate_ratio_is_the_borough_rate_over_the_london_rate(evidence):
    west = _row(evidence, WESTMINSTER, "Personal robbery")
    camden = _row(evidence, CAMDEN, "Personal robbery")
    # 120 and 40 robberies, 2,000 residents each: 60 and 20 per 1,000; London 160 / 4,000 = 40
    assert west["rate_per_1000"] == pytest.approx(60.0)
    assert camden["rate_per_1000"] == pytest.approx(20.0)
    assert west["london_rate_per_1000"] == camden["london_rate_per_1000"] == pytest.approx(40.0)
    assert (west["rate_ratio"], camden["rate_ratio"]) == pytest.approx((1.5, 0.5))
    assert west["population"] == 2000.0
    # without workplace figures every borough is rated per resident
    assert not evidence["central"].any() and evidence["footfall_rate_ratio"].isna().all()
    assert (evidence["scored_rate_ratio"] == evidence["rate_ratio"]).all()
    assert (evidence["denominator"] == "residents").all()


def test_one_row_per_borough_and_candidate_present_in_the_data(found, evidence):
    assert sorted(evidence["borough_name"].unique()) == ["Camden", "Westminster"]
    assert set(evidence["candidate"]) == {"Personal robbery", "Theft from the person", "Burglary"}
    assert evidence.groupby("borough_code")["rank"].apply(sorted).tolist() == [[1, 2, 3]] * 2
    for missing in ("Theft from motor vehicles", "Theft of motor vehicles"):
        assert f"{missing} is not a candidate: this data has no 'Vehicle crime' records" in (
            found.notes
        )
    assert any("Violence with injury (not domestic abuse) is not a candidate" in n
               for n in found.notes)  # fmt: skip
    assert (found.window, found.trend_available) == (WINDOW, True)


def test_a_doubling_is_up_with_the_shrunk_change(evidence):
    west = _row(evidence, WESTMINSTER, "Personal robbery")
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
    tftp = "Theft from the person"
    counts = _counts([("W1", NOW, tftp, tftp.lower(), now),
                      ("W1", BEFORE, tftp, tftp.lower(), before),
                      ("W3", NOW, tftp, tftp.lower(), 100)])  # fmt: skip
    row = _row(borough_evidence(_inputs(counts), settings=settings), WESTMINSTER, tftp)
    assert row["direction"] == "no clear change", why
    assert "no clear change on last year" in row["sentence"]
    assert row["trend_factor"] == 1.0


def test_the_sentence_reads_as_the_evidence(evidence):
    west = _row(evidence, WESTMINSTER, "Personal robbery")
    # harm: 120 x 365 of 120 x 365 + 400 x 2 + 20 x 273.5 days = 87 %
    assert west["sentence"] == (
        "Personal robbery: 1.5 times the London rate, up 86 % on last year, 87 % of the "
        "borough's harm."
    )
    # Camden: 40 x 365 of 40 x 365 + 100 x 2 + 60 x 273.5 days = 47 %
    assert _row(evidence, CAMDEN, "Personal robbery")["sentence"] == (
        "Personal robbery: 0.5 times the London rate, no clear change on last year, 47 % of the "
        "borough's harm."
    )
    assert evidence["sentence"].str.match(SENTENCE).all(), evidence["sentence"].tolist()


def test_top_two_are_the_highest_scoring_qualifying_candidates(evidence, settings):
    proposed = propose_priorities(evidence, settings=settings).table
    assert list(proposed.columns) == list(PROPOSAL_COLUMNS)
    assert proposed.groupby("borough_name").size().to_dict() == {"Camden": 2, "Westminster": 2}
    west = proposed[proposed["borough_code"] == WESTMINSTER]
    assert west["candidate"].tolist()[0] == "Personal robbery" and west["rank"].tolist() == [1, 2]
    ours = evidence[(evidence["borough_code"] == WESTMINSTER) & evidence["qualifies"]]
    ours = ours.sort_values("score", ascending=False)
    assert west["candidate"].tolist() == ours["candidate"].head(2).tolist()
    # theft from the person carries 2 % of Westminster's harm: never proposed, however common
    assert "Theft from the person" not in set(proposed["candidate"])
    one = dataclasses.replace(settings, n_priorities=1)
    assert len(propose_priorities(evidence, settings=one).table) == 2


def test_ties_go_to_config_order_whatever_the_row_order(settings):
    rows = [
        (ward, month, "Vehicle crime", sub, n)
        # theft from motor vehicles comes first in the config
        for sub in ("theft or taking of a vehicle", "theft from a vehicle")
        for ward, n in (("W1", 30), ("W3", 10))
        for month in (NOW, BEFORE)
    ]
    counts = _counts(rows)
    first = propose_priorities(
        borough_evidence(_inputs(counts), settings=settings).table, settings=settings
    ).table
    shuffled = counts.sample(frac=1.0, random_state=7).reset_index(drop=True)
    again = propose_priorities(
        borough_evidence(_inputs(shuffled), settings=settings).table, settings=settings
    ).table
    pd.testing.assert_frame_equal(first, again)
    west = first[first["borough_code"] == WESTMINSTER]
    assert west["candidate"].tolist() == ["Theft from motor vehicles", "Theft of motor vehicles"]
    assert west["score"].nunique() == 1


def test_asb_has_no_harm_share_and_is_never_proposed(settings):
    rows = [
        ("W1", NOW, s.ASB, "", 300),
        ("W1", BEFORE, s.ASB, "", 200),
        ("W3", NOW, s.ASB, "", 100),
        ("W1", NOW, "Burglary", "", 10),
        ("W3", NOW, "Burglary", "", 10),
    ]
    wide = _widened(settings, Candidate("Anti-social behaviour", "Anti-social behaviour"))
    evidence = borough_evidence(_inputs(_counts(rows)), settings=wide).table
    asb = _row(evidence, WESTMINSTER, "Anti-social behaviour")
    assert np.isnan(asb["harm_share"]) and np.isnan(asb["harm"])
    assert asb["harm_share_text"] == "n/a"
    assert "harm" not in asb["sentence"]
    assert (
        asb["sentence"] == "Anti-social behaviour: 1.5 times the London rate, up 48 % on last year."
    )
    assert np.isnan(asb["score"]) and not asb["qualifies"]
    assert "ASB is a London-wide priority" in asb["status"]
    assert _row(evidence, WESTMINSTER, "Burglary")["harm_share"] == 1.0
    proposed = propose_priorities(evidence, settings=wide).table
    assert proposed["candidate"].tolist() == ["Burglary", "Burglary"]  # one per borough


def test_without_subcategories_the_whole_category_is_used_and_said(settings):
    rows = [(w, m, "Violence and sexual offences", "", n)
            for w, n in (("W1", 50), ("W3", 50)) for m in (NOW, BEFORE)]  # fmt: skip
    found = borough_evidence(_inputs(_counts(rows)), settings=settings)
    evidence = found.table
    label = "Violence and sexual offences (whole category, domestic abuse included)"
    assert set(evidence["candidate"]) == {label}
    assert (evidence["subcategory"] == "").all()
    assert any(
        n.startswith(f"Violence with injury (not domestic abuse) is shown as {label}")
        for n in found.notes
    )


def test_whole_category_fallbacks_appear_once(settings):
    rows = [(w, m, "Vehicle crime", "", 9) for w in ("W1", "W3") for m in (NOW, BEFORE)]
    found = borough_evidence(_inputs(_counts(rows)), settings=settings)
    assert set(found.table["candidate"]) == {"Vehicle crime (whole category)"}
    assert len(found.table) == 2  # one row per borough, not two
    assert (
        "Theft of motor vehicles is measured with Vehicle crime (whole category): this data "
        "does not split 'Vehicle crime' into subcategories" in found.notes
    )


def test_with_subcategories_only_violence_with_injury_counts(settings):
    rows = [("W1", NOW, VSO, "violence with injury", 30), ("W1", NOW, VSO, "rape", 5),
            ("W3", NOW, VSO, "violence without injury", 70)]  # fmt: skip
    found = borough_evidence(_inputs(_counts(rows)), settings=settings)
    evidence = found.table
    label = "Violence with injury (domestic abuse included)"  # no dashboard series to subtract
    row = _row(evidence, WESTMINSTER, label)
    assert row["volume"] == 30 and row["subcategory"] == "violence with injury"
    assert row["excluded_measure"] == ""
    assert _row(evidence, CAMDEN, label)["volume"] == 0
    assert "none recorded" in _row(evidence, CAMDEN, label)["sentence"]
    assert any(f"{label} is measured instead of Violence with injury (not domestic abuse)" in n
               and "has no Met dashboard series" in n for n in found.notes)  # fmt: skip


def _da_measures(last: str = "2025-12", count: int = 1) -> pd.DataFrame:
    months = [month_label(m) for m in range(month_index("2024-01"), month_index(last) + 1)]
    rows = [(w, m, DA_VWI, count) for m in months for w in ("W1", "W3")]
    return pd.DataFrame(rows, columns=list(s.WARD_MEASURES_COLUMNS))


def _vwi_counts() -> pd.DataFrame:
    months = [month_label(m) for m in range(month_index("2024-01"), month_index("2025-12") + 1)]
    rows = [(w, m, VSO, "violence with injury", n) for m in months
            for w, n in (("W1", 5), ("W3", 3))]  # fmt: skip
    rows += [(w, m, "Burglary", "residential", 2) for m in months for w in ("W1", "W3")]
    return _counts(rows)


def test_domestic_abuse_is_subtracted_from_violence_with_injury(settings):
    found = borough_evidence(_inputs(_vwi_counts(), measures=_da_measures()), settings=settings)
    west = _row(found, WESTMINSTER, "Violence with injury (not domestic abuse)")
    # 12 months x (5 - 1) offences; harm 48 x 365 of all crime, 60 x 365 + 24 x 273.5 days
    assert west["volume"] == 48 and west["volume_prior"] == 48
    assert west["excluded_measure"] == DA_VWI and west["window"] == WINDOW.label
    assert west["harm_share"] == pytest.approx(48 * 365 / (60 * 365 + 24 * 273.5))
    camden = _row(found, CAMDEN, "Violence with injury (not domestic abuse)")
    assert camden["volume"] == 24  # 12 x (3 - 1)
    assert any("violence with injury less the Met dashboard's domestic abuse violence with "
               "injury series, month by month over 2025-01 to 2025-12" in n
               for n in found.notes)  # fmt: skip


def test_a_series_ending_early_moves_the_candidate_window_and_says_so(settings):
    inputs = _inputs(_vwi_counts(), measures=_da_measures(last="2025-09"))
    found = borough_evidence(inputs, settings=settings)
    west = _row(found, WESTMINSTER, "Violence with injury (not domestic abuse)")
    assert west["window"] == "2024-10 to 2025-09"
    assert west["volume"] == 48
    assert west["direction"] == "not available"  # the series has no 12 months before 2024-10
    assert west["sentence"].endswith(
        "(measured over 2024-10 to 2025-09: the domestic abuse violence with injury series ends "
        "in 2025-09)."
    )
    assert (
        "the domestic abuse violence with injury series covers 2024-01 to 2025-09"
        in (west["sentence"])
    )
    assert _row(found, WESTMINSTER, "Burglary")["window"] == WINDOW.label
    # a series that holds no window overlapping this one is not used at all
    old = borough_evidence(
        _inputs(_vwi_counts(), measures=_da_measures(last="2024-06")), settings=settings
    )
    assert "Violence with injury (domestic abuse included)" in set(old.table["candidate"])


def test_short_data_says_the_trend_is_not_available(settings):
    rows = [("W1", NOW, "Robbery", "", 10), ("W3", NOW, "Robbery", "", 30)]
    rows += [("W1", "2024-07", "Robbery", "", 4)]
    counts = _counts(rows)
    counts = counts[counts[s.MONTH] >= "2024-07"]  # 18 months, 2024-07 to 2025-12
    found = borough_evidence(_inputs(counts), settings=settings)
    row = _row(found, WESTMINSTER, "Robbery (personal and business)")
    assert row["direction"] == "not available" and np.isnan(row["change"])
    assert (
        "trend not available (the data cover 18 months; a change on last year needs 24)"
        in (row["sentence"])
    )
    assert found.trend_available is False
    assert row["trend_factor"] == 1.0 and np.isfinite(row["score"])


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (Window("2023-03", "2024-02"), r"need ward counts from 2022-03 to 2024-02 \(the window "
         r"and the 12 months before it, which the trend compares\), but data set 'tiny' covers "
         r"2024-01 to 2025-12; choose a window end from 2025-12 to 2025-12"),
        (Window("2025-02", "2026-01"), r"covers 2024-01 to 2025-12; choose a window end from "
         "2025-12 to 2025-12"),
        (Window("2024-07", "2025-06"), r"need ward counts from 2023-07 to 2025-06"),
    ],
    ids=["before-the-data", "after-the-data", "no-previous-window"],
)  # fmt: skip
def test_a_window_the_data_cannot_support_is_an_error(settings, window, message):
    with pytest.raises(DataError, match=message):
        borough_evidence(_inputs(_met_like(), window=window), settings=settings)


def test_check_window_without_two_windows_of_data():
    assert check_window(Window("2024-07", "2025-06"), ("2024-01", "2025-06"), "d") is False
    assert check_window(Window("2024-07", "2025-06"), ("2023-07", "2025-06"), "d") is True
    with pytest.raises(DataError, match="need ward counts from 2024-01 to 2024-12 \\(the window"):
        check_window(Window("2024-01", "2024-12"), ("2024-03", "2025-06"), "d")
    with pytest.raises(DataError, match="has no ward counts"):
        check_window(WINDOW, None, "d")


# --- the score and the footfall-aware rate (hand-made frames) --------------------------------


def test_score_is_harm_share_times_the_clipped_rate_ratio(settings):
    rob, burg = "Robbery", "Burglary"
    # Westminster: 400 robberies (London rate 100 per 1,000 -> 2 x 2.5 = cap at 2); 10 burglaries
    counts = _counts([("W1", NOW, rob, "personal property", 400), ("W1", NOW, burg, "", 10),
                      ("W3", NOW, burg, "", 300), ("W3", NOW, rob, "personal property", 2)])  # fmt: skip
    evidence = borough_evidence(_inputs(counts), settings=settings).table
    sc = settings.score
    for row in evidence.itertuples():
        expected = row.harm_share * min(max(row.rate_ratio, sc.rate_floor), sc.rate_cap)
        assert row.score == pytest.approx(expected), row.candidate
        assert row.rate_factor == pytest.approx(
            min(max(row.rate_ratio, sc.rate_floor), sc.rate_cap)
        )
    west_rob = _row(evidence, WESTMINSTER, "Personal robbery")
    assert west_rob["rate_ratio"] == pytest.approx(400 / 2000 / (402 / 4000))  # 1.99
    camden_rob = _row(evidence, CAMDEN, "Personal robbery")
    assert camden_rob["rate_factor"] == sc.rate_floor  # 0.01 times the London rate
    harm = 400 * 365 / (400 * 365 + 10 * 244.68)  # burglary without subcategory: 244.68 days
    assert west_rob["harm_share"] == pytest.approx(harm)
    # a clear trend moves the score only where [score] trend > 0: 2 ** (trend x log2 change)
    on = dataclasses.replace(settings, score=dataclasses.replace(sc, trend=1.0))
    doubled = _counts([("W1", NOW, rob, "personal property", 400),
                       ("W1", BEFORE, rob, "personal property", 100),
                       ("W3", NOW, rob, "personal property", 400),
                       ("W3", BEFORE, rob, "personal property", 400)])  # fmt: skip
    west = _row(borough_evidence(_inputs(doubled), settings=on), WESTMINSTER, "Personal robbery")
    assert west["trend_factor"] == pytest.approx(2.0)  # +290 %, capped at one doubling
    assert west["score"] == pytest.approx(1.0 * 1.0 * 2.0)


def test_footfall_aware_rate_counts_residents_and_workers_in_central_boroughs(settings):
    # Westminster: 2,000 residents and 6,000 jobs (3 per resident: central); Camden 2,000 and 500
    found = borough_evidence(_inputs(_met_like()), settings=settings, workplace=_jobs(6000, 500))
    west = _row(found, WESTMINSTER, "Personal robbery")
    camden = _row(found, CAMDEN, "Personal robbery")
    london = 160 / (4000 + 6500) * 1000  # every borough's robberies over residents + jobs
    assert west["central"] and west["denominator"] == "residents and workday population"
    assert west["workday_population"] == 6000
    assert west["footfall_rate_per_1000"] == pytest.approx(120 / 8000 * 1000)
    assert west["london_footfall_rate_per_1000"] == pytest.approx(london)
    assert west["footfall_rate_ratio"] == pytest.approx(120 / 8000 * 1000 / london)
    assert west["scored_rate_ratio"] == west["footfall_rate_ratio"]
    assert west["rate_ratio"] == pytest.approx(1.5)  # the resident rate, shown beside
    assert "counting residents and workers (1.5 times per resident)" in west["sentence"]
    assert not camden["central"] and np.isnan(camden["footfall_rate_ratio"])
    assert camden["scored_rate_ratio"] == camden["rate_ratio"]
    assert any("central boroughs (Westminster: at least 0.75 jobs per resident)" in n
               for n in found.notes)  # fmt: skip
    # a configured list makes a borough central whatever its ratio
    listed = dataclasses.replace(
        settings, footfall=dataclasses.replace(settings.footfall, central_boroughs=(CAMDEN,))
    )
    again = borough_evidence(_inputs(_met_like()), settings=listed, workplace=_jobs(6000, 500))
    assert _row(again, CAMDEN, "Personal robbery")["central"]
    missing = borough_evidence(
        _inputs(_met_like()), settings=settings, workplace=Workplace.missing("file not found")
    )
    assert any("rates per 1,000 residents in every borough (footfall-aware rates: file not found)"
               in n for n in missing.notes)  # fmt: skip


def test_read_workplace_reads_borough_rows(tmp_path):
    path = tmp_path / "profiles.csv"
    path.write_bytes(
        "Ward name,Old code,New code,Number of jobs in area - 2013\n"
        'City of London,00AA,E09000001,"392,400"\n'
        'Bromley T\xf6wn,00AFGA,E05000109,"9,500"\n'  # a ward row (latin1 text): not read
        'City of London,00AA,E09000001,"392,400"\n'
        'Westminster,00BK,E09000033,"693,100"\n'
        "Source:,,,GLA\n".encode("latin1")
    )
    found = read_workplace(path, code_column="New code",
                           jobs_column="Number of jobs in area - 2013", encoding="latin1",
                           year=2013)  # fmt: skip
    assert found.jobs.to_dict() == {"E09000001": 392400.0, "E09000033": 693100.0}
    assert found.jobs.name == "workday_population" and "2013" in found.source
    with pytest.raises(DataError, match=r"column\(s\) \['jobs'\] not found"):
        read_workplace(path, code_column="New code", jobs_column="jobs", encoding="latin1",
                       year=2013)  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("code,jobs\nE09000033,many\nE09000007,5\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lines \[2\]: 'jobs' is not a positive number"):
        read_workplace(bad, code_column="code", jobs_column="jobs", encoding="utf-8", year=1)
    with pytest.raises(DataError, match="not found; run `planner fetch` \\(source ward_profiles"):
        read_workplace(tmp_path / "none.csv", code_column="c", jobs_column="j", encoding="utf-8",
                       year=1)  # fmt: skip


def test_workplace_for_a_missing_file_is_a_note_not_an_error(config):
    empty = config.with_data_dir(Path("/nonexistent-data"))
    found = workplace_for(empty)
    assert found.jobs.empty and "not found" in found.note


# --- proposals: minimum harm share, fewer than two, near-ties ---------------------------------


def test_no_proposal_below_the_minimum_harm_share_and_the_shortfall_is_said(settings):
    # Westminster: burglary carries nearly all the harm; robbery 40 x 365 of ... is 4 %
    counts = _counts([("W1", NOW, "Burglary", "residential", 1300),
                      ("W1", NOW, "Robbery", "personal property", 40),
                      ("W1", NOW, "Theft from the person", "theft from the person", 900),
                      ("W3", NOW, "Burglary", "residential", 100),
                      ("W3", NOW, "Robbery", "personal property", 100)])  # fmt: skip
    inputs = _inputs(counts)
    evidence = borough_evidence(inputs, settings=settings).table
    found = propose_priorities(evidence, settings=settings)
    assert (found.table["harm_share"] >= settings.min_harm_share).all()
    west = found.table[found.table["borough_code"] == WESTMINSTER]
    assert west["candidate"].tolist() == ["Burglary"]
    assert west["why"].iloc[0].endswith("; no other candidate qualifies.")
    outcome = found.boroughs.set_index("borough_code")
    assert list(found.boroughs.columns) == list(OUTCOME_COLUMNS)
    assert outcome.loc[WESTMINSTER, "n_proposed"] == 1
    assert outcome.loc[WESTMINSTER, "shortfall"].startswith(
        "Only 1 local priority is proposed, not 2: only Burglary carries at least 5 % of the "
        "borough's crime harm, the minimum for a local priority (the others: Personal robbery "
        "4 %, Theft from the person under 1 %)."
    )
    assert outcome.loc[CAMDEN, "shortfall"] == "" and outcome.loc[CAMDEN, "n_proposed"] == 2
    view = borough_priorities(inputs, "Westminster", config=_config_with(settings))
    assert view.shortfall == outcome.loc[WESTMINSTER, "shortfall"]
    none = dataclasses.replace(settings, min_harm_share=0.99)
    nothing = propose_priorities(borough_evidence(inputs, settings=none).table, settings=none)
    assert nothing.table.empty
    text = nothing.boroughs.set_index("borough_code").loc[WESTMINSTER, "shortfall"]
    assert text.startswith("No local priority is proposed: no candidate carries at least 99 % "
                           "of the borough's crime harm")  # fmt: skip


def _config_with(settings: PrioritySettings, **allocation) -> PlannerConfig:
    from tests.factories import shipped_config

    config = shipped_config()
    return dataclasses.replace(
        config,
        priorities=settings,
        allocation=dataclasses.replace(config.allocation, **allocation),
    )


def _hand_made(scores: dict[str, list[tuple[str, float, float]]]) -> pd.DataFrame:
    """An evidence table from {borough: [(candidate, harm share, score), ...]} in rank order."""
    rows = []
    for borough, cands in scores.items():
        for rank, (cand, share, score) in enumerate(cands, start=1):
            rows.append({
                "borough_code": borough, "borough_name": borough, "candidate": cand,
                "rank": rank, "score": score, "qualifies": share >= 0.05, "harm_share": share,
                "harm_share_text": f"{share * 100:.0f} %", "rate_ratio": score / share,
                "footfall_rate_ratio": np.nan, "scored_rate_ratio": score / share,
                "denominator": "residents", "sentence": f"{cand}: evidence.",
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_near_ties_at_the_boundary_are_flagged_with_both_candidates(settings):
    table = _hand_made({
        "A": [("Robbery", 0.2, 0.30), ("Burglary", 0.2, 0.20), ("Violence", 0.2, 0.19)],
        "B": [("Robbery", 0.2, 0.30), ("Burglary", 0.2, 0.29), ("Violence", 0.2, 0.10)],
        "C": [("Robbery", 0.2, 0.30), ("Burglary", 0.2, 0.20), ("Theft", 0.01, 0.199)],
    })  # fmt: skip
    found = propose_priorities(table, settings=settings)
    t = found.table.set_index(["borough_code", "rank"])
    assert t.loc[("A", 2), "near_tie"] and t.loc[("A", 2), "next_candidate"] == "Violence"
    assert t.loc[("A", 2), "margin"] == pytest.approx(0.05)
    assert "a near tie with Violence (0.190), 5 % behind (under 10 %)" in t.loc[("A", 2), "why"]
    # rank 1 and 2 within 3 %: both are proposed anyway, so no flag, but the margin is shown
    assert not t.loc[("B", 1), "near_tie"] and t.loc[("B", 1), "margin"] == pytest.approx(1 / 30)
    assert not t.loc[("B", 2), "near_tie"]
    # a close score below the minimum harm share is not a defensible alternative
    assert not t.loc[("C", 2), "near_tie"] and t.loc[("C", 2), "next_candidate"] == ""
    outcome = found.boroughs.set_index("borough_code")
    assert outcome["near_tie"].to_dict() == {"A": True, "B": False, "C": False}
    assert outcome.loc["A", "near_tie_text"] == (
        "Near tie for the second priority: Burglary (score 0.200) and Violence (score 0.190) are "
        "5 % apart, under the 10 % margin: both are defensible, and the choice is the borough's."
    )


def test_the_cli_says_why_fewer_the_near_tie_and_what_was_left_out(settings, capsys):
    counts = _counts([("W1", NOW, "Burglary", "residential", 1300),
                      ("W1", NOW, "Robbery", "personal property", 40),
                      ("W3", NOW, "Burglary", "residential", 100)])  # fmt: skip
    view = borough_priorities(_inputs(counts), "Westminster", config=_config_with(settings))
    view = dataclasses.replace(
        view, near_tie="Near tie for the first priority: A and B.", left_out=["X left out: why"]
    )
    show.priorities(view, 2026, None)
    out = capsys.readouterr().out
    assert "fewer proposed: Only 1 local priority is proposed, not 2" in out
    assert "near tie: Near tie for the first priority: A and B." in out
    assert "left out: X left out: why" in out
    assert "why: Proposed first: 96 % of the borough's harm (minimum 5 %)" in out  # 1,300 x 273.5


def test_propose_rejects_bad_input(evidence, settings):
    with pytest.raises(ConfigError, match="n_priorities must be a whole number >= 1, found 0"):
        propose_priorities(evidence, settings=dataclasses.replace(settings, n_priorities=0))
    with pytest.raises(DataError, match=r"evidence lacks columns \['sentence'\]"):
        propose_priorities(evidence.drop(columns="sentence"), settings=settings)


# --- special wards -----------------------------------------------------------------------------


E05 = ("E05000001", "E05000002", "E05000003", "E05000004")


def test_special_wards_are_left_out_of_their_borough_and_london(settings):
    heathrow = SpecialWard("E05000002", "Two", "the airport, policed by Aviation Security")
    inputs = _inputs(_met_like(), codes=E05, measures=_measures())
    found = borough_evidence(inputs, settings=settings, special=[heathrow])
    west = _row(found, WESTMINSTER, "Burglary")  # all 20 burglaries were in ward Two
    assert west["volume"] == 0 and west["population"] == 1000
    assert west["london_rate_per_1000"] == pytest.approx(60 / 3000 * 1000)
    assert found.borough_notes == {
        WESTMINSTER: ["Two left out: the airport, policed by Aviation Security"]
    }
    assert any("special wards left out" in n and "Two (Westminster)" in n for n in found.notes)
    kept = dataclasses.replace(heathrow, in_priority_evidence=True)
    again = borough_evidence(inputs, settings=settings, special=[kept])
    assert _row(again, WESTMINSTER, "Burglary")["volume"] == 20 and not again.borough_notes
    other = SpecialWard("E05999999", "Elsewhere", "another ward vintage")  # not in the data
    ignored = borough_evidence(inputs, settings=settings, special=[other])
    pd.testing.assert_frame_equal(ignored.table, borough_evidence(inputs, settings=settings).table)
    basket = high_harm_basket(inputs, settings=settings, special=[heathrow]).table
    all_in = high_harm_basket(inputs, settings=settings).table
    assert basket["volume"].sum() <= all_in["volume"].sum()
    view = borough_priorities(
        inputs, "Westminster", config=_config_with(settings, special=(heathrow,))
    )
    assert view.left_out == ["Two left out: the airport, policed by Aviation Security"]
    assert view.notes[0] == view.left_out[0]


# --- configuration -----------------------------------------------------------------------------


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
        "here: area, basket, candidates, footfall, min_harm_share, n_priorities, near_tie_margin, "
        "score, trend)" in error
    )


def test_unknown_score_key_is_an_error(tmp_path):
    text = shipped_priorities_toml()
    assert "\nrate_floor = 0.5\n" in text
    path, error = priorities_problems(
        tmp_path, text.replace("\nrate_floor = 0.5\n", "\nrate_flor = 0.5\n")
    )
    assert f"{path} [score]: unknown key 'rate_flor' (did you mean 'rate_floor'?)" in error
    assert f"{path} [score]: missing key 'rate_floor' (a number); add `rate_floor = ...`" in error


def test_a_candidate_of_no_category_is_an_error(tmp_path):
    text = shipped_priorities_toml() + '\n[[candidates]]\nlabel = "Fraud"\ncategory = "Fraud"\n'
    path, error = priorities_problems(tmp_path, text)
    assert "category 'Fraud' is not one of the 14 categories" in error
    assert f"{path} [candidates" in error


def test_the_menu_can_be_widened_in_the_file(tmp_path):
    extra = '\n[[candidates]]\nlabel = "Shoplifting"\ncategory = "Shoplifting"\n'
    config = load_config(config_copy(tmp_path, priorities=shipped_priorities_toml() + extra))
    assert [c.label for c in config.priorities.candidates][-1] == "Shoplifting"


def test_priority_settings_are_nested_and_check_their_ranges(settings):
    assert (settings.n_priorities, settings.trend.alpha, settings.trend.min_change) == (
        2,
        0.05,
        0.05,
    )
    assert (settings.min_harm_share, settings.near_tie_margin) == (0.05, 0.10)
    assert settings.trend.prior_count == 10.0
    assert (settings.score.rate_floor, settings.score.rate_cap) == (0.5, 2.0)
    assert (settings.score.trend, settings.score.trend_cap) == (0.0, 1.0)
    assert settings.footfall.central_jobs_per_resident == 0.75
    assert [c.label for c in settings.candidates] == [
        "Violence with injury (not domestic abuse)", "Personal robbery", "Burglary",
        "Theft from the person", "Theft from motor vehicles", "Theft of motor vehicles",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match=r"alpha must be in \[0, 1\]"):
        dataclasses.replace(settings.trend, alpha=2.0)
    with pytest.raises(ConfigError, match="rate_floor must be above 0 and at most rate_cap"):
        dataclasses.replace(settings.score, rate_floor=3.0)
    with pytest.raises(ConfigError, match="trend and trend_cap must be >= 0"):
        dataclasses.replace(settings.score, trend=-1.0)
    with pytest.raises(ConfigError, match="n_priorities must be a whole number >= 1, found 0"):
        dataclasses.replace(settings, n_priorities=0)
    with pytest.raises(ConfigError, match=r"min_harm_share must be in \[0, 1\), found 1.5"):
        dataclasses.replace(settings, min_harm_share=1.5)
    with pytest.raises(ConfigError, match=r"near_tie_margin must be in \[0, 1\)"):
        dataclasses.replace(settings, near_tie_margin=-0.1)
    with pytest.raises(ConfigError, match="candidate labels must be unique"):
        dataclasses.replace(settings, candidates=settings.candidates[:2] * 2)
    with pytest.raises(ConfigError, match="exclude_measure needs a subcategory"):
        Candidate("X", "Robbery", exclude_measure="domestic abuse")
    with pytest.raises(ConfigError, match="central_boroughs must be borough codes"):
        dataclasses.replace(settings.footfall, central_boroughs=("Camden",))


# --- the high-harm basket -----------------------------------------------------------------------


def _measures() -> pd.DataFrame:
    months = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]
    months = [m for m in months if m <= "2025-07"]  # the dashboard ends before the crime data
    rows = [(w, m, measure, n) for m in months
            for w, measure, n in (("W1", "domestic abuse", 4), ("W3", "domestic abuse", 2),
                                  ("W1", "knife crime", 1), ("W1", "hate crime", 3))]  # fmt: skip
    return pd.DataFrame(rows, columns=list(s.WARD_MEASURES_COLUMNS))


def test_basket_reads_dashboard_measures_and_sexual_offences(settings):
    counts = _counts([("W1", NOW, VSO, "rape", 3), ("W1", NOW, VSO, "other sexual offences", 7),
                      ("W3", NOW, VSO, "violence with injury", 9),
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


def test_basket_says_not_available_before_a_dashboard_series_starts(settings):
    measures = _measures()
    measures = measures[measures[s.MONTH] >= "2025-03"]  # starts after the window starts
    basket = high_harm_basket(_inputs(_met_like(), measures=measures), settings=settings).table
    west = basket[basket["borough_code"] == WESTMINSTER].set_index("item")
    assert not west.loc["Domestic abuse", "available"]
    assert np.isnan(west.loc["Domestic abuse", "volume"])  # never a zero it did not measure
    assert (
        "holds no 12-month window overlapping 2025-01 to 2025-12"
        in (west.loc["Domestic abuse", "note"])
    )


# --- one borough --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Westminster", "WESTMINSTER", "e09000033", "City of Westminster"])
def test_a_borough_is_found_by_name_code_or_alias(config, name):
    result = borough_priorities(_inputs(_met_like()), name, config=config)
    assert isinstance(result, BoroughPriorities)
    assert (result.borough_code, result.borough_name) == (WESTMINSTER, "Westminster")
    assert len(result.proposed) == 2 and set(result.evidence["borough_code"]) == {WESTMINSTER}
    assert set(result.basket["borough_code"]) == {WESTMINSTER} and result.notes
    assert result.evidence["proposed"].sum() == 2 and result.shortfall == ""


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


@pytest.fixture(scope="module")
def met_london(met, real_config) -> tuple[Evidence, Basket]:
    return api.evidence(met, real_config)


@pytest.mark.integration
def test_every_borough_gets_proposals_that_carry_real_harm(met, met_london, real_config):
    settings = real_config.priorities
    found = met_london[0]
    evidence = found.table
    assert found.window == met.window and found.trend_available is True
    proposals = propose_priorities(evidence, settings=settings)
    proposed = proposals.table
    assert evidence["borough_code"].nunique() == 32 and len(evidence) == 32 * 6  # the menu
    assert (proposed.groupby("borough_code").size() <= 2).all()
    assert (proposals.boroughs["n_proposed"] <= 2).all() and len(proposals.boroughs) == 32
    # no proposal below the minimum harm share; fewer than two only where fewer qualify
    assert (proposed["harm_share"] >= settings.min_harm_share).all()
    short = proposals.boroughs[proposals.boroughs["n_proposed"] < 2]
    assert (short["n_qualifying"] == short["n_proposed"]).all()
    assert (short["shortfall"] != "").all()
    assert proposed["sentence"].str.match(SENTENCE).all(), proposed["sentence"].tolist()
    assert evidence["sentence"].str.match(SENTENCE).all()
    assert evidence["harm_share"].between(0, 1).all()
    london = evidence.groupby("candidate")["london_rate_per_1000"].nunique()
    assert (london == 1).all()  # one London rate per candidate
    assert "Violence with injury (not domestic abuse)" in set(evidence["candidate"])
    west = proposed[proposed["borough_name"] == "Westminster"]["candidate"]
    assert "Personal robbery" in set(west)
    tftp = evidence[(evidence["borough_name"] == "Westminster")
                    & (evidence["candidate"] == "Theft from the person")].iloc[0]  # fmt: skip
    assert tftp["rate_ratio"] > 5  # the West End: many times the London rate per resident ...
    assert tftp["central"] and tftp["footfall_rate_ratio"] < tftp["rate_ratio"] / 2  # ... less
    assert not tftp["qualifies"]  # ... and under 1 % of Westminster's harm


@pytest.mark.integration
def test_every_near_tie_on_the_default_data_is_flagged(met_london, real_config):
    settings = real_config.priorities
    evidence = met_london[0].table
    proposed = propose_priorities(evidence, settings=settings).table
    n, margin = settings.n_priorities, settings.near_tie_margin
    expected = {}
    for code, mine in evidence.groupby("borough_code"):  # recomputed from the scores alone
        ok = mine[mine["harm_share"] >= settings.min_harm_share].sort_values(
            "score", ascending=False, kind="mergesort"
        )
        if len(ok) > n:
            last, nxt = ok["score"].iloc[n - 1], ok["score"].iloc[n]
            expected[code] = bool((last - nxt) / last < margin)
        else:
            expected[code] = False
    flagged = proposed.groupby("borough_code")["near_tie"].any().to_dict()
    assert flagged == expected
    ties = proposed[proposed["near_tie"]]
    assert (ties["why"].str.contains("a near tie with") & ties["next_candidate"].ne("")).all()


@pytest.mark.integration
def test_heathrow_villages_is_absent_from_hillingdons_evidence(met, met_london, real_config):
    heathrow = "E05013570"
    assert heathrow in met.wards.index and real_config.allocation.special[0].code == heathrow
    evidence = met_london[0].table
    hillingdon = met.wards.loc[heathrow, s.BOROUGH_CODE]
    counts = met.ingest.ward_counts
    in_window = counts[counts[s.MONTH].astype(str).isin(met.window.months)]
    in_window = in_window[in_window[s.CATEGORY] == "Burglary"]
    wards = met.wards.index[met.wards[s.BOROUGH_CODE] == hillingdon]
    others = in_window[in_window[s.WARD_CODE].isin(wards.drop(heathrow))]["count"].sum()
    airport = in_window[in_window[s.WARD_CODE] == heathrow]["count"].sum()
    row = _row(evidence, hillingdon, "Burglary")
    assert airport > 0 and row["volume"] == others  # recomputed without the airport ward
    population = met.population.reindex(wards.drop(heathrow)).sum()
    assert row["population"] == pytest.approx(population)
    view = api.borough_priorities(met, real_config, "Hillingdon", london=met_london)
    assert view.left_out and view.left_out[0].startswith("Heathrow Villages left out: Heathrow")
    basket = met_london[1].table
    da = basket[(basket["borough_code"] == hillingdon) & (basket["item"] == "Domestic abuse")]
    measures = met.ingest.measures
    window = Window(*da["window"].iloc[0].split(" to "))
    mine = measures[measures[s.MONTH].astype(str).isin(window.months)
                    & (measures[s.MEASURE] == "domestic abuse")
                    & measures[s.WARD_CODE].isin(wards.drop(heathrow))]  # fmt: skip
    assert da["volume"].iloc[0] == mine["count"].sum()


@pytest.mark.integration
def test_the_real_basket_has_domestic_abuse_knife_and_hate_crime(met, met_london, real_config):
    settings = real_config.priorities
    found = met_london[1]
    basket = found.table
    assert basket["borough_code"].nunique() == 32
    for item in ("Domestic abuse", "Domestic abuse violence with injury", "Knife crime",
                 "Hate crime", "Sexual offences"):  # fmt: skip
        rows = basket[basket["item"] == item]
        assert rows["available"].all() and (rows["volume"] > 0).all(), item
        assert (rows["window"].str[-7:] <= met.window.end).all()
    cse = basket[basket["item"] == "Child sexual exploitation"]
    assert not cse["available"].any() and cse["volume"].isna().all()
    result = borough_priorities(met, "hackney", config=real_config)
    assert result.borough_name == "Hackney" and 1 <= len(result.proposed) <= 2
    assert len(result.basket) == len(settings.basket)
    special = real_config.allocation.special
    evidence = borough_evidence(
        met, settings=settings, special=special, workplace=workplace_for(real_config)
    )
    again = borough_priorities(
        met, "E09000012", config=real_config, evidence=evidence, basket=found
    )
    pd.testing.assert_frame_equal(again.proposed, result.proposed)
    pd.testing.assert_frame_equal(met_london[0].table, evidence.table)
    pd.testing.assert_frame_equal(
        high_harm_basket(met, settings=settings, special=special).table, basket
    )
    view = api.borough_priorities(met, real_config, "Hackney", london=met_london)
    pd.testing.assert_frame_equal(view.proposed, result.proposed)


def _window_ends(met: NeedInputs) -> list[str]:
    """Every month the data cover with 24 months of history (the window and the one before)."""
    months = met.ingest.ward_counts[s.MONTH].astype(str)
    first, last = month_index(months.min()), month_index(months.max())
    return [month_label(m) for m in range(first + 2 * len(met.window) - 1, last + 1)]


@pytest.mark.integration
def test_the_window_ends_offered_are_those_with_24_months_of_history(met):
    assert api.window_ends(met) == _window_ends(met)[::-1]


@pytest.mark.integration
@pytest.mark.slow
def test_priorities_work_for_every_window_end_with_24_months_of_history(met, real_config):
    ends = _window_ends(met)
    assert ends[0] == "2012-03" and ends[-1] == met.window.end and len(ends) > 150
    settings = real_config.priorities
    for end in ends:
        inputs = dataclasses.replace(met, window=Window.ending(end, months=len(met.window)))
        evidence, basket = api.evidence(inputs, real_config)
        assert evidence.trend_available, end
        assert evidence.table["borough_code"].nunique() == 32, end
        assert evidence.table["window"].str[-7:].le(end).all(), end
        proposed = propose_priorities(evidence.table, settings=settings).table
        assert (proposed["harm_share"] >= settings.min_harm_share).all(), end
        assert basket.table["borough_code"].nunique() == 32, end
    before = Window.ending(month_label(month_index(ends[0]) - 1), months=len(met.window))
    with pytest.raises(DataError, match=f"choose a window end from 2012-03 to {ends[-1]}"):
        api.evidence(dataclasses.replace(met, window=before), real_config)
    after = Window.ending(month_label(month_index(ends[-1]) + 1), months=len(met.window))
    with pytest.raises(DataError, match=f"covers 2010-04 to {ends[-1]}"):
        api.evidence(dataclasses.replace(met, window=after), real_config)
