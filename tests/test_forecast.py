"""Tests of planner.model.forecast and backtest: estimator contract, the three baselines, the
backtest (no leakage), the verdict's margin rule, configuration, real data."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from planner.config import ForecastSettings, PlannerConfig, load_config
from planner.config.model import VerdictSettings
from planner.errors import ConfigError, DataError
from planner.model.backtest import (
    BASELINES,
    METHODS,
    Comparison,
    Verdict,
    backtest,
    default_origins,
    last12,
    london_mean,
    origin_forecasts,
    seasonal_naive,
    verdict,
)
from planner.model.forecast import FORECAST_HARM, HarmForecaster, forecaster
from tests.factories import CONFIG_DIR, config_copy, shipped_config

FAST = {"max_iter": 60, "learning_rate": 0.1, "min_samples_leaf": 50, "max_rows": 20_000}
COLUMNS = [
    "origin",
    "method",
    "n_wards",
    "actual_harm",
    "wape",
    "mae",
    "bias",
    "wape_total",
    "mae_total",
    "corr_harm",
    "fit_seconds",
]
MEAN_YEARS = 3  # years of the London-anchored mean in these tests (the shipped value)
# Category-level Cambridge Crime Harm Index (days), DESIGN.md; ASB is not crime.
CCHI = {
    "Robbery": 365.0,
    "Possession of weapons": 273.75,
    "Burglary": 244.68,
    "Violence and sexual offences": 194.21,
    "Criminal damage and arson": 11.18,
    "Other crime": 10.0,
    "Public order": 7.5,
    "Vehicle crime": 5.0,
    "Drugs": 3.66,
    "Other theft": 2.0,
    "Theft from the person": 2.0,
    "Bicycle theft": 2.0,
    "Shoplifting": 1.0,
    "Anti-social behaviour": 0.0,
}


def months(first: str, n: int) -> list[str]:
    return list(pd.period_range(first, periods=n, freq="M").strftime("%Y-%m"))


def synthetic(n_wards: int = 30, n_months: int = 84, seed: int = 0) -> pd.DataFrame:
    """Seasonal wards with their own trends, Poisson counts and rare high-harm offences."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_months)
    base = rng.uniform(20, 200, n_wards)[:, None]
    trend = rng.normal(0, 0.12, n_wards)[:, None]
    season = 1 + 0.2 * np.sin(2 * np.pi * (t % 12) / 12)
    rate = base * np.exp(trend * t / 12) * season
    harm = rng.poisson(rate) * 10.0 + rng.poisson(rate * 0.01) * 2555.0
    index = pd.Index([f"E05{i:06d}" for i in range(n_wards)], name="ward_code")
    return pd.DataFrame(harm, index=index, columns=months("2015-01", n_months))


def monthly_harm(ward_counts: pd.DataFrame) -> pd.DataFrame:
    """Wide monthly harm from ward_counts with the category weights (planner.model.features' job)."""
    wc = ward_counts.astype({"ward_code": str, "month": str, "category": str})
    wc = wc.assign(harm=wc["count"] * wc["category"].map(CCHI))
    wide = wc.pivot_table(
        index="ward_code", columns="month", values="harm", aggfunc="sum", fill_value=0.0
    )
    first, last = wide.columns.min(), wide.columns.max()
    full = months(first, len(pd.period_range(first, last, freq="M")))
    return wide.reindex(columns=full, fill_value=0.0)


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return synthetic()


@pytest.fixture(scope="module")
def fitted(series: pd.DataFrame) -> HarmForecaster:
    return HarmForecaster(**FAST).fit(series)


# --- the estimator contract --------------------------------------------------------------


def test_init_stores_parameters_only() -> None:
    params = {"model": "poisson_glm", "lags": 6, "max_iter": 10, "random_state": 3}
    est = HarmForecaster(**params)
    assert set(vars(est)) == set(est.get_params())
    assert {k: est.get_params()[k] for k in params} == params
    assert not [k for k in vars(est) if k.endswith("_")]


def test_get_set_params_and_clone() -> None:
    est = HarmForecaster().set_params(lags=6, weighting="harm")
    assert est.get_params()["lags"] == 6
    copy = clone(est)
    assert copy is not est
    assert copy.get_params() == est.get_params()


