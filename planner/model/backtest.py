"""Backtest of the ward harm forecast: three baselines, rolling origins and the verdict.

Input is monthly harm as for :mod:`planner.model.forecast` (index ``ward_code``, consecutive
``"YYYY-MM"`` columns). The baselines: :func:`last12` forecasts every month as the mean of the
last 12; :func:`seasonal_naive` as the same month a year earlier (its 12-month total is the
last 12 months', so it differs from :func:`last12` only month by month and is judged on its
monthly WAPE); :func:`london_mean` as the ward's mean over the last few years, scaled to
London's last 12 months (it keeps London's level and shares it between wards by a smoothed,
multi-year history). :func:`backtest` refits a
:class:`~planner.model.forecast.HarmForecaster` at each origin of :func:`default_origins` on
the months up to it only (:func:`origin_forecasts`) and scores every method on the months
after it, with the correlation across wards of its 12-month forecast with the last 12 months'
harm (which the need index already holds as its harm component). :func:`verdict` applies the
rule of ``forecast.toml [verdict]``: the model must beat each baseline by a margin at more
than half the origins, the condition for the need index to use the forecast.

The module runs over 400 lines because the verdict (:class:`Comparison`, :class:`Verdict`,
:func:`verdict`) stays beside the backtest table whose columns it reads; it would move to a
module of its own if it grew.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.config import ForecastSettings
from planner.errors import DataError
from planner.model.window import month_labels, monthly_array

if TYPE_CHECKING:  # scikit-learn is imported where a model is fitted: the app's first page
    # unpickles a Verdict and never fits, and importing sklearn (and scipy) takes ~1.5 s
    from planner.model.forecast import HarmForecaster

__all__ = [
    "ALL",
    "BASELINES",
    "METHODS",
    "Comparison",
    "Verdict",
    "backtest",
    "default_origins",
    "last12",
    "london_mean",
    "origin_forecasts",
    "seasonal_naive",
    "verdict",
]

log = logging.getLogger(__name__)

METHODS = ("model", "last12", "seasonal_naive", "london_mean")
ALL = "all"
BASELINES: dict[str, str] = {
    "last12": "wape_total",
    "seasonal_naive": "wape",
    "london_mean": "wape_total",
}
"""Each baseline and the metric the model is judged against it on: the 12-month ward totals,
except seasonal naive (its totals are the last 12 months'), judged month by month."""
_METRIC_TEXT = {"wape_total": "WAPE of the 12-month ward totals", "wape": "monthly WAPE"}


# --- baselines --------------------------------------------------------------------------


def last12(monthly: pd.DataFrame, origin: str | None = None, *, horizon: int = 12) -> pd.DataFrame:
    """Each future month forecast as the mean of the 12 months up to *origin*.

    Parameters
    ----------
    monthly
        Monthly harm (months after *origin* are ignored).
    origin
        The last observed month ``"YYYY-MM"``; default the last column.
    horizon
        Months forecast.

    Returns
    -------
    pandas.DataFrame
        Index ward_code, one column per month after *origin*.
    """
    values, months = monthly_array(_history(monthly, origin), min_months=12)
    pred = np.repeat(values[:, -12:].mean(axis=1, keepdims=True), horizon, axis=1)
    return pd.DataFrame(pred, index=monthly.index, columns=month_labels(months[-1] + 1, horizon))


def seasonal_naive(
    monthly: pd.DataFrame, origin: str | None = None, *, horizon: int = 12
) -> pd.DataFrame:
    """Each future month forecast as the same month a year earlier (the latest one observed).

    Parameters and returns as :func:`last12`.
    """
    values, months = monthly_array(_history(monthly, origin), min_months=12)
    n = values.shape[1]
    step = np.arange(1, horizon + 1)
    source = n - 1 + step - 12 * np.ceil(step / 12).astype(int)
    return pd.DataFrame(
        values[:, source], index=monthly.index, columns=month_labels(months[-1] + 1, horizon)
    )


def london_mean(
    monthly: pd.DataFrame, origin: str | None = None, *, horizon: int = 12, years: int
) -> pd.DataFrame:
    """Each future month forecast as the ward's multi-year mean, scaled to London's last year.

    With ``H[w, t]`` the harm of ward *w* in month *t*, ``n = 12 * years`` and *T* the origin,
    every future month of ward *w* is forecast as ::

        mean_n(w) * mean_12(London) / mean_n(London)

    where ``mean_k(w)`` is the mean of ``H[w, T-k+1 .. T]`` and ``London`` is the sum over
    the wards of *monthly*: each ward's share of London's last *n* months of harm, times
    London's mean monthly harm of the last 12 months. The London total is therefore that of
    :func:`last12` (and of the model's London anchor); only the split between wards differs.

    Parameters
    ----------
    monthly, origin, horizon
        As :func:`last12`.
    years
        Years in the mean (``forecast.toml [backtest] mean_years``).

    Raises
    ------
    DataError
        Fewer than ``12 * years`` months up to *origin*.
    """
    n = 12 * int(years)
    values, months = monthly_array(_history(monthly, origin), min_months=n)
    ward_mean = values[:, -n:].mean(axis=1)
    london_n, london_12 = values[:, -n:].sum() / n, values[:, -12:].sum() / 12
    factor = london_12 / london_n if london_n > 0 else 0.0
    pred = np.repeat((ward_mean * factor)[:, None], horizon, axis=1)
    return pd.DataFrame(pred, index=monthly.index, columns=month_labels(months[-1] + 1, horizon))


# --- backtest ---------------------------------------------------------------------------


def default_origins(
    monthly: pd.DataFrame,
    *,
    horizon: int = 12,
    n_origins: int | None = 8,
    step: int = 12,
    min_history: int = 36,
) -> list[str]:
    """Backtest origins: every *step* months back from the last with *horizon* months after it.

    Parameters
    ----------
    monthly
        Monthly harm.
    horizon
        Months that must follow each origin.
    n_origins
        Keep the latest *n_origins* (``None``: all).
    step
        Months between origins.
    min_history
        Months of history the earliest origin needs (itself included).

    Returns
    -------
    list of str
        Origins ``"YYYY-MM"``, oldest first.

    Raises
    ------
    DataError
        The series is too short for one origin.
    """
    n = monthly.shape[1]
    last = n - 1 - horizon
    positions = list(range(last, min_history - 2, -step))[::-1]
    if not positions:
        raise DataError(
            f"monthly harm has {n} months; a backtest origin needs {min_history} months of "
            f"history and {horizon} after it ({min_history + horizon} in all)"
        )
    if n_origins is not None:
        positions = positions[-n_origins:]
    return [str(monthly.columns[p]) for p in positions]


def origin_forecasts(
    monthly: pd.DataFrame,
    origin: str,
    *,
    mean_years: int,
    estimator: HarmForecaster | None = None,
    horizon: int = 12,
) -> dict[str, pd.DataFrame]:
    """Fit a clone of *estimator* on the months up to *origin* and forecast, with the baselines.

    Only ``monthly`` up to and including *origin* is passed to fit, predict and the
    baselines: the months after it are never seen. *mean_years* is :func:`london_mean`'s.

    Returns
    -------
    dict
        ``{"model": ..., "last12": ..., "seasonal_naive": ..., "london_mean": ...}``, each a
        DataFrame of the *horizon* months after *origin*.
    """
    from sklearn.base import clone

    from planner.model.forecast import HarmForecaster

    history = _history(monthly, origin)
    est = clone(estimator if estimator is not None else HarmForecaster()).set_params(
        horizon=horizon
    )
    return {
        "model": est.fit(history).predict(history),
        "last12": last12(history, horizon=horizon),
        "seasonal_naive": seasonal_naive(history, horizon=horizon),
        "london_mean": london_mean(history, horizon=horizon, years=mean_years),
    }


def backtest(
    monthly: pd.DataFrame,
    *,
    mean_years: int,
    origins: Sequence[str] | None = None,
    horizon: int = 12,
    estimator: HarmForecaster | None = None,
    n_origins: int | None = 8,
    step: int = 12,
    min_history: int = 36,
) -> pd.DataFrame:
    """Rolling-origin evaluation of the model against the three baselines.

    For each origin the estimator is refitted on the months up to the origin only, and
    every method (:data:`METHODS`) forecasts the *horizon* months after it.

    Parameters
    ----------
    monthly
        Monthly harm.
    mean_years
        Years in the :func:`london_mean` baseline.
    origins
        Origins ``"YYYY-MM"`` (the last observed month); default :func:`default_origins`
        with *n_origins*, *step* and *min_history*.
    horizon
        Months forecast from each origin (the estimator's ``horizon`` is set to it).
    estimator
        Default ``HarmForecaster()``.
    n_origins, step, min_history
        See :func:`default_origins`.

    Returns
    -------
    pandas.DataFrame
        One row per origin and method, then one per method with origin ``"all"`` (the
        mean over origins). Columns: origin, method, n_wards, actual_harm, wape, mae,
        bias, wape_total, mae_total, corr_harm, fit_seconds. ``wape``/``mae``/``bias`` are
        on ward x month values, ``wape_total``/``mae_total`` on the *horizon*-month ward
        totals: WAPE = sum|pred - actual| / sum actual, bias = sum(pred - actual) / sum
        actual. ``corr_harm`` is the Pearson correlation across wards of the method's
        *horizon*-month forecast with the ward's harm of the 12 months up to the origin.

    Raises
    ------
    DataError
        An origin is not a column or has fewer than *horizon* months after it, or fewer
        than ``12 * mean_years`` months up to it.
    """
    monthly_array(monthly, min_months=1)
    if origins is None:
        origins = default_origins(
            monthly, horizon=horizon, n_origins=n_origins, step=step, min_history=min_history
        )
    short = [str(o) for o in origins if _position(monthly, o) + 1 < 12 * mean_years]
    if short:
        raise DataError(
            f"origin(s) {', '.join(short)}: fewer than {12 * mean_years} months up to them, "
            f"which the London-anchored {mean_years}-year mean needs; choose later origins or "
            "fewer mean_years"
        )
    rows = []
    for origin in origins:
        truth = _future(monthly, origin, horizon)
        recent = _history(monthly, origin).iloc[:, -12:].sum(axis=1)
        started = time.perf_counter()
        forecasts = origin_forecasts(
            monthly, origin, mean_years=mean_years, estimator=estimator, horizon=horizon
        )
        seconds = time.perf_counter() - started  # the fit; the baselines take microseconds
        for method, pred in forecasts.items():
            row = {"origin": str(origin), "method": method, **_scores(pred, truth)}
            row["corr_harm"] = _correlation(pred.sum(axis=1), recent)
            row["fit_seconds"] = seconds if method == "model" else np.nan
            rows.append(row)
        log.info(
            "backtest origin %s: WAPE_total %s",
            origin,
            ", ".join(f"{r['method']} {r['wape_total']:.3f}" for r in rows[-len(forecasts) :]),
        )
    table = pd.DataFrame(rows)
    summary = table.groupby("method", sort=False).mean(numeric_only=True).reset_index()
    summary.insert(0, "origin", ALL)
    return pd.concat([table, summary], ignore_index=True)


@dataclass(frozen=True)
class Comparison:
    """The model against one baseline over the backtest origins (part of a :class:`Verdict`).

    ``metric`` is the WAPE it is judged on (:data:`BASELINES`); ``model`` and ``baseline_value``
    are its means over the origins; ``gain_pp`` is the mean of (baseline - model) in
    percentage points (positive: the model is better); ``origins_won`` counts the origins where
    the model was better by at least the margin; ``beaten`` is ``origins_won > n_origins / 2``.
    """

    baseline: str
    label: str
    metric: str
    model: float
    baseline_value: float
    gain_pp: float
    origins_won: int
    n_origins: int
    beaten: bool

    @property
    def judged_on(self) -> str:
        """The metric in words: ``"WAPE of the 12-month ward totals"`` or ``"monthly WAPE"``."""
        return _METRIC_TEXT[self.metric]

    @property
    def sentence(self) -> str:
        """``"beat last 12 months (WAPE of the 12-month ward totals 12.09 % against 13.00 %):
        0.92 pp better on average, by the margin at 7 of 8 origins"``."""
        better = "better" if self.gain_pp >= 0 else "worse"
        return (
            f"{'beat' if self.beaten else 'did not beat'} {self.label} "
            f"({self.judged_on} {self.model:.2%} against {self.baseline_value:.2%}): "
            f"{abs(self.gain_pp):.2f} pp {better} on average, by the margin at "
            f"{self.origins_won} of {self.n_origins} origins"
        ).replace("%", " %")


@dataclass(frozen=True)
class Verdict:
    """What the backtest says of the forecast (:func:`verdict`).

    ``beats_all``: the model beat every baseline (``comparisons``, one :class:`Comparison`
    per baseline) by ``margin_pp`` at more than half of the ``n_origins`` origins
    (``first_origin`` .. ``last_origin``), the condition for the need index to use the
    forecast; ``origins_won``: origins where it beat all of them by the margin at once. Per
    method (:data:`METHODS`) the means over origins of ``wape_total``, ``wape``, ``bias`` and
    ``corr_harm`` (the correlation across wards of the 12-month forecast with the last 12
    months' harm: near 1, the forecast mostly repeats the harm component). ``explanation``
    says it in sentences.
    """

    beats_all: bool
    margin_pp: float
    n_origins: int
    first_origin: str
    last_origin: str
    origins_won: int
    comparisons: dict[str, Comparison]
    wape_total: dict[str, float]
    wape: dict[str, float]
    bias: dict[str, float]
    corr_harm: dict[str, float]
    explanation: str

    @property
    def beaten(self) -> tuple[str, ...]:
        """The baselines the model beat."""
        return tuple(name for name, c in self.comparisons.items() if c.beaten)

    @property
    def summary(self) -> str:
        """One clause: ``"did not beat the London-anchored 3-year mean by 0.5 pp at more than
        half of 8 origins (it beat the last 12 months and seasonal naive)"``."""
        won = [c.label for c in self.comparisons.values() if c.beaten]
        lost = [c.label for c in self.comparisons.values() if not c.beaten]
        rule = f"by {self.margin_pp:g} pp at more than half of {self.n_origins} origins"
        if not lost:
            return f"beat all three baselines {rule}"
        return f"did not beat {' and '.join(lost)} {rule}" + (
            f" (it beat {' and '.join(won)})" if won else ""
        )

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data (for manifests)."""
        return dataclasses.asdict(self)


def verdict(table: pd.DataFrame, settings: ForecastSettings) -> Verdict:
    """Does the model beat all three baselines by the margin at more than half the origins?

    Against :func:`last12` and :func:`london_mean` the model is judged on the WAPE of the
    12-month ward totals, against :func:`seasonal_naive` on the monthly WAPE (:data:`BASELINES`).
    At each origin the model beats a baseline when its WAPE is lower by at least
    ``settings.verdict.margin_pp`` percentage points; it beats the baseline when it does so
    at more than half the origins, and the need index may use the forecast only when it
    beats all three.

    Parameters
    ----------
    table
        A :func:`backtest` table.
    settings
        ``config.forecast`` (the margin, and the years of the London-anchored mean for its
        name).

    Returns
    -------
    Verdict
    """
    margin = settings.verdict.margin_pp
    labels = {
        "last12": "the last 12 months",
        "seasonal_naive": "seasonal naive",
        "london_mean": f"the London-anchored {settings.backtest.mean_years}-year mean",
    }
    per_origin = table[table["origin"] != ALL]
    origins = sorted(per_origin["origin"].unique())
    won_each = {}
    comparisons = {}
    for baseline, metric in BASELINES.items():
        wide = per_origin.pivot(index="origin", columns="method", values=metric)
        gain = (wide[baseline] - wide["model"]) * 100  # percentage points
        won_each[baseline] = gain >= margin - 1e-9
        won = int(won_each[baseline].sum())
        comparisons[baseline] = Comparison(
            baseline=baseline,
            label=labels[baseline],
            metric=metric,
            model=float(wide["model"].mean()),
            baseline_value=float(wide[baseline].mean()),
            gain_pp=float(gain.mean()),
            origins_won=won,
            n_origins=len(wide),
            beaten=won > len(wide) / 2,
        )
    means = per_origin.groupby("method", sort=False).mean(numeric_only=True)
    metrics = {  # corr_harm is absent from tables written before it was measured
        metric: {m: float(means.loc[m, metric]) for m in means.index} if metric in means else {}
        for metric in ("wape_total", "wape", "bias", "corr_harm")
    }
    beats = all(c.beaten for c in comparisons.values())
    return Verdict(
        beats_all=beats,
        margin_pp=float(margin),
        n_origins=len(origins),
        first_origin=origins[0],
        last_origin=origins[-1],
        origins_won=int(pd.concat(won_each.values(), axis=1).all(axis=1).sum()),
        comparisons=comparisons,
        wape_total=metrics["wape_total"],
        wape=metrics["wape"],
        bias=metrics["bias"],
        corr_harm=metrics["corr_harm"],
        explanation=_explanation(beats, margin, origins, comparisons, metrics["corr_harm"]),
    )


def _explanation(
    beats: bool,
    margin: float,
    origins: list[str],
    comparisons: dict[str, Comparison],
    corr: dict[str, float],
) -> str:
    outcome = (
        "it beat all three, so the need index uses the forecast"
        if beats
        else "it did not beat all three, so the need index does not use the forecast"
    )
    return (
        f"Backtest at {len(origins)} rolling origins ({origins[0]} to {origins[-1]}); the model "
        f"must be at least {margin:g} pp of WAPE better than each baseline at more than half "
        f"of them. The model "
        + "; ".join(c.sentence for c in comparisons.values())
        + f": {outcome}."
        + (
            f" Across wards its 12-month forecast correlates {corr['model']:.3f} with the last "
            "12 months' harm, the need index's harm component: the closer to 1, the more the "
            "forecast component only adds weight to harm."
            if "model" in corr
            else ""
        )
    )


# --- helpers ----------------------------------------------------------------------------


def _history(monthly: pd.DataFrame, origin: str | None) -> pd.DataFrame:
    if origin is None:
        return monthly
    return monthly.iloc[:, : _position(monthly, origin) + 1]


def _future(monthly: pd.DataFrame, origin: str, horizon: int) -> pd.DataFrame:
    pos = _position(monthly, origin)
    if pos + horizon >= monthly.shape[1]:
        raise DataError(
            f"origin {origin}: {monthly.shape[1] - 1 - pos} months follow it in the data "
            f"(last {monthly.columns[-1]}), {horizon} needed to score a forecast"
        )
    return monthly.iloc[:, pos + 1 : pos + 1 + horizon]


def _position(monthly: pd.DataFrame, origin: str) -> int:
    labels = [str(c) for c in monthly.columns]
    if str(origin) not in labels:
        raise DataError(
            f"origin {origin!r} is not a month of the data ({labels[0]}..{labels[-1]})"
            if labels
            else f"origin {origin!r}: the monthly harm table has no months"
        )
    return labels.index(str(origin))


def _correlation(a: pd.Series, b: pd.Series) -> float:
    """Pearson correlation of two ward series (NaN when either is constant)."""
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _scores(pred: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    if list(pred.columns) != list(truth.columns) or not pred.index.equals(truth.index):
        raise DataError("forecast and actual months or wards differ")  # a bug, not user data
    p, a = pred.to_numpy(), truth.to_numpy()
    actual = a.sum()
    denom = actual if actual > 0 else np.nan
    total_err = p.sum(axis=1) - a.sum(axis=1)
    return {
        "n_wards": int(a.shape[0]),
        "actual_harm": float(actual),
        "wape": float(np.abs(p - a).sum() / denom),
        "mae": float(np.abs(p - a).mean()),
        "bias": float((p - a).sum() / denom),
        "wape_total": float(np.abs(total_err).sum() / denom),
        "mae_total": float(np.abs(total_err).mean()),
    }
