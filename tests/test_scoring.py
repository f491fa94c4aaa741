"""Tests for planner.model.scoring: the need index, its explanation, ranks and sensitivity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.config import load_config
from planner.errors import ConfigError, DataError
from planner.model.scoring import (
    NeedSettings,
    load_need_settings,
    score_wards,
    sensitivity,
    trend_component,
)

SETTINGS = NeedSettings()


def make(n: int, seed: int = 0, *, with_asb: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"E05{k:06d}" for k in range(n)], name="ward_code")
    harm_last = rng.gamma(2.0, 3000.0, n)
    comps = pd.DataFrame(
        {
            "harm": harm_last,
            "forecast": harm_last * rng.uniform(0.8, 1.2, n),
            "trend": trend_component(
                pd.Series(harm_last), pd.Series(rng.gamma(2.0, 3000.0, n)), prior_days=365
            ).to_numpy(),
            "rate": harm_last / rng.uniform(5, 20, n),
        },
        index=idx,
    )
    if with_asb:
        comps["asb"] = rng.poisson(200, n).astype(float)
    boroughs = pd.Series([f"E0900000{k % 3 + 2}" for k in range(n)], index=idx)
    return comps, boroughs


def test_contributions_add_up_to_the_score():
    comps, boroughs = make(300)
    out = score_wards(comps, boroughs, SETTINGS)
    contrib = out.filter(like="contribution: ").sum(axis=1)
    np.testing.assert_allclose(contrib, out["need_score"], rtol=0, atol=1e-12)
    assert sorted(out["rank_london"]) == list(range(1, 301))
    assert (
        out.groupby("borough_code")["rank_borough"]
        .apply(lambda r: sorted(r) == list(range(1, len(r) + 1)))
        .all()
    )
    assert abs(sum(out.attrs["weights"].values()) - 1) < 1e-12


def test_absent_components_drop_out_and_weights_renormalise():
    comps, boroughs = make(50, with_asb=False)
    out = score_wards(comps.drop(columns="forecast"), boroughs, SETTINGS)
    assert out.attrs["absent"] == ["asb", "forecast"]
    assert "contribution: asb" not in out
    w = out.attrs["weights"]
    assert set(w) == {"harm", "trend", "rate"} and abs(sum(w.values()) - 1) < 1e-12
    assert w["harm"] == pytest.approx(0.45 / 0.70)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    ward=st.integers(0, 39),
    extra=st.floats(0.0, 50_000.0),
)
def test_more_harm_never_lowers_a_wards_score(seed, ward, extra):
    """Adding incidents with positive weight in the window raises harm, rate and the trend's
    H1 for that ward (the forecast held fixed): its score never falls."""
    comps, boroughs = make(40, seed)
    prior = pd.Series(np.random.default_rng(seed + 1).gamma(2.0, 3000.0, 40), index=comps.index)
    comps["trend"] = trend_component(comps["harm"], prior, prior_days=365)
    before = score_wards(comps, boroughs, SETTINGS)["need_score"].iloc[ward]
    more = comps.copy()
    code = comps.index[ward]
    pop_factor = comps.loc[code, "rate"] / comps.loc[code, "harm"]
    more.loc[code, "harm"] += extra
    more.loc[code, "rate"] = more.loc[code, "harm"] * pop_factor
    more["trend"] = trend_component(more["harm"], prior, prior_days=365)
    after = score_wards(more, boroughs, SETTINGS)["need_score"].iloc[ward]
    assert after >= before - 1e-12


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_never_changes_the_result(seed):
    comps, boroughs = make(60, seed)
    first = score_wards(comps, boroughs, SETTINGS)
    perm = np.random.default_rng(seed).permutation(60)
    second = score_wards(comps.iloc[perm], boroughs.iloc[perm], SETTINGS)
    pd.testing.assert_frame_equal(first.sort_index(), second.sort_index())


def test_ties_are_broken_by_ward_code():
    idx = pd.Index(["E05000003", "E05000001", "E05000002"])
    comps = pd.DataFrame({"harm": [5.0, 5.0, 5.0]}, index=idx)
    out = score_wards(comps, pd.Series("E09000002", index=idx), SETTINGS)
    assert out["rank_london"].to_dict() == {"E05000003": 3, "E05000001": 1, "E05000002": 2}


def test_trend_shrinks_small_numbers():
    small = trend_component(pd.Series([4.0]), pd.Series([2.0]), prior_days=365)[0]
    large = trend_component(pd.Series([40_000.0]), pd.Series([20_000.0]), prior_days=365)[0]
    assert small < 0.01 < large  # 2 -> 4 days is noise; 20k -> 40k days is a doubling
    assert trend_component(pd.Series([10.0]), pd.Series([5_000.0]), prior_days=365)[0] == 0


def test_bad_inputs_are_named():
    comps, boroughs = make(10)
    comps.iloc[0, 0] = -1
    with pytest.raises(DataError, match="must be >= 0; negative values in"):
        score_wards(comps, boroughs, SETTINGS)
    with pytest.raises(ConfigError, match="no need component with a positive weight"):
        score_wards(make(10)[0][["asb"]], boroughs, SETTINGS.with_weights(asb=0.0))
    with pytest.raises(ConfigError, match="unknown need component"):
        SETTINGS.with_weights(crime=1.0)


def test_need_settings_load_and_reject_unknown_keys(tmp_path):
    config = load_config()
    assert load_need_settings(config).weights["harm"] == 0.45
    bad = dataclasses.replace(config, extra={**config.extra, "need": {"weights": {"harms": 1.0}}})
    with pytest.raises(ConfigError, match=r"unknown component\(s\) \['harms'\]"):
        load_need_settings(bad)
    bad = dataclasses.replace(config, extra={**config.extra, "need": {"scale_quantiles": 0.9}})
    with pytest.raises(ConfigError, match="unknown key"):
        load_need_settings(bad)


def test_sensitivity_reports_overlap_and_unstable_wards():
    comps, boroughs = make(200)
    alt = comps.assign(harm=comps["harm"] * np.random.default_rng(5).uniform(0.5, 1.5, 200))
    summary, per_ward = sensitivity(comps, boroughs, SETTINGS, alternative=alt)
    assert 0 < summary["spearman_vs_css"] <= 1
    assert 0 <= summary["top_50_overlap_vs_css"] <= 50
    assert summary["spearman_weights_min"] <= summary["spearman_weights_median"] <= 1
    assert (per_ward["rank_min"] <= per_ward["rank"]).all() and (
        per_ward["rank"] <= per_ward["rank_max"]
    ).all()
    assert per_ward["unstable"].sum() == summary["unstable_wards"]
    same, _ = sensitivity(comps, boroughs, SETTINGS, alternative=comps)
    assert same["spearman_vs_css"] == pytest.approx(1.0) and same["top_50_overlap_vs_css"] == 50