def test_fit_returns_self_and_learned_attributes_end_in_underscore(
    series: pd.DataFrame,
) -> None:
    est = HarmForecaster(**FAST)
    assert est.fit(series) is est
    learned = set(vars(est)) - set(est.get_params())
    assert learned >= {"estimator_", "n_features_in_", "feature_names_", "last_month_"}
    assert all(name.endswith("_") for name in learned)
    assert est.n_features_in_ == len(est.feature_names_) == 12 + 10  # lags, then 10 others
    assert est.last_month_ == series.columns[-1]
    assert not hasattr(clone(est), "estimator_")


@pytest.mark.parametrize("method", ["predict", "predict_total"], ids=["predict", "total"])
def test_predict_before_fit_raises(series: pd.DataFrame, method: str) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(HarmForecaster(), method)(series)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"model": "xgboost"}, "model='xgboost'"),
        ({"lags": 0}, "lags=0"),
        ({"weighting": "size"}, "weighting='size'"),
        ({"anchor": "england"}, "anchor='england'"),
    ],
    ids=["model", "lags", "weighting", "anchor"],
)
def test_invalid_parameters_raise_at_fit(series: pd.DataFrame, params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HarmForecaster(**params).fit(series)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.iloc[:, :20], "20 months, at least 25 needed"),
        (lambda m: m.drop(columns=["2016-05"]), "2016-04 is followed by 2016-06"),
        (lambda m: m.rename(columns={"2016-05": "May 2016"}), "not 'YYYY-MM'"),
        (lambda m: m.mul(-1), "finite harm >= 0"),
        (lambda m: m.replace(m.iloc[0, 0], np.nan), "finite harm >= 0"),
        (lambda m: pd.concat([m, m.iloc[:1]]), "duplicate ward_codes"),
    ],
    ids=["too-short", "gap", "bad-label", "negative", "missing", "duplicate-ward"],
)
def test_bad_monthly_raises_data_error(series: pd.DataFrame, change, match: str) -> None:
    with pytest.raises(DataError, match=match):
        HarmForecaster(**FAST).fit(change(series))


# --- forecasts ---------------------------------------------------------------------------


def test_predict_shape_index_and_months(fitted: HarmForecaster, series: pd.DataFrame) -> None:
    history = series.iloc[:, :72]  # ends 2020-12: the forecast crosses into 2021
    pred = fitted.predict(history)
    assert pred.index.equals(series.index)
    assert list(pred.columns) == months("2021-01", 12)
    assert (pred.to_numpy() >= 0).all()
    total = fitted.predict_total(history)
    assert total.name == FORECAST_HARM
    pd.testing.assert_series_equal(total, pred.sum(axis=1).rename(FORECAST_HARM))


def test_london_anchor_holds_london_total(fitted: HarmForecaster, series: pd.DataFrame) -> None:
    total = fitted.predict_total(series)
    assert math.isclose(total.sum(), series.iloc[:, -12:].to_numpy().sum(), rel_tol=1e-9)
    free = clone(fitted).set_params(anchor="none").fit(series).predict_total(series)
    assert not math.isclose(free.sum(), total.sum(), rel_tol=1e-6)


@pytest.mark.parametrize("model", ["hgb_poisson", "poisson_glm"], ids=["hgb", "glm"])
def test_deterministic_with_fixed_random_state(series: pd.DataFrame, model: str) -> None:
    params = {**FAST, "model": model, "max_rows": 5_000}  # forces the seeded subsample
    first = HarmForecaster(**params).fit(series).predict(series)
    second = HarmForecaster(**params).fit(series).predict(series)
    pd.testing.assert_frame_equal(first, second)


def test_baselines_by_hand() -> None:
    values = np.arange(1.0, 25.0)[None, :].repeat(2, axis=0)  # months 1..24
    monthly = pd.DataFrame(values, index=["a", "b"], columns=months("2020-01", 24))
    flat = last12(monthly, "2021-06", horizon=3)
    assert list(flat.columns) == ["2021-07", "2021-08", "2021-09"]
    assert (flat.to_numpy() == np.mean(np.arange(7, 19))).all()
    seasonal = seasonal_naive(monthly, "2021-06", horizon=14)
    assert list(seasonal.iloc[0]) == [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 7, 8]
    pd.testing.assert_frame_equal(last12(monthly), last12(monthly, "2021-12"))


