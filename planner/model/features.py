"""Per-ward features for a chosen window: rates, trend, and every feature together.

Every measure is a Series or DataFrame indexed by ``ward_code`` and aligned to the ward index
passed in (momepy style): every ward appears, wards without crime get zeros, ward codes in
ward_counts that are not in the index are ignored. Everything reads only the canonical
ward_counts table (:data:`planner.schema.WARD_COUNTS_COLUMNS`) and is vectorised: rows are
turned into integer positions once (:func:`planner.model.window.ward_rows`) and summed with
:func:`numpy.bincount`; Python loops run over category levels and configuration entries, never
over rows. Harm and counts by category are :mod:`planner.model.harm`; the window of months is
:class:`planner.model.window.Window`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import HarmSettings, TrendSettings
from planner.errors import DataError, PlannerWarning
from planner.model.harm import row_harm_weights, rows_asb, rows_by_category
from planner.model.missing import months_present, window_scale
from planner.model.stats import binomial_p
from planner.model.trend import TREND_COLUMNS, harm_trend
from planner.model.window import (
    Rows,
    Window,
    in_window,
    month_index,
    month_label,
    sum_table,
    ward_rows,
)

__all__ = [
    "DEFAULT_PRIOR_COUNT",
    "WardFeatures",
    "area_km2",
    "per_1000",
    "per_km2",
    "trend",
    "ward_features",
]


DEFAULT_PRIOR_COUNT = 10.0
"""Pseudo-count k added to both windows in ``crimes_change_shrunk = (a + k) / (b + k) - 1``.

