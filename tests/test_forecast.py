"""Tests of planner.model.forecast: estimator contract, baselines, backtest (no leakage), real data."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from planner.config import PlannerConfig, load_config
from planner.errors import ConfigError, DataError
from planner.model.backtest import (
    METHODS,
    Verdict,
    backtest,
    default_origins,
    last12,
    origin_forecasts,
    seasonal_naive,
    verdict,
)
from planner.model.forecast import FORECAST_HARM, HarmForecaster, forecaster
from tests.factories import CONFIG_DIR, config_copy

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
    "fit_seconds",
]
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


# --- backtest ----------------------------------------------------------------------------


def test_default_origins(series: pd.DataFrame) -> None:
    # 84 months 2015-01..2021-12: the last origin with 12 months after it is 2020-12
    assert default_origins(series, n_origins=None) == ["2017-12", "2018-12", "2019-12", "2020-12"]
    assert default_origins(series, n_origins=2) == ["2019-12", "2020-12"]
    with pytest.raises(DataError, match="84 months; a backtest origin needs 80"):
        default_origins(series, min_history=80)


def test_backtest_table_and_model_beats_seasonal_naive(series: pd.DataFrame) -> None:
    table = backtest(series, estimator=HarmForecaster(**FAST), n_origins=2)
    assert list(table.columns) == COLUMNS
    assert list(table["origin"]) == ["2019-12"] * 3 + ["2020-12"] * 3 + ["all"] * 3
    assert list(table["method"]) == list(METHODS) * 3
    assert np.isfinite(table.drop(columns=["origin", "method", "fit_seconds"]).to_numpy()).all()
    means = table[table["origin"] == "all"].set_index("method")["wape_total"]
    assert means["model"] < means["seasonal_naive"]
    result = verdict(table)
    assert isinstance(result, Verdict)
    assert result.beats_both is True
    assert result.n_origins == 2
    assert "beats both baselines" in result.explanation
    assert result.to_dict()["wape_total"] == result.wape_total


def test_backtest_never_sees_months_after_the_origin(series: pd.DataFrame) -> None:
    origin = "2019-12"
    poisoned = series.copy()
    poisoned.loc[:, "2020-01":] = 1e12
    clean = origin_forecasts(series, origin, estimator=HarmForecaster(**FAST))
    dirty = origin_forecasts(poisoned, origin, estimator=HarmForecaster(**FAST))
    for method in METHODS:
        pd.testing.assert_frame_equal(clean[method], dirty[method])

    seen: list[tuple[str, float]] = []

    class Spy(HarmForecaster):
        def fit(self, monthly, y=None):
            seen.append((str(monthly.columns[-1]), float(monthly.to_numpy().max())))
            return super().fit(monthly, y)

    backtest(poisoned.loc[:, :"2020-12"], estimator=Spy(**FAST), origins=["2018-12", origin])
    assert [month for month, _ in seen] == ["2018-12", origin]
    assert max(peak for _, peak in seen) < 1e12


def test_backtest_rejects_an_origin_without_enough_future(series: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="origin 2021-06: 6 months follow it"):
        backtest(series, origins=["2021-06"], estimator=HarmForecaster(**FAST))


def test_verdict_needs_both_baselines_beaten() -> None:
    rows = [
        ("2020-01", "model", 0.10),
        ("2020-01", "last12", 0.09),
        ("2020-01", "seasonal_naive", 0.12),
        ("all", "model", 0.10),
        ("all", "last12", 0.09),
        ("all", "seasonal_naive", 0.12),
    ]
    table = pd.DataFrame(rows, columns=["origin", "method", "wape_total"]).assign(
        wape=0.2, bias=0.0
    )
    result = verdict(table)
    assert result.beats_both is False
    assert result.origins_won == 0
    assert result.wape_total == {"model": 0.10, "last12": 0.09, "seasonal_naive": 0.12}
    assert result.wape == {"model": 0.2, "last12": 0.2, "seasonal_naive": 0.2}
    assert result.bias == {"model": 0.0, "last12": 0.0, "seasonal_naive": 0.0}
    assert "does not beat both baselines" in result.explanation


# --- configuration -----------------------------------------------------------------------


def test_forecaster_from_repository_config(config: PlannerConfig) -> None:
    est, options = forecaster(config.forecast)
    assert est.get_params()["model"] == "poisson_glm"
    assert options == {"horizon": 12, "n_origins": 8, "step": 12, "min_history": 36}
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
    text = text.replace("\n[model]\n", "\n[model]\nlag = 3\n").replace(
        "\n[backtest]\n", "\n[backtest]\norigins = 2\n"
    )
    path, error = forecast_problems(tmp_path, text)
    assert "2 problem(s)" in error
    assert (
        f"{path} [model]: unknown key 'lag' (did you mean 'lags'?); correct its spelling or "
        "remove it" in error
    )
    assert f"{path} [backtest]: unknown key 'origins'" in error


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
    ],
    ids=["lags", "horizon", "long-run", "max-rows", "min-history"],
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
    table = backtest(monthly, estimator=HarmForecaster(**FAST), n_origins=2)
    assert list(table.columns) == COLUMNS
    assert len(table) == 3 * 3
    assert (table["n_wards"] == monthly.shape[0]).all()
    metrics = table[["wape", "mae", "bias", "wape_total", "mae_total"]].to_numpy()
    assert np.isfinite(metrics).all()
    assert set(verdict(table).to_dict()) >= {"beats_both", "wape_total", "explanation"}