def test_seasonal_naive_has_the_twelve_month_totals_of_last12() -> None:
    monthly = synthetic(n_wards=5, n_months=40)
    a, b = last12(monthly, "2017-12"), seasonal_naive(monthly, "2017-12")
    np.testing.assert_allclose(a.sum(axis=1), b.sum(axis=1))  # why it is judged month by month
    assert not np.allclose(a.to_numpy(), b.to_numpy())


def test_london_mean_by_hand() -> None:
    # ward a: 1, 2, ..., 36; ward b: 10 every month; then 12 months that must be ignored
    a, b = [float(m) for m in range(1, 37)], [10.0] * 36
    monthly = pd.DataFrame(
        [[*a, *[1e9] * 12], [*b, *[1e9] * 12]], index=["a", "b"], columns=months("2020-01", 48)
    )
    # years = 2: the ward means of months 13..36, London's means of months 25..36 and 13..36
    mean_a, mean_b = sum(a[12:]) / 24, sum(b[12:]) / 24
    london_24 = (sum(a[12:]) + sum(b[12:])) / 24
    london_12 = (sum(a[24:]) + sum(b[24:])) / 12
    expected = [mean_a * london_12 / london_24, mean_b * london_12 / london_24]
    pred = london_mean(monthly, "2022-12", horizon=3, years=2)
    assert list(pred.columns) == ["2023-01", "2023-02", "2023-03"]
    np.testing.assert_allclose(pred.to_numpy(), np.repeat([expected], 3, axis=0).T)
    assert math.isclose(pred["2023-01"].sum(), london_12)  # London's level is the last 12's
    # years = 3 uses all 36 months: a's share of London falls (its recent months weigh less)
    three = london_mean(monthly, "2022-12", horizon=12, years=3)
    share = sum(a) / (sum(a) + sum(b))
    np.testing.assert_allclose(three.loc["a"], share * london_12)
    assert math.isclose(three.to_numpy().sum(), last12(monthly, "2022-12").to_numpy().sum())
    with pytest.raises(DataError, match="at least 48 needed"):
        london_mean(monthly, "2022-12", years=4)


# --- backtest ----------------------------------------------------------------------------


def test_default_origins(series: pd.DataFrame) -> None:
    # 84 months 2015-01..2021-12: the last origin with 12 months after it is 2020-12
    assert default_origins(series, n_origins=None) == ["2017-12", "2018-12", "2019-12", "2020-12"]
    assert default_origins(series, n_origins=2) == ["2019-12", "2020-12"]
    with pytest.raises(DataError, match="84 months; a backtest origin needs 80"):
        default_origins(series, min_history=80)


def test_backtest_table_and_model_beats_every_baseline(series: pd.DataFrame) -> None:
    # the synthetic wards have their own trends, which a 3-year mean and persistence miss
    table = backtest(series, estimator=HarmForecaster(**FAST), n_origins=2, mean_years=MEAN_YEARS)
    assert list(table.columns) == COLUMNS
    assert list(table["origin"]) == ["2019-12"] * 4 + ["2020-12"] * 4 + ["all"] * 4
    assert list(table["method"]) == list(METHODS) * 3
    assert np.isfinite(table.drop(columns=["origin", "method", "fit_seconds"]).to_numpy()).all()
    means = table[table["origin"] == "all"].set_index("method")
    assert means.loc["model", "wape_total"] < means.loc["seasonal_naive", "wape_total"]
    # the three baselines share London's level: the same bias, so only the ward split differs
    assert np.allclose(means["bias"], means.loc["last12", "bias"])
    assert means.loc["last12", "corr_harm"] == pytest.approx(1.0)  # it *is* the last 12 months
    result = verdict(table, shipped_config().forecast)
    assert isinstance(result, Verdict)
    assert result.beats_all is True
    assert result.beaten == tuple(BASELINES)
    assert result.n_origins == 2 and (result.first_origin, result.last_origin) == (
        "2019-12",
        "2020-12",
    )
    assert "it beat all three, so the need index uses the forecast" in result.explanation
    assert result.to_dict()["wape_total"] == result.wape_total
    assert result.to_dict()["comparisons"]["london_mean"]["beaten"] is True
    assert result.corr_harm["model"] == pytest.approx(means.loc["model", "corr_harm"])


