"""Borough measures shared by the priority evidence and the high-harm basket.

The rows of a window and the window before it, turned once into (borough, period) positions
(:func:`window_rows`) and summed with :func:`numpy.bincount` (:func:`borough_sums`); the
volume, rate per 1,000 residents against the London rate and the trend (shrunk change, exact
binomial test) of those sums (:func:`compare`); and the phrases both sentences use. "London"
is every borough of the scored wards (:func:`scored_boroughs`). Python loops run over
configuration entries, never over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import PrioritySettings, normalise_text
from planner.model.features import per_1000
from planner.model.stats import binomial_p
from planner.model.window import Window

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = [
    "NOT_AVAILABLE",
    "WindowRows",
    "borough_sums",
    "compare",
    "is_split",
    "matches",
    "month_span",
    "no_trend_note",
    "rate_phrase",
    "scored_boroughs",
    "subcategory_mask",
    "than_phrase",
    "window_rows",
]

NOT_AVAILABLE = "not available"


# --- rows in the two windows -----------------------------------------------------------------


@dataclass(frozen=True)
class WindowRows:
    """The rows of a window and the previous one as (borough, period) positions."""

    frame: pd.DataFrame  # the rows of the window and the previous window
    borough: np.ndarray  # position in the borough table, -1 = not a scored ward
    period: np.ndarray  # 0 = window, 1 = previous window
    count: np.ndarray  # float64
    trend: bool  # the data cover both windows
    span: tuple[str, str] | None  # first and last month in the data


def scored_boroughs(inputs: NeedInputs) -> pd.DataFrame:
    """One row per borough of the scored wards: name and resident population."""
    wards = inputs.wards
    pop = pd.to_numeric(inputs.population.reindex(wards.index), errors="coerce")
    table = (
        pd.DataFrame({"name": wards[s.BOROUGH_NAME], "population": pop, "missing": pop.isna()})
        .groupby(wards[s.BOROUGH_CODE], sort=True)
        .agg(name=("name", "first"), population=("population", "sum"), missing=("missing", "sum"))
    )
    table.index.name = s.BOROUGH_CODE
    return table.sort_values("name", kind="stable")


def window_rows(frame: pd.DataFrame, window: Window, inputs: NeedInputs, boroughs: pd.DataFrame):
    """The rows of *frame* in *window* and the window before it, by borough of *boroughs*."""
    months = frame[s.MONTH]
    span = month_span(months)
    part = frame[months.isin(window.previous().months + window.months)]
    ward_borough = boroughs.index.get_indexer(inputs.wards[s.BOROUGH_CODE])
    ward = inputs.wards.index.get_indexer(part[s.WARD_CODE])
    return WindowRows(
        frame=part,
        borough=np.append(ward_borough, -1)[ward],
        period=np.where(part[s.MONTH].isin(window.months), 0, 1),
        count=part[s.COUNT].to_numpy(dtype=np.float64),
        trend=span is not None and span[0] <= window.previous().start and span[1] >= window.end,
        span=span,
    )


def month_span(months: pd.Series) -> tuple[str, str] | None:
    """The first and last month present in *months* (None when empty)."""
    if isinstance(months.dtype, pd.CategoricalDtype):
        codes = months.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(months.cat.categories)) > 0
        levels = months.cat.categories[used].astype(str)
    else:
        levels = pd.Index(months.dropna().astype(str).unique())
    return (min(levels), max(levels)) if len(levels) else None


def borough_sums(
    rows: WindowRows, mask: np.ndarray, n: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Sum counts (times *weights*) of the masked rows into an (n boroughs, 2 periods) array."""
    ok = mask & (rows.borough >= 0)
    values = rows.count if weights is None else rows.count * weights
    flat = rows.borough[ok] * 2 + rows.period[ok]
    return np.bincount(flat, weights=values[ok], minlength=2 * n).reshape(n, 2)


def is_split(rows: WindowRows, category: str) -> bool:
    """Does every record of *category* in the two windows carry a subcategory?"""
    in_cat = (rows.frame[s.CATEGORY] == category).to_numpy()
    subs = rows.frame.loc[in_cat, s.SUBCATEGORY].astype(object).fillna("").astype(str).str.strip()
    return bool(in_cat.any()) and bool((subs != "").all())


def subcategory_mask(rows: WindowRows, category: str, subcategory: str) -> np.ndarray:
    """The rows of *category* whose subcategory reads *subcategory* (normalised)."""
    in_sub = matches(rows.frame[s.SUBCATEGORY], subcategory)
    return ((rows.frame[s.CATEGORY] == category) & in_sub).to_numpy()


def matches(values: pd.Series, name: str) -> pd.Series:
    """Rows whose value reads *name* once spaces are collapsed and case folded."""
    levels = values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else values
    return values.isin(
        [v for v in pd.unique(levels) if isinstance(v, str) and normalise_text(v) == name]
    )


# --- rates and trend (shared by the evidence and the basket) ---------------------------------


def compare(sums: np.ndarray, boroughs: pd.DataFrame, trend: bool, p: PrioritySettings):
    """Volume, rate per 1,000, London rate, ratio and the trend of a (boroughs, 2) array."""
    a, b = sums[:, 0], sums[:, 1]
    out = pd.DataFrame({"volume": a}, index=boroughs.index)
    pop = boroughs["population"].where(boroughs["population"] > 0)
    out["rate_per_1000"] = per_1000(out["volume"], pop).to_numpy()
    has_pop = pop.notna().to_numpy()
    london = a[has_pop].sum() / pop.sum() * 1000.0 if has_pop.any() else np.nan
    out["london_rate_per_1000"] = london
    out["rate_ratio"] = out["rate_per_1000"] / london if london > 0 else np.nan
    out["volume_prior"] = b if trend else np.nan
    test = p.trend
    change = (a + test.prior_count) / (b + test.prior_count) - 1.0
    out["change"] = change if trend else np.nan
    out["p_value"] = binomial_p(a, b) if trend else np.nan
    clear = (out["p_value"] < test.alpha) & (out["change"].abs() >= test.min_change)
    direction = np.where(clear & (a > b), "up", np.where(clear & (a < b), "down", ""))
    out["direction"] = np.where(direction == "", "no clear change", direction)
    if not trend:
        out["direction"] = NOT_AVAILABLE
    return out


def no_trend_note(rows: WindowRows, window: Window) -> str:
    """Why the trend of *window* is not available: the months the data cover."""
    have = f"{rows.span[0]} to {rows.span[1]}" if rows.span else "no months"
    return (
        f"trend not available: the data cover {have}; a change on the previous "
        f"{len(window)} months needs data from {window.previous().start} to {window.end}"
    )


# --- phrases (vectorised over rows) --------------------------------------------------------


def rate_phrase(ratio: pd.Series, volume: pd.Series) -> pd.Series:
    """The rate against London in words ("1.4 times the London rate", "none recorded")."""
    one, whole = ratio.map("{:.1f}".format), ratio.map("{:.0f}".format)
    text = np.select(
        [volume == 0, ratio.isna(), ratio.round(1) == 1.0, ratio >= 9.95],
        [
            "none recorded",
            "rate not known (no population figure)",
            "about the London rate",
            whole + " times the London rate",
        ],
        one + " times the London rate",
    )
    return pd.Series(text, index=ratio.index)


def than_phrase(window: Window) -> str:
    """What the change is measured against ("on last year" for a 12-month window)."""
    return "on last year" if len(window) == 12 else f"on the previous {len(window)} months"
