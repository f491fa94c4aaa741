"""Per-ward features for a chosen window: harm, counts, ASB, rates and trend.

Every measure is a Series or DataFrame indexed by ``ward_code`` and aligned to the ward index
passed in (momepy style): every ward appears, wards without crime get zeros, ward codes in
ward_counts that are not in the index are ignored. Everything reads only the canonical
ward_counts table (:data:`planner.schema.WARD_COUNTS_COLUMNS`) and is vectorised: rows are
turned into integer positions once and summed with :func:`numpy.bincount`; Python loops run
over category levels and configuration entries, never over rows.

Harm weights come from ``config/harm.toml`` (``config.harm``). A row is weighted by its
subcategory where ``"Category | subcategory"`` is configured (the Met files carry minor
categories, so each ward is weighted by its own offence mix), else by its category. ASB is
never added into harm; proactively detected categories are included, down-weighted or excluded.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from planner import schema as s
from planner.config import HarmIndex, HarmSettings
from planner.errors import ConfigError, DataError, PlannerWarning

__all__ = [
    "DEFAULT_PRIOR_COUNT",
    "HarmIndex",
    "HarmSettings",
    "WardFeatures",
    "Window",
    "area_km2",
    "asb",
    "category_counts",
    "default_window",
    "harm",
    "harm_by_category",
    "monthly_counts",
    "monthly_harm",
    "per_1000",
    "per_km2",
    "row_harm_weights",
    "trend",
    "ward_features",
]

DEFAULT_PRIOR_COUNT = 10.0
"""Pseudo-count k added to both windows in ``crimes_change_shrunk = (a + k) / (b + k) - 1``.

Ten crimes is a small prior next to a typical London ward-year (hundreds to thousands of
crimes), so large wards keep their raw change, while a ward going from 2 to 4 shows +17 %
rather than +100 %. A planning choice, not a published constant."""

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_TREND_COLUMNS = (
    "crimes_last", "crimes_prior", "crimes_change_shrunk", "crimes_z", "crimes_p",
    "harm_last", "harm_prior", "harm_z", "harm_p", "direction",
)  # fmt: skip


# --- the window ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A run of whole months, ``start`` to ``end`` inclusive (``"YYYY-MM"``)."""

    start: str
    end: str

    def __post_init__(self) -> None:
        bad = [v for v in (self.start, self.end) if not (isinstance(v, str) and _MONTH.match(v))]
        if bad:
            raise ConfigError(f"window months must be 'YYYY-MM', found {bad!r}")
        if self.start > self.end:
            raise ConfigError(f"window start {self.start} is after its end {self.end}")

    @classmethod
    def ending(cls, end: str, *, months: int = 12) -> Window:
        """The window of *months* months ending with *end*."""
        if months < 1:
            raise ConfigError(f"a window needs at least 1 month, found {months}")
        return cls(_label(_index(end) - months + 1), end)

    @property
    def months(self) -> list[str]:
        return [_label(i) for i in range(_index(self.start), _index(self.end) + 1)]

    @property
    def label(self) -> str:
        return f"{self.start} to {self.end}"

    def __len__(self) -> int:
        return _index(self.end) - _index(self.start) + 1

    def previous(self) -> Window:
        """The window of the same length just before this one."""
        return Window.ending(_label(_index(self.start) - 1), months=len(self))


def default_window(ward_counts: pd.DataFrame, *, months: int = 12) -> Window:
    """The last *months* months of the data (the Met files carry complete months only).

    Raises
    ------
    DataError
        The data span fewer than *months* months (both numbers are named).
    """
    present = _observed_months(ward_counts)
    if not present:
        raise DataError("ward_counts has no rows, so no window can be chosen; run ingest first")
    span = _index(present[-1]) - _index(present[0]) + 1
    if span < months:
        raise DataError(
            f"a {months}-month window needs {months} months of data, but ward_counts covers "
            f"{span} ({present[0]} to {present[-1]}); choose months <= {span} or add data"
        )
    window = Window.ending(present[-1], months=months)
    gaps = sorted(set(window.months) - set(present))
    if gaps:
        warnings.warn(
            f"window {window.label}: no rows at all for {', '.join(gaps)}", PlannerWarning, 2
        )
    return window


