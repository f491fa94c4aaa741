"""Tests for planner.model.scoring: the need index, its explanation, ranks and sensitivity."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.config import PlannerConfig, load_config
from planner.errors import ConfigError, DataError
from planner.model.scoring import Scores, score_wards, sensitivity
from tests.factories import CONFIG_DIR, config_copy, need_settings


def rise(h1: pd.Series, h0: pd.Series) -> pd.Series:
    """A raw trend component: log((H1 + 1) / (H0 + 1)) where harm rose, else 0 (the test of
    clarity is planner.model.trend's, covered in tests/test_trend.py)."""
    return np.log((h1 + 1) / (h0 + 1)).clip(lower=0)


def make(n: int, seed: int = 0, *, with_asb: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"E05{k:06d}" for k in range(n)], name="ward_code")
    harm_last = rng.gamma(2.0, 3000.0, n)
    comps = pd.DataFrame(
        {
            "harm": harm_last,
            "forecast": harm_last * rng.uniform(0.8, 1.2, n),
            "trend": rise(pd.Series(harm_last), pd.Series(rng.gamma(2.0, 3000.0, n))).to_numpy(),
            "rate": harm_last / rng.uniform(5, 20, n),
            "confidence": rng.uniform(0.0, 0.1, n),  # weight 0 by default: present but off
        },
        index=idx,
    )
    if with_asb:
        comps["asb"] = rng.poisson(200, n).astype(float)
    boroughs = pd.Series([f"E0900000{k % 3 + 2}" for k in range(n)], index=idx)
    return comps, boroughs


def test_contributions_add_up_to_the_score():
    comps, boroughs = make(300)
    scored = score_wards(comps, boroughs, need_settings())
    assert isinstance(scored, Scores)
    out = scored.table
    contrib = out.filter(like="contribution: ").sum(axis=1)
    np.testing.assert_allclose(contrib, out["need_score"], rtol=0, atol=1e-12)
    assert sorted(out["rank_london"]) == list(range(1, 301))
    assert (
        out.groupby("borough_code")["rank_borough"]
        .apply(lambda r: sorted(r) == list(range(1, len(r) + 1)))
        .all()
    )
    assert abs(sum(scored.weights.values()) - 1) < 1e-12
    assert scored.absent == [] and scored.notes == []
    assert set(scored.scales) == set(scored.weights) and min(scored.scales.values()) > 0


def test_absent_components_drop_out_and_weights_renormalise():
    comps, boroughs = make(50, with_asb=False)
    scored = score_wards(comps.drop(columns="forecast"), boroughs, need_settings())
    assert scored.absent == ["asb", "forecast"]  # confidence is present, weight 0: off
    assert "contribution: confidence" not in scored.table
    assert "contribution: asb" not in scored.table
    w = scored.weights
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
    comps["trend"] = rise(comps["harm"], prior)
    before = score_wards(comps, boroughs, need_settings()).table["need_score"].iloc[ward]
    more = comps.copy()
    code = comps.index[ward]
    pop_factor = comps.loc[code, "rate"] / comps.loc[code, "harm"]
    more.loc[code, "harm"] += extra
    more.loc[code, "rate"] = more.loc[code, "harm"] * pop_factor
    more["trend"] = rise(more["harm"], prior)
    after = score_wards(more, boroughs, need_settings()).table["need_score"].iloc[ward]
    assert after >= before - 1e-12


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_never_changes_the_result(seed):
    comps, boroughs = make(60, seed)
    first = score_wards(comps, boroughs, need_settings()).table
    perm = np.random.default_rng(seed).permutation(60)
    second = score_wards(comps.iloc[perm], boroughs.iloc[perm], need_settings()).table
    pd.testing.assert_frame_equal(first.sort_index(), second.sort_index())