Ten crimes is a small prior next to a typical London ward-year (hundreds to thousands of
crimes), so large wards keep their raw change, while a ward going from 2 to 4 shows +17 %
rather than +100 %. A planning choice, not a published constant."""

_TREND_COLUMNS = (
    "crimes_last", "crimes_prior", "crimes_change_shrunk", "crimes_z", "crimes_p",
    "harm_last", "harm_prior", "harm_z", "harm_p", "direction",
)  # fmt: skip


# --- geometry and rates ---------------------------------------------------------------------


def area_km2(wards: Any) -> pd.Series:
    """Ward areas in km², computed in British National Grid (EPSG:27700).

    Raises
    ------
    DataError
        The wards have no CRS (the planner never guesses one).
    """
    if wards.crs is None:
        raise DataError("the wards have no CRS, so their areas cannot be measured; set one")
    geoms = (
        wards.geometry if wards.crs.equals(s.WORKING_CRS) else wards.geometry.to_crs(s.WORKING_CRS)
    )
    out = pd.Series(geoms.area.to_numpy() / 1e6, index=wards.index, name="area_km2")
    out.index.name = s.WARD_CODE
    return out


def per_1000(values: pd.Series, population: pd.Series) -> pd.Series:
    """*values* per 1,000 residents; NaN where the population is missing or zero."""
    return _rate(values, population, 1000.0, "per_1000")


def per_km2(values: pd.Series, area: pd.Series) -> pd.Series:
    """*values* per km²; NaN where the area is missing or zero."""
    return _rate(values, area, 1.0, "per_km2")


def _rate(values: pd.Series, base: pd.Series, scale: float, suffix: str) -> pd.Series:
    den = pd.to_numeric(base.reindex(values.index), errors="coerce").astype(float)
    out = values.astype(float) / den.where(den > 0) * scale
    return out.rename(f"{values.name}_{suffix}" if values.name else suffix)


# --- trend ---------------------------------------------------------------------------------


def trend(
    ward_counts: pd.DataFrame,
    window: Window,
    *,
    wards: Any,
    settings: HarmSettings,
    prior_count: float = DEFAULT_PRIOR_COUNT,
    index: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """*window* against the window of the same length before it, so small numbers do not shout.

    Columns: ``crimes_last`` (a), ``crimes_prior`` (b); ``crimes_change_shrunk`` =
    (a + k) / (b + k) - 1 with k = *prior_count* (see :data:`DEFAULT_PRIOR_COUNT`);
    ``crimes_z`` = (a - b) / sqrt(a + b) (0 where a + b = 0); ``crimes_p``, the exact two-sided
    binomial test of a out of a + b at p = 0.5 (:func:`scipy.stats.binomtest`, vectorised);
    ``harm_last`` (H1), ``harm_prior`` (H0); ``harm_z`` = (H1 - H0) / sqrt(sum w² (N1 + N0)), the
    weighted-Poisson z, and its two-sided normal ``harm_p``; ``direction``: "up" or "down" where
    ``crimes_p`` < *alpha*, else "no clear change". Counts exclude ASB.

    Raises
    ------
    DataError
        The data do not cover both windows (from the previous window's start to *window*'s end).
    """
    weights = row_harm_weights(ward_counts, settings, index=index)
    return _trend(ward_rows(ward_counts, wards), weights, window, prior_count, alpha)


def _trend(
    rows: Rows,
    w: np.ndarray,
    window: Window,
    k: float,
    alpha: float,
    present: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The trend columns; *present* (months with data per ward in the window and the one
    before) turns both windows into rates over the months present: a missing month is not a
    fall."""
    from scipy import stats  # here, not at the top: scipy.stats takes ~1 s to import

    prior = window.previous()
    if not len(rows.month) or not (
        rows.month.min() <= month_index(prior.start) and month_index(window.end) <= rows.month.max()
    ):
        span = (
            f"{month_label(rows.month.min())} to {month_label(rows.month.max())}"
            if len(rows.month)
            else "none"
        )
        raise DataError(
            f"the trend of {window.label} needs data from {prior.start} (the previous "
            f"{len(window)} months) to {window.end}, but ward_counts cover {span}"
        )
    crime = (rows.category >= 0) & (rows.category != s.CATEGORIES.index(s.ASB))
    col = np.zeros_like(rows.ward)
    harm_w, var_w = rows.count * w, rows.count * w * w
    sums = [
        sum_table(rows, col, 1, values, in_window(rows, win) & crime)[:, 0]
        for win in (window, prior)
        for values in (rows.count, harm_w, var_w)
    ]
    a, h1, v1, b, h0, v0 = sums
    m1, m0 = present if present is not None else (np.full(len(a), len(window)),) * 2
    f1, f0 = window_scale(m1, window), window_scale(m0, window)
    both = np.isfinite(f1) & np.isfinite(f0)
    f1, f0 = np.where(both, f1, 1.0), np.where(both, f0, 1.0)
    out = pd.DataFrame(index=rows.wards)
    out.index.name = s.WARD_CODE
    out["crimes_last"], out["crimes_prior"] = a * f1, b * f0
    out["crimes_change_shrunk"] = (a * f1 + k) / (b * f0 + k) - 1.0
    out["crimes_z"] = _z(a * f1 - b * f0, a * f1**2 + b * f0**2)
    share = np.where(both & (m1 + m0 > 0), m1 / np.maximum(m1 + m0, 1), 0.5)
    out["crimes_p"] = np.where(both, binomial_p(a, b, share), 1.0)
    out["harm_last"], out["harm_prior"] = h1 * f1, h0 * f0
    out["harm_z"] = np.where(both, _z(h1 * f1 - h0 * f0, v1 * f1**2 + v0 * f0**2), 0.0)
    out["harm_p"] = 2.0 * stats.norm.sf(np.abs(out["harm_z"].to_numpy()))
    a, b = a * f1, b * f0
    significant = out["crimes_p"].to_numpy() < alpha
    out["direction"] = np.where(
        significant & (a > b), "up", np.where(significant & (a < b), "down", "no clear change")
    )
    return out