def test_backtest_never_sees_months_after_the_origin(series: pd.DataFrame) -> None:
    origin = "2019-12"
    poisoned = series.copy()
    poisoned.loc[:, "2020-01":] = 1e12
    fc = {"estimator": HarmForecaster(**FAST), "mean_years": MEAN_YEARS}
    clean = origin_forecasts(series, origin, **fc)
    dirty = origin_forecasts(poisoned, origin, **fc)
    assert set(clean) == set(METHODS)
    for method in METHODS:
        pd.testing.assert_frame_equal(clean[method], dirty[method])

    seen: list[tuple[str, float]] = []

    class Spy(HarmForecaster):
        def fit(self, monthly, y=None):
            seen.append((str(monthly.columns[-1]), float(monthly.to_numpy().max())))
            return super().fit(monthly, y)

    backtest(
        poisoned.loc[:, :"2020-12"],
        estimator=Spy(**FAST),
        origins=["2018-12", origin],
        mean_years=MEAN_YEARS,
    )
    assert [month for month, _ in seen] == ["2018-12", origin]
    assert max(peak for _, peak in seen) < 1e12


def test_backtest_rejects_an_origin_without_enough_future(series: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="origin 2021-06: 6 months follow it"):
        backtest(
            series, origins=["2021-06"], estimator=HarmForecaster(**FAST), mean_years=MEAN_YEARS
        )


def test_backtest_rejects_an_origin_without_the_means_history(series: pd.DataFrame) -> None:
    # 2016-06 has 18 months of history, 2017-06 30: a 3-year mean needs 36 (checked before a fit)
    with pytest.raises(DataError, match=r"origin\(s\) 2016-06, 2017-06: fewer than 36 months up"):
        backtest(
            series,
            origins=["2016-06", "2017-06", "2018-06"],
            estimator=HarmForecaster(**FAST),
            mean_years=MEAN_YEARS,
        )


# --- the verdict's rule ------------------------------------------------------------------


def scored(per_origin: dict[str, dict[str, tuple[float, float]]]) -> pd.DataFrame:
    """A backtest table from {origin: {method: (wape_total, wape)}}, with its "all" rows."""
    rows = [
        {"origin": o, "method": m, "wape_total": wt, "wape": w, "bias": 0.01, "corr_harm": 0.99}
        for o, methods in per_origin.items()
        for m, (wt, w) in methods.items()
    ]
    table = pd.DataFrame(rows)
    summary = table.groupby("method", sort=False).mean(numeric_only=True).reset_index()
    return pd.concat([table, summary.assign(origin="all")], ignore_index=True)


def gains(pp: dict[str, float]) -> dict[str, tuple[float, float]]:
    """One origin where the model is *pp* points better than each baseline (negative: worse).

    The model scores 0.12 on the 12-month totals and 0.26 monthly; last12 and london_mean are
    judged on the totals, seasonal naive monthly (its totals are last12's, as in a backtest).
    """
    model_total, model_month = 0.12, 0.26
    last = model_total + pp["last12"] / 100
    return {
        "model": (model_total, model_month),
        "last12": (last, 0.27),
        "seasonal_naive": (last, model_month + pp["seasonal_naive"] / 100),
        "london_mean": (model_total + pp["london_mean"] / 100, 0.265),
    }


def forecast_settings(margin_pp: float) -> ForecastSettings:
    forecast = shipped_config().forecast
    return dataclasses.replace(forecast, verdict=VerdictSettings(margin_pp=margin_pp))


ALL_BY = {"last12": 0.9, "seasonal_naive": 8.0, "london_mean": 0.7}