# --- harm settings -------------------------------------------------------------------------


# --- rows -> arrays (done once per call) ----------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    wards: pd.Index
    ward: np.ndarray  # position in wards, -1 = not a ward of the index
    category: np.ndarray  # position in schema.CATEGORIES, -1 = unknown
    month: np.ndarray  # months since year 0
    count: np.ndarray  # float64


def _rows(ward_counts: pd.DataFrame, wards: Any) -> _Rows:
    index = wards.index if isinstance(wards, pd.DataFrame) else pd.Index(wards)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise DataError(f"the ward index has duplicate codes (e.g. {dup}); one row per ward")
    ward_codes, ward_levels = _codes(ward_counts[s.WARD_CODE])
    cat_codes, cat_levels = _codes(ward_counts[s.CATEGORY])
    month_codes, month_levels = _codes(ward_counts[s.MONTH])
    bad = [str(m) for m in month_levels if not _MONTH.match(str(m))][:5]
    if bad or (month_codes < 0).any():
        raise DataError(f"ward_counts month must be 'YYYY-MM' in every row; found {bad or 'NaN'}")
    ward_pos = np.append(index.get_indexer(pd.Index(ward_levels)), -1)
    cat_pos = np.append(pd.Index(s.CATEGORIES).get_indexer(pd.Index(cat_levels)), -1)
    month_idx = np.array([_index(str(m)) for m in month_levels], dtype=np.int64)
    return _Rows(
        wards=index,
        ward=ward_pos[ward_codes],
        category=cat_pos[cat_codes],
        month=month_idx[month_codes],
        count=ward_counts[s.COUNT].to_numpy(dtype=np.float64),
    )


