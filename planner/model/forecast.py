"""Ward harm forecast: a direct multi-horizon scikit-learn estimator of monthly ward harm.

Input everywhere is *monthly*: a wide DataFrame of monthly harm (days of custody), index
``ward_code``, columns consecutive months ``"YYYY-MM"`` in order, zeros filled (what
``planner.model.harm.monthly_harm`` produces). Nothing here knows how harm was weighted.

:class:`HarmForecaster` follows the scikit-learn estimator contract. ``fit`` turns every
usable origin of the history into training rows, one per ward x origin x horizon ``h``
(direct multi-horizon: one model, ``h`` a feature, no recursion). The features of a row are
the ward's harm at lags 1..``lags``, its 3/6/12-month means, the mean of the year before,
its long-run mean, the same month one and two years before the target month, the ward's
level (``log1p`` of its 12-month mean), ``h`` and the target month of year.

Per-ward scale. Every harm feature and the target are divided by the ward's trailing
12-month mean + 1 (its *scale*) and predictions are multiplied back. The model then learns
shapes ("a spike three months ago", "a rising year") that transfer between a ward of
500 and a ward of 50,000 days a month, and with ``weighting="equal"`` (the default) no
ward dominates the loss because of its size. ``weighting="harm"`` weighs each row by the
scale instead, which makes the Poisson deviance that of the unscaled harm.

London anchor. Harm across London moves with things no ward history predicts (recording
practice, lockdowns); on the backtest origins kept for choosing settings (2014-2017, before
the reported ones) the model's own London level was worse than persistence while its split
between wards was better. With ``anchor="london"`` (the default) the forecasts are rescaled
so that London's total equals its last 12 months: the model decides only how that harm is
shared between wards and months.

The need index takes the 12-month total (:meth:`HarmForecaster.predict_total`), and may
use it only if :func:`planner.model.backtest.backtest` / :func:`~planner.model.backtest.verdict`
show the model beating all three baselines (the last 12 months, seasonal naive month by month,
a London-anchored multi-year mean) by the configured margin at more than half the origins.

Also here: :func:`forecaster` (the estimator and backtest options of ``config/forecast.toml``)
and the checks of the monthly table that the backtest shares (:func:`monthly_array`,
:func:`month_labels`).

The module runs over 400 lines because :class:`HarmForecaster` is one estimator whose
documented parameters and steps take most of it, and its feature builder (``_features``)
stays beside the model that defines what the features mean.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from planner.config import ForecastSettings
from planner.errors import ConfigError
from planner.model.window import month_labels, monthly_array

__all__ = [
    "FORECAST_HARM",
    "MODELS",
    "HarmForecaster",
    "forecaster",
    "month_labels",
    "monthly_array",
]

log = logging.getLogger(__name__)

FORECAST_HARM = "forecast_harm"
MODELS = ("hgb_poisson", "poisson_glm")
WEIGHTINGS = ("equal", "harm")
ANCHORS = ("london", "none")
_MIN_HISTORY = 24  # the mean of the year before and "same month two years ago" need 24 months


class HarmForecaster(RegressorMixin, BaseEstimator):
    """Forecast each ward's monthly harm over the next ``horizon`` months.

    Parameters
    ----------
    model
        ``"hgb_poisson"`` (HistGradientBoostingRegressor, Poisson loss) or ``"poisson_glm"``
        (PoissonRegressor on standardised ``log1p`` features).
    lags
        Monthly lags used as features (1..24).
    horizon
        Months forecast from the last month of the data.
    long_run
        Months in the ward's long-run mean (fewer where the history is shorter, so that
        ``long_run`` does not lengthen the history a forecast needs).
    weighting
        ``"equal"``: every training row weighs the same (on the per-ward scale);
        ``"harm"``: rows weigh by the ward's scale.
    anchor
        ``"london"``: the forecasts are rescaled so that their sum over all wards equals the
        London (all wards passed) harm of the last 12 months, pro rata to ``horizon``: the
        model shares London's level between wards and months, and the level itself is
        persistence, as in the baselines. ``"none"``: the model's own level.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to HistGradientBoostingRegressor (``l2_regularization`` is the GLM's
        ``alpha``; the others are ignored by the GLM).
    max_rows
        Training rows kept (a seeded random subsample) when the history yields more.
    random_state
        Seed of the subsample and of the gradient boosting.

    Attributes
    ----------
    estimator_
        The fitted scikit-learn regressor (or pipeline).
    feature_names_
        Names of the model features; ``n_features_in_`` is their number.
    last_month_
        The last month of the training data.
    n_training_rows_, fit_seconds_
        Rows the regressor was fitted on, and the wall time of ``fit``.

    Notes
    -----
    ``score`` (from RegressorMixin) is the R² of ``predict(monthly)`` against *y*, the
    next ``horizon`` months in the same shape.
    """

    def __init__(
        self,
        *,
        model: str = "hgb_poisson",
        lags: int = 12,
        horizon: int = 12,
        long_run: int = 36,
        weighting: str = "equal",
        anchor: str = "london",
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 200,
        l2_regularization: float = 1.0,
        max_rows: int = 150_000,
        random_state: int | None = 0,
    ) -> None:
        self.model = model
        self.lags = lags
        self.horizon = horizon
        self.long_run = long_run
        self.weighting = weighting
        self.anchor = anchor
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_rows = max_rows
        self.random_state = random_state

    @property
    def min_history(self) -> int:
        """Months of history a ward needs for one forecast."""
        return max(_MIN_HISTORY, int(self.lags))

    def fit(self, monthly: pd.DataFrame, y: None = None) -> HarmForecaster:
        """Fit on every usable origin of *monthly*.

        Parameters
        ----------
        monthly
            Monthly harm, index ward_code, consecutive ``"YYYY-MM"`` columns.
        y
            Ignored: the targets are the later months of *monthly*.

        Returns
        -------
        HarmForecaster
            self.

        Raises
        ------
        ConfigError
            A parameter is out of range.
        DataError
            *monthly* is not monthly harm, or is too short to give one training row.
        """
        started = time.perf_counter()
        self._check_params()
        values, months = monthly_array(monthly, min_months=self.min_history + 1)
        ward, origin, step = self._training_rows(values.shape)
        features, scale = _features(values, months[0], ward, origin, step, self._spec())
        target = values[ward, origin + step] / scale
        weight = scale / scale.mean() if self.weighting == "harm" else None
        self.estimator_ = self._regressor()
        self.estimator_.fit(self._design(features), target, **self._weight_kw(weight))
        self.feature_names_ = _feature_names(self._spec())
        self.n_features_in_ = len(self.feature_names_)
        self.last_month_ = str(monthly.columns[-1])
        self.n_training_rows_ = len(target)
        self.fit_seconds_ = time.perf_counter() - started
        log.info(
            "HarmForecaster(%s): %d rows from %d wards x %d months, %.1f s",
            self.model,
            len(target),
            *values.shape,
            self.fit_seconds_,
        )
        return self

    def predict(self, monthly: pd.DataFrame) -> pd.DataFrame:
        """Monthly forecasts for the ``horizon`` months after the last month of *monthly*.

        Parameters
        ----------
        monthly
            Monthly harm, at least ``min_history`` months; any wards (the model is shared).

        Returns
        -------
        pandas.DataFrame
            Index ward_code (as *monthly*), one column per future month ``"YYYY-MM"``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        DataError
            *monthly* is not monthly harm or is too short.
        """
        check_is_fitted(self, "estimator_")
        values, months = monthly_array(monthly, min_months=self.min_history)
        n_wards, n_months = values.shape
        ward = np.repeat(np.arange(n_wards), self.horizon)
        origin = np.full(ward.shape, n_months - 1)
        step = np.tile(np.arange(1, self.horizon + 1), n_wards)
        features, scale = _features(values, months[0], ward, origin, step, self._spec())
        pred = np.clip(self.estimator_.predict(self._design(features)), 0, None) * scale
        if self.anchor == "london" and pred.sum() > 0:
            pred *= values[:, -12:].sum() * self.horizon / 12 / pred.sum()
        future = month_labels(months[-1] + 1, self.horizon)
        return pd.DataFrame(
            pred.reshape(n_wards, self.horizon), index=monthly.index, columns=future
        )

    def predict_total(self, monthly: pd.DataFrame) -> pd.Series:
        """The forecast harm summed over the next ``horizon`` months, per ward.

        Returns
        -------
        pandas.Series
            Named ``"forecast_harm"``, indexed like *monthly*.
        """
        return self.predict(monthly).sum(axis=1).rename(FORECAST_HARM)

    # --- private steps ----------------------------------------------------------------

    def _check_params(self) -> None:
        problems = []
        if self.model not in MODELS:
            problems.append(f"model={self.model!r} (use one of {MODELS})")
        if self.weighting not in WEIGHTINGS:
            problems.append(f"weighting={self.weighting!r} (use one of {WEIGHTINGS})")
        if self.anchor not in ANCHORS:
            problems.append(f"anchor={self.anchor!r} (use one of {ANCHORS})")
        if not 1 <= int(self.lags) <= 24:
            problems.append(f"lags={self.lags!r} (use 1..24)")
        if not 1 <= int(self.horizon) <= 24:
            problems.append(f"horizon={self.horizon!r} (use 1..24)")
        if not 12 <= int(self.long_run) <= 120:
            problems.append(f"long_run={self.long_run!r} (use 12..120)")
        if int(self.max_rows) < 1000:
            problems.append(f"max_rows={self.max_rows!r} (use at least 1000)")
        if problems:
            raise ConfigError("HarmForecaster: invalid parameter(s): " + "; ".join(problems))

    def _spec(self) -> tuple[int, int]:
        return int(self.lags), int(self.long_run)

    def _training_rows(self, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
        """(ward, origin, h) of every row with a known target, subsampled to ``max_rows``."""
        n_wards, n_months = shape
        first = self.min_history - 1
        parts = []
        for h in range(1, self.horizon + 1):
            origins = np.arange(first, n_months - h)
            w, o = np.meshgrid(np.arange(n_wards), origins, indexing="ij")
            parts.append(np.stack([w.ravel(), o.ravel(), np.full(w.size, h)]))
        rows = np.concatenate(parts, axis=1)
        if rows.shape[1] > self.max_rows:
            rng = np.random.default_rng(self.random_state)
            rows = rows[:, np.sort(rng.choice(rows.shape[1], self.max_rows, replace=False))]
        return rows[0], rows[1], rows[2]

    def _regressor(self) -> Any:
        if self.model == "hgb_poisson":
            return HistGradientBoostingRegressor(
                loss="poisson",
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                early_stopping=False,
                random_state=self.random_state,
            )
        glm = PoissonRegressor(alpha=self.l2_regularization * 1e-3, max_iter=500)
        return Pipeline([("scale", StandardScaler()), ("glm", glm)])

    def _design(self, features: np.ndarray) -> np.ndarray:
        """The regressor's input: raw features for the trees, a log-linear design for the GLM."""
        if self.model == "hgb_poisson":
            return features
        n_rel = features.shape[1] - 3  # relative harm features, then level, h, month
        month = features[:, -1] * (2 * np.pi / 12)
        return np.column_stack(
            [
                np.log1p(features[:, :n_rel]),
                features[:, n_rel],
                features[:, -2],
                np.sin(month),
                np.cos(month),
            ]
        )

    def _weight_kw(self, weight: np.ndarray | None) -> dict[str, np.ndarray]:
        if weight is None:
            return {}
        return {"sample_weight" if self.model == "hgb_poisson" else "glm__sample_weight": weight}