def test_beating_all_three_at_most_origins_uses_the_forecast() -> None:
    table = scored(
        {
            "2020-01": gains(ALL_BY),
            "2021-01": gains(ALL_BY),
            "2022-01": gains({**ALL_BY, "london_mean": 0.2}),  # short of the margin here only
        }
    )
    result = verdict(table, forecast_settings(0.5))
    assert result.beats_all is True and result.beaten == tuple(BASELINES)
    assert result.origins_won == 2  # all three beaten by the margin at once
    mean = result.comparisons["london_mean"]
    assert (mean.origins_won, mean.n_origins, mean.beaten) == (2, 3, True)
    assert mean.gain_pp == pytest.approx((0.7 + 0.7 + 0.2) / 3)
    assert mean.metric == "wape_total" and result.comparisons["seasonal_naive"].metric == "wape"
    assert result.margin_pp == 0.5
    text = result.explanation
    assert (
        "beat the last 12 months (WAPE of the 12-month ward totals 12.00 % against 12.90 %): "
        "0.90 pp better on average, by the margin at 3 of 3 origins" in text
    )
    assert "beat seasonal naive (monthly WAPE 26.00 % against 34.00 %)" in text
    assert "beat the London-anchored 3-year mean" in text and "did not beat" not in text
    assert "2 of 3 origins" in text
    assert "it beat all three, so the need index uses the forecast" in text
    assert "correlates 0.990 with the last 12 months' harm" in text
    assert result.summary == "beat all three baselines by 0.5 pp at more than half of 3 origins"


def test_beating_two_of_three_does_not_use_the_forecast() -> None:
    lost = {**ALL_BY, "london_mean": 0.19}
    table = scored({o: gains(lost) for o in ("2020-01", "2021-01", "2022-01", "2023-01")})
    result = verdict(table, forecast_settings(0.5))
    assert result.beats_all is False
    assert result.beaten == ("last12", "seasonal_naive")
    assert result.origins_won == 0
    assert result.comparisons["london_mean"].origins_won == 0
    text = result.explanation
    assert "beat the last 12 months" in text and "beat seasonal naive" in text
    assert (
        "did not beat the London-anchored 3-year mean (WAPE of the 12-month ward totals "
        "12.00 % against 12.19 %): 0.19 pp better on average, by the margin at 0 of 4 origins"
    ) in text
    assert "it did not beat all three, so the need index does not use the forecast" in text
    assert result.summary == (
        "did not beat the London-anchored 3-year mean by 0.5 pp at more than half of 4 origins "
        "(it beat the last 12 months and seasonal naive)"
    )


def test_beating_all_three_by_less_than_the_margin_does_not_use_the_forecast() -> None:
    small = {"last12": 0.3, "seasonal_naive": 0.4, "london_mean": 0.3}
    table = scored({o: gains(small) for o in ("2020-01", "2021-01", "2022-01")})
    result = verdict(table, forecast_settings(0.5))
    assert result.beats_all is False and result.beaten == ()
    assert all(c.gain_pp > 0 and c.origins_won == 0 for c in result.comparisons.values())
    assert result.explanation.count("did not beat") == 4  # three baselines and the outcome
    assert verdict(table, forecast_settings(0.3)).beats_all is True  # the margin decides


@pytest.mark.parametrize(
    ("won", "n", "beaten"),
    [(2, 4, False), (3, 4, True), (1, 1, True), (0, 1, False), (2, 3, True)],
    ids=["half", "three-of-four", "one-of-one", "none-of-one", "two-of-three"],
)
def test_more_than_half_the_origins(won: int, n: int, beaten: bool) -> None:
    table = scored(
        {
            f"{2015 + i}-01": gains({**ALL_BY, "london_mean": 0.7 if i < won else -0.1})
            for i in range(n)
        }
    )
    result = verdict(table, forecast_settings(0.5))
    assert result.comparisons["london_mean"].origins_won == won
    assert result.comparisons["london_mean"].beaten is beaten
    assert result.beats_all is beaten