def test_ties_are_broken_by_ward_code():
    idx = pd.Index(["E05000003", "E05000001", "E05000002"])
    comps = pd.DataFrame({"harm": [5.0, 5.0, 5.0]}, index=idx)
    out = score_wards(comps, pd.Series("E09000002", index=idx), need_settings()).table
    assert out["rank_london"].to_dict() == {"E05000003": 3, "E05000001": 1, "E05000002": 2}


def test_components_are_capped_and_the_cap_is_shown():
    """West End-like outlier: 10x the 95th percentile on harm counts as component_cap (3)."""
    comps, boroughs = make(100)
    code = comps.index[0]
    comps.loc[code, "harm"] = comps["harm"].quantile(0.95) * 10
    scored = score_wards(comps, boroughs, need_settings())
    table = scored.table
    assert table.loc[code, "normalised: harm"] == 3.0 and table.loc[code, "capped: harm"]
    assert table.filter(like="normalised: ").max().max() <= 3.0
    assert (
        table["capped: harm"].sum()
        == 1 + (comps["harm"].drop(code) > 3 * scored.scales["harm"]).sum()
    )
    wider = score_wards(comps, boroughs, need_settings(component_cap=20.0)).table
    assert wider.loc[code, "normalised: harm"] > 9.0 and not wider.loc[code, "capped: harm"]


def test_bad_inputs_are_named():
    comps, boroughs = make(10)
    comps.iloc[0, 0] = -1
    with pytest.raises(DataError, match="must be >= 0; negative values in"):
        score_wards(comps, boroughs, need_settings())
    with pytest.raises(ConfigError, match="no need component with a positive weight"):
        score_wards(make(10)[0][["asb"]], boroughs, need_settings().with_weights(asb=0.0))
    with pytest.raises(ConfigError, match="unknown need component"):
        need_settings().with_weights(crime=1.0)


def test_a_missing_value_is_no_data_and_the_ward_is_scored_on_its_other_components():
    comps, boroughs = make(10)
    gaps = comps.index[:2]
    comps.loc[gaps, "asb"] = np.nan  # ASB not published for this borough
    settings = need_settings()
    scored = score_wards(comps, boroughs, settings)
    assert scored.notes == [
        "asb: 2 ward(s) without a value (no data, not 0): each is scored on its other "
        "components, their weights rescaled to sum to 1"
    ]
    table = scored.table
    assert (table.loc[gaps, "contribution: asb"] == 0).all()
    assert table.loc[gaps, "normalised: asb"].isna().all()
    assert (table.loc[gaps, "missing components"] == "asb").all()
    assert (table.drop(index=gaps)["missing components"] == "").all()
    # by hand: the ward's score is the weighted mean of the components it has
    others = [c for c in scored.weights if c != "asb"]
    for code in gaps:
        w = {c: scored.weights[c] for c in others}
        expected = sum(w[c] * table.loc[code, f"normalised: {c}"] for c in others) / sum(w.values())
        assert table.loc[code, "need_score"] == pytest.approx(expected, rel=1e-12)
    # the scale is taken over the wards with a value
    expected_scale = np.quantile(comps["asb"].dropna(), settings.scale_quantile)
    assert scored.scales["asb"] == pytest.approx(expected_scale)


def test_a_component_no_ward_has_is_absent_and_its_weight_is_shared():
    comps, boroughs = make(10)
    comps["rate"] = np.nan  # no population lookup for this force
    settings = need_settings()
    scored = score_wards(comps, boroughs, settings)
    assert "rate" in scored.absent
    assert "rate" not in scored.weights
    assert sum(scored.weights.values()) == pytest.approx(1.0)
    assert scored.notes == [
        "rate: no ward has a value, so it is left out and its weight is shared among the "
        "other components"
    ]
    assert "contribution: rate" not in scored.table.columns
    dropped = score_wards(comps.drop(columns="rate"), boroughs, settings)
    pd.testing.assert_series_equal(scored.table["need_score"], dropped.table["need_score"])


