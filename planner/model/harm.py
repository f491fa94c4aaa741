"""Harm and counts per ward: each row's harm weight, harm and counts by category, ASB, months.

Harm weights come from ``config/harm.toml`` (``config.harm``). A row is weighted by its
subcategory where ``"Category | subcategory"`` is configured (the Met files carry minor
categories, so each ward is weighted by its own offence mix), else by its category. ASB is
never added into harm; proactively detected categories are included, down-weighted or excluded.

Every measure is aligned to the ward index passed in, as in :mod:`planner.model.features`
(every ward appears, wards without crime get zeros, other ward codes are ignored), and is
summed from :func:`planner.model.window.ward_rows` with :func:`numpy.bincount`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import HarmIndex, HarmSettings
from planner.errors import ConfigError, DataError
from planner.model.window import (
    Rows,
    Window,
    in_window,
    level_codes,
    month_label,
    sum_table,
    ward_frame,
    ward_rows,
)

__all__ = [
    "HarmIndex",
    "HarmSettings",
    "asb",
    "category_counts",
    "harm",
    "harm_by_category",
    "monthly_counts",
    "monthly_harm",
    "row_harm_weights",
    "rows_asb",
    "rows_by_category",
]


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
    cat_codes, cat_levels = level_codes(ward_counts[s.CATEGORY])
    sub_codes, sub_levels = level_codes(ward_counts[s.SUBCATEGORY])
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
    return rows_by_category(ward_rows(ward_counts, wards), window, None, s.CATEGORIES)


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
    return rows_by_category(ward_rows(ward_counts, wards), window, weights, s.CRIME_CATEGORIES)


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
    return rows_asb(ward_rows(ward_counts, wards), window)


def rows_by_category(rows: Rows, window: Window, weights: Any, columns: Sequence[str]):
    """Counts (times *weights*, unless None) per ward and category of *columns* in *window*."""
    values = rows.count if weights is None else rows.count * weights
    table = sum_table(rows, rows.category, len(s.CATEGORIES), values, in_window(rows, window))
    return ward_frame(table, rows, s.CATEGORIES)[list(columns)]


def rows_asb(rows: Rows, window: Window) -> pd.Series | None:
    """ASB incidents per ward in *window*, None without ASB rows (see :func:`asb`)."""
    is_asb = (rows.category == s.CATEGORIES.index(s.ASB)) & in_window(rows, window)
    if not is_asb.any():
        return None
    table = sum_table(rows, np.zeros_like(rows.ward), 1, rows.count, is_asb)
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
    codes, levels = level_codes(ward_counts[s.CATEGORY])
    keep = np.append(pd.Index(levels).isin(chosen), False)[codes]
    return _monthly(ward_counts, wards, np.ones(len(ward_counts)), keep)


def _monthly(ward_counts: pd.DataFrame, wards: Any, weights: np.ndarray, keep: np.ndarray):
    rows = ward_rows(ward_counts, wards)
    if len(rows.month) == 0:
        return ward_frame(np.zeros((len(rows.wards), 0)), rows, [])
    first = int(rows.month.min())
    n = int(rows.month.max()) - first + 1
    table = sum_table(rows, rows.month - first, n, rows.count * weights, keep)
    return ward_frame(table, rows, [month_label(first + i) for i in range(n)])