def test_seasonal_naive_is_judged_month_by_month() -> None:
    # the model's totals beat last12's (and so seasonal naive's equal totals) by 0.9 points,
    # but its monthly WAPE is worse than seasonal naive's: seasonal naive is not beaten
    table = scored({o: gains({**ALL_BY, "seasonal_naive": -0.5}) for o in ("2020-01", "2021-01")})
    result = verdict(table, forecast_settings(0.5))
    assert result.beaten == ("last12", "london_mean")
    naive = result.comparisons["seasonal_naive"]
    assert isinstance(naive, Comparison) and naive.gain_pp == pytest.approx(-0.5)
    assert "did not beat seasonal naive (monthly WAPE 26.00 % against 25.50 %): 0.50 pp worse" in (
        result.explanation
    )


def test_the_verdict_of_an_exact_margin_counts_as_beaten() -> None:
    exact = {"last12": 0.5, "seasonal_naive": 0.5, "london_mean": 0.5}
    table = scored({"2020-01": gains(exact)})
    assert verdict(table, forecast_settings(0.5)).beats_all is True


# --- configuration -----------------------------------------------------------------------


def test_forecaster_from_repository_config(config: PlannerConfig) -> None:
    est, options = forecaster(config.forecast)
    assert est.get_params()["model"] == "poisson_glm"
    assert options == {
        "horizon": 12,
        "n_origins": 8,
        "step": 12,
        "min_history": 36,
        "mean_years": 3,
    }
    assert config.forecast.verdict.margin_pp == 0.5
    assert config.use_forecast is True


def forecast_problems(tmp_path, text: str) -> tuple[str, str]:
    """(forecast.toml's path, load_config's ConfigError) for a config copy with *text*."""
    cdir = config_copy(tmp_path, forecast=text)
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    return str(cdir / "forecast.toml"), str(info.value)


def shipped_forecast_toml() -> str:
    return (CONFIG_DIR / "forecast.toml").read_text(encoding="utf-8")


def test_forecast_toml_rejects_unknown_keys(tmp_path) -> None:
    text = shipped_forecast_toml()
    assert text.count("\n[model]\n") == text.count("\n[backtest]\n") == 1
    assert text.count("\n[verdict]\n") == 1
    text = (
        text.replace("\n[model]\n", "\n[model]\nlag = 3\n")
        .replace("\n[backtest]\n", "\n[backtest]\norigins = 2\n")
        .replace("\n[verdict]\n", "\n[verdict]\nmargin = 1\n")
    )
    path, error = forecast_problems(tmp_path, text)
    assert "3 problem(s)" in error
    assert (
        f"{path} [model]: unknown key 'lag' (did you mean 'lags'?); correct its spelling or "
        "remove it" in error
    )
    assert f"{path} [backtest]: unknown key 'origins'" in error
    assert f"{path} [verdict]: unknown key 'margin' (did you mean 'margin_pp'?)" in error


def test_forecast_toml_needs_the_verdicts_margin(tmp_path) -> None:
    text = shipped_forecast_toml()
    assert "\nmargin_pp = 0.5\n" in text
    path, error = forecast_problems(tmp_path, text.replace("\nmargin_pp = 0.5\n", "\n"))
    assert f"{path} [verdict]: missing key 'margin_pp' (a number); add `margin_pp = ...`" in error


def test_forecast_toml_names_a_bad_model(tmp_path) -> None:
    text = shipped_forecast_toml()
    assert 'name = "poisson_glm"' in text
    path, error = forecast_problems(
        tmp_path, text.replace('name = "poisson_glm"', 'name = "arima"')
    )
    assert (
        f"{path} [model]: 'name' should be one of 'hgb_poisson', 'poisson_glm', found 'arima'; "
        "change the value of `name`" in error
    )


def test_forecast_toml_needs_use_forecast(tmp_path) -> None:
    text = shipped_forecast_toml()
    assert "\nuse_forecast = true" in text
    path, error = forecast_problems(tmp_path, text.replace("\nuse_forecast = true", "\n"))
    assert f"{path}: 'use_forecast' should be true or false, found None" in error