# --- features ---------------------------------------------------------------------------


def _feature_names(spec: tuple[int, int]) -> list[str]:
    lags, long_run = spec
    return [
        *(f"lag_{k}" for k in range(1, lags + 1)),
        "mean_3",
        "mean_6",
        "mean_12",
        "mean_prev_year",
        f"mean_{long_run}",
        "same_month_1y",
        "same_month_2y",
        "level",
        "horizon",
        "target_month",
    ]


def _features(
    values: np.ndarray,
    first_month: int,
    ward: np.ndarray,
    origin: np.ndarray,
    step: np.ndarray,
    spec: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Features of (ward, origin, h) rows, using months up to each origin only; and the scale.

    Harm features are divided by the scale (trailing 12-month mean + 1).
    """
    lags, long_run = spec
    csum = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)

    def mean(end: np.ndarray, n: int) -> np.ndarray:  # mean of months end-n+1..end
        start = np.maximum(end + 1 - n, 0)
        return (csum[ward, end + 1] - csum[ward, start]) / (end + 1 - start)

    mean_12 = mean(origin, 12)
    scale = mean_12 + 1.0
    same_1y = origin + step - 12 * np.ceil(step / 12).astype(int)
    relative = [
        *(values[ward, origin - k + 1] for k in range(1, lags + 1)),
        mean(origin, 3),
        mean(origin, 6),
        mean_12,
        mean(origin - 12, 12),
        mean(origin, long_run),
        values[ward, same_1y],
        values[ward, same_1y - 12],
    ]
    target_month = (first_month + origin + step) % 12 + 1
    features = np.column_stack(
        [*(r / scale for r in relative), np.log1p(mean_12), step, target_month]
    )
    return features, scale


def forecaster(settings: ForecastSettings) -> tuple[HarmForecaster, dict[str, int]]:
    """The estimator and the backtest options of ``config/forecast.toml``.

    Parameters
    ----------
    settings
        ``config.forecast``.

    Returns
    -------
    tuple
        ``(HarmForecaster, keyword arguments of backtest)``: ``horizon`` and every key of
        ``[backtest]`` (``n_origins``, ``step``, ``min_history``, ``mean_years``). The verdict's
        margin is ``settings.verdict``, read by :func:`planner.model.backtest.verdict`.
    """
    est = HarmForecaster(**settings.model.estimator_params())
    est._check_params()
    return est, {"horizon": est.horizon, **dataclasses.asdict(settings.backtest)}