def test_sensitivity_draws_treat_a_gap_as_no_data():
    comps, boroughs = make(40, seed=3)
    comps.loc[comps.index[:5], "asb"] = np.nan
    summary, per_ward = sensitivity(comps, boroughs, need_settings())
    assert np.isfinite(per_ward[["rank_min", "rank_max"]].to_numpy()).all()
    # with no perturbation every draw reproduces the base ranks exactly
    settings = need_settings()
    still = type(settings.sensitivity)(**{**vars(settings.sensitivity), "perturbation": 0.0})
    _, flat = sensitivity(comps, boroughs, _with_sensitivity(settings, still))
    assert (flat["rank_min"] == flat["rank"]).all() and (flat["rank_max"] == flat["rank"]).all()
    assert summary["wards"] == 40


def _with_sensitivity(settings, cfg):
    import dataclasses

    return dataclasses.replace(settings, sensitivity=cfg)


def need_problems(tmp_path, old: str, new: str) -> tuple[str, str]:
    """(need.toml's path, load_config's ConfigError) for the shipped need.toml with *old*
    replaced by *new*."""
    text = (CONFIG_DIR / "need.toml").read_text(encoding="utf-8")
    assert old in text
    cdir = config_copy(tmp_path, need=text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    return str(cdir / "need.toml"), str(info.value)


def test_need_settings_come_from_the_config(config: PlannerConfig):
    assert config.need.weights["harm"] == 0.45
    assert config.need == need_settings()
    assert dict(config.need.weights) == {
        "harm": 0.45,
        "asb": 0.15,
        "forecast": 0.15,
        "trend": 0.10,
        "rate": 0.15,
        "confidence": 0.0,  # the optional low-confidence input: off by default
    }


def test_need_toml_with_an_unknown_component_is_an_error(tmp_path):
    path, error = need_problems(tmp_path, "\nharm = 0.45", "\nharms = 0.45")
    assert re.search(
        rf"{re.escape(path)}: weights: unknown component\(s\) harms; use harm, asb, forecast, "
        "trend, rate, confidence",
        error,
    ), error


def test_need_toml_with_an_unknown_key_is_an_error(tmp_path):
    path, error = need_problems(tmp_path, "scale_quantile = 0.95", "scale_quantiles = 0.95")
    assert (
        f"{path}: unknown key 'scale_quantiles' (did you mean 'scale_quantile'?); correct its "
        "spelling or remove it" in error
    )
    assert f"{path}: missing key 'scale_quantile' (a number); add `scale_quantile = ...`" in error


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights": {"harm": -1.0}}, "weights must be >= 0 and not all zero"),
        ({"scale_quantile": 0.0}, r"scale_quantile must be in \(0, 1\], found 0.0"),
        ({"window_months": 0}, "window_months must be >= 1, found 0"),
        ({"min_borough_coverage": 1.5}, r"min_borough_coverage must be in \[0, 1\]"),
    ],
    ids=["negative-weight", "quantile", "window", "coverage"],
)
def test_need_settings_check_their_ranges(changes, message):
    with pytest.raises(ConfigError, match=message):
        need_settings(**changes)


def test_sensitivity_reports_overlap_and_unstable_wards():
    comps, boroughs = make(200)
    alt = comps.assign(harm=comps["harm"] * np.random.default_rng(5).uniform(0.5, 1.5, 200))
    summary, per_ward = sensitivity(comps, boroughs, need_settings(), alternative=alt)
    assert 0 < summary["spearman_vs_css"] <= 1
    assert 0 <= summary["top_50_overlap_vs_css"] <= 50
    assert summary["spearman_weights_min"] <= summary["spearman_weights_median"] <= 1
    assert (per_ward["rank_min"] <= per_ward["rank"]).all() and (
        per_ward["rank"] <= per_ward["rank_max"]
    ).all()
    assert per_ward["unstable"].sum() == summary["unstable_wards"]
    same, _ = sensitivity(comps, boroughs, need_settings(), alternative=comps)
    assert same["spearman_vs_css"] == pytest.approx(1.0) and same["top_50_overlap_vs_css"] == 50