@pytest.mark.parametrize(
    ("part", "changes", "match"),
    [
        ("model", {"lags": 0}, "lags must be in 1..24, found 0"),
        ("model", {"horizon": 25}, "horizon must be in 1..24, found 25"),
        ("model", {"long_run": 6}, "long_run must be in 12..120, found 6"),
        ("model", {"max_rows": 10}, "max_rows must be at least 1000, found 10"),
        ("backtest", {"min_history": 6}, "n_origins and step must be >= 1 and min_history >= 12"),
        ("backtest", {"mean_years": 0}, "mean_years must be in 1..10, found 0"),
        (
            "backtest",
            {"mean_years": 4},
            r"min_history \(36 months\) must be at least 12 x mean_years \(48\)",
        ),
        ("verdict", {"margin_pp": -0.1}, r"margin_pp must be percentage points in \[0, 100\)"),
    ],
    ids=[
        "lags",
        "horizon",
        "long-run",
        "max-rows",
        "min-history",
        "mean-years",
        "mean-history",
        "margin",
    ],
)
def test_forecast_settings_check_their_ranges(config: PlannerConfig, part, changes, match) -> None:
    with pytest.raises(ConfigError, match=match):
        dataclasses.replace(getattr(config.forecast, part), **changes)


# --- real data ---------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_small_backtest_on_the_met_ward_series(met_inputs) -> None:
    monthly = monthly_harm(met_inputs.ingest.ward_counts)
    assert monthly.shape[0] > 600 and monthly.shape[1] > 150
    table = backtest(monthly, estimator=HarmForecaster(**FAST), n_origins=2, mean_years=MEAN_YEARS)
    assert list(table.columns) == COLUMNS
    assert len(table) == 3 * len(METHODS)
    assert (table["n_wards"] == monthly.shape[0]).all()
    metrics = table[["wape", "mae", "bias", "wape_total", "mae_total", "corr_harm"]].to_numpy()
    assert np.isfinite(metrics).all()
    found = verdict(table, shipped_config().forecast)
    assert set(found.to_dict()) >= {"beats_all", "comparisons", "wape_total", "explanation"}


@pytest.mark.integration
@pytest.mark.slow
def test_the_verdict_on_the_default_dataset(real_config) -> None:
    """What `planner score --forecast` decides on met-2022, consistent with its own table."""
    from planner import api
    from planner.scenario import Scenario

    inputs = api.prepare(real_config, Scenario.from_config(real_config).changed(use_forecast=True))
    found, table = inputs.verdict, inputs.backtest
    assert found is not None and table is not None
    logging.getLogger(__name__).info("met-2022 forecast verdict: %s", found.explanation)
    per_origin = table[table["origin"] != "all"]
    assert list(per_origin.columns) == COLUMNS
    assert set(per_origin["method"]) == set(METHODS)
    assert (
        found.n_origins == per_origin["origin"].nunique() == real_config.forecast.backtest.n_origins
    )
    margin = real_config.forecast.verdict.margin_pp
    for name, metric in BASELINES.items():  # recompute the rule from the table
        wide = per_origin.pivot(index="origin", columns="method", values=metric)
        gain = (wide[name] - wide["model"]) * 100
        c = found.comparisons[name]
        assert c.metric == metric and c.n_origins == len(wide)
        assert c.origins_won == int((gain >= margin).sum())
        assert c.beaten is (c.origins_won > len(wide) / 2)
        assert c.gain_pp == pytest.approx(gain.mean())
        assert c.model == pytest.approx(wide["model"].mean())
        assert c.baseline_value == pytest.approx(wide[name].mean())
        assert (("did not beat " if not c.beaten else "beat ") + c.label) in found.explanation
    assert found.beats_all is all(c.beaten for c in found.comparisons.values())
    # the forecast is in the need index exactly when the verdict says so
    assert bool(inputs.forecast) is found.beats_all
    assert inputs.forecast_note == ("" if found.beats_all else f"not used: {found.explanation}")
    reasons = api.absent_reasons(inputs)
    if found.beats_all:
        assert "forecast" not in reasons
    else:
        assert reasons["forecast"] == f"not used: the backtest's model {found.summary}"
    # the three baselines share London's level (one bias); the forecast mostly repeats harm
    means = table[table["origin"] == "all"].set_index("method")
    assert np.allclose(means["bias"], means.loc["model", "bias"])
    np.testing.assert_allclose(per_origin.query("method == 'last12'")["corr_harm"], 1.0)
    assert 0.9 < found.corr_harm["model"] <= 1.0
    assert f"correlates {found.corr_harm['model']:.3f}" in found.explanation
