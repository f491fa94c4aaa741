"""Tests for planner.model.trend: a ward's rise in harm earns credit only when it is clear.

The real-data test recomputes the documented test from ward_counts and config/harm.toml with
pandas (not the planner's arrays): weighted-Poisson z = (H1 - H0) / sqrt(sum w² (n1 + n0)),
one-sided p, Benjamini-Hochberg across the scored wards (scipy's own implementation), and
checks that exactly the clear rises get trend credit in the need index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from planner import schema as s
from planner.config import TrendSettings, normalise_text
from planner.model.stats import benjamini_hochberg
from planner.model.trend import NO_CLEAR_CHANGE, harm_trend
from planner.model.window import Window
from tests.factories import harm_settings, need_settings


def test_benjamini_hochberg_matches_scipy():
    p = np.random.default_rng(1).uniform(0, 0.2, 200)
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p))
    assert benjamini_hochberg(np.array([])).size == 0


def counts(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    """ward_counts from (ward, month, category, subcategory, count) rows."""
    frame = pd.DataFrame(rows, columns=[s.WARD_CODE, s.MONTH, s.CATEGORY, s.SUBCATEGORY, "count"])
    for column in (s.WARD_CODE, s.MONTH, s.CATEGORY, s.SUBCATEGORY):
        frame[column] = frame[column].astype("category")
    return frame


WINDOW = Window(start="2025-01", end="2025-12")
TREND = TrendSettings(fdr=0.05, exclude=("Violence and sexual offences | rape",))


def small_problem() -> pd.DataFrame:
    """Three wards: counts in January 2024 (the year before) and December 2025 (measured)."""
    rows = []
    for ward, before, now in (("E05000001", 100, 200), ("E05000002", 100, 104)):
        rows += [(ward, "2024-01", "Burglary", "residential", before)]
        rows += [(ward, "2025-12", "Burglary", "residential", now)]
    # ward 3: burglary flat, rapes 3 -> 17 (left out of the trend by TREND.exclude)
    rows += [("E05000003", "2024-01", "Burglary", "residential", 50)]
    rows += [("E05000003", "2025-12", "Burglary", "residential", 50)]
    rows += [("E05000003", "2024-01", "Violence and sexual offences", "rape", 3)]
    rows += [("E05000003", "2025-12", "Violence and sexual offences", "rape", 17)]
    return counts(rows)


def test_clear_rises_earn_credit_and_name_their_driver():
    wards = pd.Index(["E05000001", "E05000002", "E05000003"])
    out = harm_trend(small_problem(), wards, window=WINDOW, harm=harm_settings(), settings=TREND)
    assert out.loc["E05000001", "trend_clear"] and out.loc["E05000001", "trend_rise"] > 0
    assert out.loc["E05000001", "trend_text"] == "rise driven by burglary (residential): 100 → 200"
    for ward in ("E05000002", "E05000003"):  # +4 % is noise; rape is not on the trend
        assert not out.loc[ward, "trend_clear"] and out.loc[ward, "trend_rise"] == 0
        assert out.loc[ward, "trend_text"] == NO_CLEAR_CHANGE
    # with rape on the trend, ward 3's rise is a heavy-offence rise: its variance is w² n
    with_rape = harm_trend(
        small_problem(),
        wards,
        window=WINDOW,
        harm=harm_settings(),
        settings=TrendSettings(fdr=0.05, exclude=()),
    )
    row = with_rape.loc["E05000003"]
    w = harm_settings().current.subcategories[("Violence and sexual offences", "rape")]
    assert row["trend_z"] == pytest.approx(14 * w / np.sqrt(w**2 * 20 + 0), rel=0.05)
    assert row["trend_text"].startswith("rise driven by rape: 3 → 17")


def test_the_trend_needs_both_windows():
    from planner.errors import DataError

    short = counts([("E05000001", "2025-12", "Burglary", "residential", 5)])
    with pytest.raises(DataError, match="needs data from 2024-01 to 2025-12"):
        harm_trend(
            short, pd.Index(["E05000001"]), window=WINDOW, harm=harm_settings(), settings=TREND
        )


# --- the default dataset, recomputed independently --------------------------------------------


def _row_weights(frame: pd.DataFrame) -> pd.Series:
    """Each row's harm weight from config/harm.toml, by dictionary lookup."""
    harm = harm_settings()
    idx = harm.current
    subs = {(c, normalise_text(sub)): w for (c, sub), w in idx.subcategories.items()}

    def weight(cat: str, sub: object) -> float:
        if cat == s.ASB:
            return 0.0
        base = (
            subs.get((cat, normalise_text(sub)), idx.categories[cat])
            if pd.notna(sub)
            else idx.categories[cat]
        )
        return base * harm.multiplier(cat)

    pairs = frame[[s.CATEGORY, s.SUBCATEGORY]].drop_duplicates()
    table = {(c, sub): weight(c, sub) for c, sub in pairs.itertuples(index=False)}
    return pd.Series(
        [table[(c, sub)] for c, sub in zip(frame[s.CATEGORY], frame[s.SUBCATEGORY], strict=True)],
        index=frame.index,
    )