def _codes(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Integer codes (-1 for missing) and the levels they point to."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), list(values.cat.categories)
    codes, levels = pd.factorize(values)
    return codes, list(levels)


def _in_window(rows: _Rows, window: Window) -> np.ndarray:
    return (rows.month >= _index(window.start)) & (rows.month <= _index(window.end))


def _table(rows: _Rows, cols: np.ndarray, ncols: int, values: np.ndarray, mask: Any = True):
    """Sum *values* into a wards x ncols array (rows outside wards or columns are ignored)."""
    ok = (rows.ward >= 0) & (cols >= 0) & mask
    flat = rows.ward[ok] * ncols + cols[ok]
    n = len(rows.wards)
    return np.bincount(flat, weights=values[ok], minlength=n * ncols).reshape(n, ncols)


def _frame(table: np.ndarray, rows: _Rows, columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(table, index=rows.wards, columns=list(columns))
    frame.index.name = s.WARD_CODE
    frame.columns.name = None
    return frame


# --- harm and counts -------------------------------------------------------------------------


def row_harm_weights(
    ward_counts: pd.DataFrame, settings: HarmSettings, *, index: str | None = None
) -> np.ndarray:
    """The harm weight of one incident of each ward_counts row.

    The subcategory weight where ``"Category | subcategory"`` is configured, else the category
    weight; ASB rows 0; proactive categories times the proactive multiplier.

    Raises
    ------
    DataError
        A row's category has no weight (not one of the 14 police.uk categories).
    """
    cat_codes, cat_levels = _codes(ward_counts[s.CATEGORY])
    sub_codes, sub_levels = _codes(ward_counts[s.SUBCATEGORY])
    idx = settings.indices[index or settings.index]
    unknown = [c for c in cat_levels if c != s.ASB and c not in idx.categories]
    if unknown or (cat_codes < 0).any():
        raise DataError(
            f"ward_counts has categories without a {idx.key} harm weight: "
            f"{unknown or ['(missing)']}; expected the 14 police.uk categories"
        )
    base = np.array(
        [0.0 if c == s.ASB else idx.categories[c] * settings.multiplier(c) for c in cat_levels]
    )
    table = np.repeat(base[:, None], len(sub_levels) + 1, axis=1)  # last column: no subcategory
    cat_at = {c: i for i, c in enumerate(cat_levels)}
    sub_at = {" ".join(str(x).split()).casefold(): j for j, x in enumerate(sub_levels)}
    for (cat, sub), weight in idx.subcategories.items():
        if cat in cat_at and sub in sub_at:
            table[cat_at[cat], sub_at[sub]] = weight * settings.multiplier(cat)
    return table[cat_codes, sub_codes]  # sub code -1 picks the last column


def category_counts(ward_counts: pd.DataFrame, window: Window, *, wards: Any) -> pd.DataFrame:
    """Counts per ward (rows, every ward of *wards*) and each of the 14 categories (columns)."""
    return _by_category(_rows(ward_counts, wards), window, None, s.CATEGORIES)


def harm_by_category(
    ward_counts: pd.DataFrame,
    window: Window,
    *,
    wards: Any,
    settings: HarmSettings,
    index: str | None = None,
) -> pd.DataFrame:
    """Harm (index units, e.g. days) per ward and crime category in *window*."""
    weights = row_harm_weights(ward_counts, settings, index=index)
    return _by_category(_rows(ward_counts, wards), window, weights, s.CRIME_CATEGORIES)


def harm(
    ward_counts: pd.DataFrame,
    window: Window,
    *,
    wards: Any,
    settings: HarmSettings,
    index: str | None = None,
) -> pd.Series:
    """Total harm per ward in *window* (ASB never included)."""
    by_cat = harm_by_category(ward_counts, window, wards=wards, settings=settings, index=index)
    return by_cat.sum(axis=1).rename("harm")


def asb(ward_counts: pd.DataFrame, window: Window, *, wards: Any) -> pd.Series | None:
    """ASB incidents per ward in *window*; None when no ASB row falls in the window.

    None means the term is absent from the source (the Met ward files carry no ASB), which is
    not the same as zero incidents: callers must show it as missing, never as 0.
    """
    return _asb(_rows(ward_counts, wards), window)


def _by_category(rows: _Rows, window: Window, weights: Any, columns: Sequence[str]):
    values = rows.count if weights is None else rows.count * weights
    table = _table(rows, rows.category, len(s.CATEGORIES), values, _in_window(rows, window))
    return _frame(table, rows, s.CATEGORIES)[list(columns)]


def _asb(rows: _Rows, window: Window) -> pd.Series | None:
    is_asb = (rows.category == s.CATEGORIES.index(s.ASB)) & _in_window(rows, window)
    if not is_asb.any():
        return None
    table = _table(rows, np.zeros_like(rows.ward), 1, rows.count, is_asb)
    return pd.Series(table[:, 0], index=rows.wards, name="asb")


def monthly_harm(
    ward_counts: pd.DataFrame, settings: HarmSettings, *, wards: Any, index: str | None = None
) -> pd.DataFrame:
    """Harm per ward (rows) and month (columns ``"YYYY-MM"``, every month of the data's range)."""
    weights = row_harm_weights(ward_counts, settings, index=index)
    return _monthly(ward_counts, wards, weights, np.ones(len(ward_counts), dtype=bool))


def monthly_counts(
    ward_counts: pd.DataFrame, *, wards: Any, categories: Sequence[str] | None = None
) -> pd.DataFrame:
    """Counts per ward and month; default the 13 crime categories (ASB excluded)."""
    chosen = s.CRIME_CATEGORIES if categories is None else tuple(categories)
    unknown = sorted(set(chosen) - set(s.CATEGORIES))
    if unknown:
        raise ConfigError(f"unknown categories {unknown}; use names from {s.CATEGORIES}")
    codes, levels = _codes(ward_counts[s.CATEGORY])
    keep = np.append(pd.Index(levels).isin(chosen), False)[codes]
    return _monthly(ward_counts, wards, np.ones(len(ward_counts)), keep)


def _monthly(ward_counts: pd.DataFrame, wards: Any, weights: np.ndarray, keep: np.ndarray):
    rows = _rows(ward_counts, wards)
    if len(rows.month) == 0:
        return _frame(np.zeros((len(rows.wards), 0)), rows, [])
    first = int(rows.month.min())
    n = int(rows.month.max()) - first + 1
    table = _table(rows, rows.month - first, n, rows.count * weights, keep)
    return _frame(table, rows, [_label(first + i) for i in range(n)])


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
    return _trend(_rows(ward_counts, wards), weights, window, prior_count, alpha)


def _trend(rows: _Rows, w: np.ndarray, window: Window, k: float, alpha: float) -> pd.DataFrame:
    prior = window.previous()
    if not len(rows.month) or not (
        rows.month.min() <= _index(prior.start) and _index(window.end) <= rows.month.max()
    ):
        span = (
            f"{_label(rows.month.min())} to {_label(rows.month.max())}"
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
        _table(rows, col, 1, values, _in_window(rows, win) & crime)[:, 0]
        for win in (window, prior)
        for values in (rows.count, harm_w, var_w)
    ]
    a, h1, v1, b, h0, v0 = sums
    out = pd.DataFrame(index=rows.wards)
    out.index.name = s.WARD_CODE
    out["crimes_last"], out["crimes_prior"] = a, b
    out["crimes_change_shrunk"] = (a + k) / (b + k) - 1.0
    out["crimes_z"] = _z(a - b, a + b)
    out["crimes_p"] = _binomial_p(a, b)
    out["harm_last"], out["harm_prior"] = h1, h0
    out["harm_z"] = _z(h1 - h0, v1 + v0)
    out["harm_p"] = 2.0 * stats.norm.sf(np.abs(out["harm_z"].to_numpy()))
    significant = out["crimes_p"].to_numpy() < alpha
    out["direction"] = np.where(
        significant & (a > b), "up", np.where(significant & (a < b), "down", "no clear change")
    )
    return out


def _z(diff: np.ndarray, variance: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(variance > 0, diff / np.sqrt(variance), 0.0)


def _binomial_p(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact two-sided binomial p of a out of a + b at p = 0.5 (1 where a + b = 0).

    For p = 0.5 the distribution is symmetric, so scipy's two-sided rule (sum of outcomes no
    likelier than a) equals 2 * min(P(X <= a), P(X >= a)), capped at 1.
    """
    a, n = np.rint(a), np.rint(a + b)
    lower = stats.binom.cdf(a, n, 0.5)
    upper = stats.binom.sf(a - 1, n, 0.5)
    return np.where(n > 0, np.minimum(1.0, 2.0 * np.minimum(lower, upper)), 1.0)


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
    prior_count: float = DEFAULT_PRIOR_COUNT,
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
    prior_count
        The trend's shrinkage pseudo-count (:data:`DEFAULT_PRIOR_COUNT`).

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
    rows = _rows(ward_counts, wards)
    weights = row_harm_weights(ward_counts, settings)
    by_cat = _by_category(rows, window, weights, s.CRIME_CATEGORIES)
    counts = _by_category(rows, window, None, s.CRIME_CATEGORIES)
    asb_counts = _asb(rows, window)
    index = rows.wards
    pop = pd.Series(np.nan, index=index) if population is None else population.reindex(index)
    pop = pd.to_numeric(pop, errors="coerce").astype(float).rename("population")
    area = area_km2(wards) if hasattr(wards, "geometry") else pd.Series(np.nan, index=index)
    total = by_cat.sum(axis=1).rename("harm")
    crimes = counts.sum(axis=1).rename("crimes")
    try:
        trends = _trend(rows, weights, window, prior_count, 0.05)
    except DataError as exc:
        warnings.warn(f"trend not available: {exc}", PlannerWarning, 2)
        trends = pd.DataFrame(np.nan, index=index, columns=list(_TREND_COLUMNS))
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


# --- months --------------------------------------------------------------------------------


def _index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _observed_months(ward_counts: pd.DataFrame) -> list[str]:
    codes, levels = _codes(ward_counts[s.MONTH])
    used = np.bincount(codes[codes >= 0], minlength=len(levels)) > 0
    return sorted(str(m) for m, u in zip(levels, used, strict=True) if u)