def _z(diff: np.ndarray, variance: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(variance > 0, diff / np.sqrt(variance), 0.0)


# --- everything together --------------------------------------------------------------------


@dataclass(frozen=True)
class WardFeatures:
    """:func:`ward_features`: the per-ward ``table`` and what it holds."""

    table: pd.DataFrame
    window: Window
    harm_index: str
    asb_present: bool
    trend_available: bool


def ward_features(
    ward_counts: pd.DataFrame,
    wards: Any,
    population: pd.Series | None,
    *,
    window: Window,
    settings: HarmSettings,
    trend: TrendSettings | None = None,
    prior_count: float = DEFAULT_PRIOR_COUNT,
    crime_status: pd.DataFrame | None = None,
    asb_status: pd.DataFrame | None = None,
) -> WardFeatures:
    """Every per-ward feature for *window*, one row per ward of *wards*.

    Parameters
    ----------
    ward_counts
        The canonical table (ward_code, month, category, subcategory, count).
    wards
        GeoDataFrame indexed by ward_code (areas need its geometry); an Index gives NaN areas.
    population
        Residents per ward (:func:`planner.ingest.sources.population.ward_population`), or None.
    window
        The months to measure; the trend compares it with :meth:`Window.previous`.
    settings
        Harm settings (``config.harm``), already set to the index and proactive rule.
    trend
        The tested trend of the need index (``config.need.trend``): adds the columns of
        :func:`planner.model.trend.harm_trend`, the test run over the wards given here.
    prior_count
        The trend's shrinkage pseudo-count (:data:`DEFAULT_PRIOR_COUNT`).
    crime_status, asb_status
        Wards x months, True where the data have crime (ASB) for the ward-month
        (:func:`planner.ingest.coverage.ward_month_status`); None: every ward-month has data.
        A ward-month without data is missing, not zero: volumes, harm and rates are measured
        over the months present and scaled to the window (:mod:`planner.model.missing`), the
        trend compares rates, and ``data_share`` (``asb_data_share``) says how much was present.

    Returns
    -------
    WardFeatures
        ``table``: ``harm``, ``harm: <category>`` (13), ``count: <category>`` (13), ``asb``
        (if present), ``population``, ``area_km2``, ``harm_per_1000``, ``harm_per_km2``,
        ``asb_per_1000`` (if present), ``crimes``, ``crimes_per_1000`` and the :func:`trend`
        columns; with the window, the harm index and whether ASB and the trend are available.
        Without the previous window's data the trend columns are NaN and ``direction`` is
        "not available" (a PlannerWarning says why).
    """
    rows = ward_rows(ward_counts, wards)
    weights = row_harm_weights(ward_counts, settings)
    index = rows.wards
    present = months_present(crime_status, index, window)
    prior_present = months_present(crime_status, index, window.previous())
    scale = window_scale(present, window)
    by_cat = rows_by_category(rows, window, weights, s.CRIME_CATEGORIES).mul(scale, axis=0)
    counts = rows_by_category(rows, window, None, s.CRIME_CATEGORIES).mul(scale, axis=0)
    asb_counts = rows_asb(rows, window)
    asb_share = None
    if asb_counts is not None:
        asb_present = months_present(asb_status, index, window)
        asb_counts = asb_counts * window_scale(asb_present, window)
        asb_share = pd.Series(asb_present / len(window), index=index, name="asb_data_share")
    pop = pd.Series(np.nan, index=index) if population is None else population.reindex(index)
    pop = pd.to_numeric(pop, errors="coerce").astype(float).rename("population")
    area = area_km2(wards) if hasattr(wards, "geometry") else pd.Series(np.nan, index=index)
    total = by_cat.sum(axis=1, min_count=1).rename("harm")
    crimes = counts.sum(axis=1, min_count=1).rename("crimes")
    exposure = (present, prior_present)
    try:
        trends = _trend(rows, weights, window, prior_count, 0.05, exposure)
        if trend is not None:
            tested = harm_trend(
                ward_counts, index, window=window, harm=settings, settings=trend, present=exposure
            )
            trends = trends.join(tested)
    except DataError as exc:
        warnings.warn(f"trend not available: {exc}", PlannerWarning, 2)
        columns = [*_TREND_COLUMNS, *(TREND_COLUMNS if trend is not None else ())]
        trends = pd.DataFrame(np.nan, index=index, columns=columns)
        trends["direction"] = "not available"
    has_asb = asb_counts is not None
    out = pd.concat(
        [
            total,
            by_cat.add_prefix("harm: "),
            counts.add_prefix("count: "),
            *([asb_counts] if has_asb else []),
            pop,
            area.rename("area_km2"),
            per_1000(total, pop),
            per_km2(total, area),
            *([per_1000(asb_counts, pop)] if has_asb else []),
            crimes,
            per_1000(crimes, pop),
            pd.Series(present / len(window), index=index, name="data_share"),
            *([asb_share] if asb_share is not None else []),
            trends,
        ],
        axis=1,
    )
    out.index.name = s.WARD_CODE
    return WardFeatures(
        table=out,
        window=window,
        harm_index=settings.index,
        asb_present=has_asb,
        trend_available=not (trends["direction"] == "not available").any(),
    )