@pytest.mark.integration
@pytest.mark.slow
def test_no_ward_gets_trend_credit_without_a_clear_rise(met_inputs, real_config):
    from planner import api
    from planner.scenario import Scenario

    settings = need_settings().trend
    window = met_inputs.window
    scored = met_inputs.wards.index
    wc = met_inputs.ingest.ward_counts
    months = {m: "last" for m in window.months} | {m: "prior" for m in window.previous().months}
    frame = wc[wc[s.WARD_CODE].astype(str).isin(scored) & wc[s.MONTH].astype(str).isin(months)]
    frame = frame[frame[s.CATEGORY].astype(str) != s.ASB].copy()
    label = frame[s.CATEGORY].astype(str) + " | " + frame[s.SUBCATEGORY].astype(str).str.strip()
    left_out = {normalise_text(x) for x in settings.exclude}
    frame = frame[~label.map(normalise_text).isin(left_out)]
    w = _row_weights(frame.astype({s.CATEGORY: str, s.SUBCATEGORY: object}))
    frame = frame.assign(
        period=frame[s.MONTH].astype(str).map(months),
        harm=frame["count"] * w,
        var=frame["count"] * w**2,
        ward=frame[s.WARD_CODE].astype(str),
    )
    harm = frame.pivot_table(index="ward", columns="period", values="harm", aggfunc="sum")
    harm = harm.reindex(scored).fillna(0.0)
    var = frame.groupby("ward")["var"].sum().reindex(scored).fillna(0.0)
    z = ((harm["last"] - harm["prior"]) / np.sqrt(var)).where(var > 0, 0.0)
    q = stats.false_discovery_control(stats.norm.sf(z.to_numpy()))
    clear = pd.Series((q <= settings.fdr) & (harm["last"] > harm["prior"]).to_numpy(), index=scored)

    result = api.score(met_inputs, Scenario.from_config(real_config))
    credited = result.scores["contribution: trend"] > 0
    assert clear.sum() > 0  # the default data has clear rises
    assert not (credited & ~clear.reindex(credited.index)).any()  # no credit without a clear rise
    assert (credited == clear.reindex(credited.index)).all()  # and every clear rise counts
    feats = met_inputs.features[met_inputs.harm.index]
    texts = feats.loc[credited[credited].index, "trend_text"]
    assert texts.str.startswith("rise driven by ").all()
    assert (feats.loc[credited[~credited].index, "trend_text"] == NO_CLEAR_CHANGE).all()


@pytest.mark.integration
def test_no_normalised_component_above_its_cap(met_inputs, real_config):
    from planner import api
    from planner.scenario import Scenario

    result = api.score(met_inputs, Scenario.from_config(real_config))
    cap = need_settings().component_cap
    for column in result.scores.filter(like="normalised: ").columns:
        component = column.removeprefix("normalised: ")
        raw = result.components[component].fillna(0) / result.scales[component]
        recomputed = raw.clip(upper=cap)
        np.testing.assert_allclose(result.scores[column], recomputed, rtol=1e-12)
        assert result.scores[column].max() <= cap
        assert (result.scores[f"capped: {component}"] == (raw > cap)).all()
