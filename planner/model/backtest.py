"""Backtest of the ward harm forecast: two naive baselines, rolling origins and the verdict.

Input is monthly harm as for :mod:`planner.model.forecast` (index ``ward_code``, consecutive
``"YYYY-MM"`` columns). :func:`last12` forecasts every month as the mean of the last 12,
:func:`seasonal_naive` as the same month a year earlier. :func:`backtest` refits a
:class:`~planner.model.forecast.HarmForecaster` at each origin of :func:`default_origins` on the
months up to it only (:func:`origin_forecasts`) and scores every method on the months after
it; :func:`verdict` says whether the model beats both baselines on the 12-month ward totals,
the condition for the need index to use the forecast. Note that the two baselines have the
same 12-month total (the last 12 months' harm), so they differ only month by month.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from planner.errors import DataError
from planner.model.forecast import HarmForecaster, month_labels, monthly_array

__all__ = [
    "ALL",
    "METHODS",
    "Verdict",
    "backtest",
    "default_origins",
    "last12",
    "origin_forecasts",
    "seasonal_naive",
    "verdict",
]

log = logging.getLogger(__name__)

METHODS = ("model", "last12", "seasonal_naive")
ALL = "all"


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
    estimator: HarmForecaster | None = None,
    horizon: int = 12,
) -> dict[str, pd.DataFrame]:
    """Fit a clone of *estimator* on the months up to *origin* and forecast, with the baselines.

    Only ``monthly`` up to and including *origin* is passed to fit, predict and the
    baselines: the months after it are never seen.

    Returns
    -------
    dict
        ``{"model": ..., "last12": ..., "seasonal_naive": ...}``, each a DataFrame of the
        *horizon* months after *origin*.
    """
    history = _history(monthly, origin)
    est = clone(estimator if estimator is not None else HarmForecaster()).set_params(
        horizon=horizon
    )
    return {
        "model": est.fit(history).predict(history),
        "last12": last12(history, horizon=horizon),
        "seasonal_naive": seasonal_naive(history, horizon=horizon),
    }


def backtest(
    monthly: pd.DataFrame,
    *,
    origins: Sequence[str] | None = None,
    horizon: int = 12,
    estimator: HarmForecaster | None = None,
    n_origins: int | None = 8,
    step: int = 12,
    min_history: int = 36,
) -> pd.DataFrame:
    """Rolling-origin evaluation of the model against :func:`last12` and :func:`seasonal_naive`.

    For each origin the estimator is refitted on the months up to the origin only, and
    every method forecasts the *horizon* months after it.

    Parameters
    ----------
    monthly
        Monthly harm.
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
        bias, wape_total, mae_total, fit_seconds. ``wape``/``mae``/``bias`` are on
        ward x month values, ``wape_total``/``mae_total`` on the *horizon*-month ward
        totals: WAPE = sum|pred - actual| / sum actual, bias = sum(pred - actual) / sum actual.

    Raises
    ------
    DataError
        An origin is not a column or has fewer than *horizon* months after it.
    """
    monthly_array(monthly, min_months=1)
    if origins is None:
        origins = default_origins(
            monthly, horizon=horizon, n_origins=n_origins, step=step, min_history=min_history
        )
    rows = []
    for origin in origins:
        truth = _future(monthly, origin, horizon)
        started = time.perf_counter()
        forecasts = origin_forecasts(monthly, origin, estimator=estimator, horizon=horizon)
        seconds = time.perf_counter() - started  # the fit; the baselines take microseconds
        for method, pred in forecasts.items():
            row = {"origin": str(origin), "method": method, **_scores(pred, truth)}
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
class Verdict:
    """What the backtest says of the forecast (:func:`verdict`).

    ``beats_both``: the model's mean ``wape_total`` is lower than both baselines';
    ``origins_won``: origins where it beat both; per method (``model``, ``last12``,
    ``seasonal_naive``) the means over origins of ``wape_total``, ``wape`` and ``bias``;
    ``explanation`` says it in a sentence.
    """

    beats_both: bool
    n_origins: int
    origins_won: int
    wape_total: dict[str, float]
    wape: dict[str, float]
    bias: dict[str, float]
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data (for manifests)."""
        return dataclasses.asdict(self)


def verdict(table: pd.DataFrame) -> Verdict:
    """Does the model beat both baselines on the 12-month ward totals?

    Parameters
    ----------
    table
        A :func:`backtest` table.

    Returns
    -------
    Verdict
    """
    means = table[table["origin"] == ALL].set_index("method")
    per_origin = table[table["origin"] != ALL].pivot(
        index="origin", columns="method", values="wape_total"
    )
    totals = means["wape_total"]
    beats = bool(totals["model"] < totals["last12"] and totals["model"] < totals["seasonal_naive"])
    won = int(
        (
            (per_origin["model"] < per_origin["last12"])
            & (per_origin["model"] < per_origin["seasonal_naive"])
        ).sum()
    )
    outcome = (
        "beats both baselines, so the need index may use the forecast"
        if beats
        else "does not beat both baselines, so the need index should not use the forecast"
    )
    explanation = (
        f"Over {len(per_origin)} rolling origins the model's 12-month ward-total WAPE is "
        f"{totals['model']:.1%} against {totals['last12']:.1%} (last 12 months) and "
        f"{totals['seasonal_naive']:.1%} (seasonal naive), winning at {won} of "
        f"{len(per_origin)} origins: it {outcome}."
    )
    metrics = {
        metric: {method: float(means.loc[method, metric]) for method in means.index}
        for metric in ("wape_total", "wape", "bias")
    }
    return Verdict(
        beats_both=beats,
        n_origins=len(per_origin),
        origins_won=won,
        wape_total=metrics["wape_total"],
        wape=metrics["wape"],
        bias=metrics["bias"],
        explanation=explanation,
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
