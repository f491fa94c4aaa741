"""The window of months, and ward_counts as integer arrays: what every per-ward measure sums.

A :class:`Window` is a run of whole months; :func:`default_window` picks the last months of the
data. :func:`ward_rows` turns the canonical ward_counts table
(:data:`planner.schema.WARD_COUNTS_COLUMNS`) into integer positions once (ward in the ward
index, category in :data:`planner.schema.CATEGORIES`, month ordinal), so that
:mod:`planner.model.harm` and :mod:`planner.model.features` sum rows with
:func:`numpy.bincount` (:func:`sum_table`) and Python loops run over category levels and
configuration entries, never over rows. Months are ordinals ``year * 12 + month - 1``
(:func:`month_index`, :func:`month_label`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.errors import ConfigError, DataError, PlannerWarning

__all__ = [
    "Rows",
    "Window",
    "default_window",
    "in_window",
    "level_codes",
    "month_index",
    "month_label",
    "month_labels",
    "monthly_array",
    "sum_table",
    "ward_frame",
    "ward_rows",
]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


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
        return cls(month_label(month_index(end) - months + 1), end)

    @property
    def months(self) -> list[str]:
        return [month_label(i) for i in range(month_index(self.start), month_index(self.end) + 1)]

    @property
    def label(self) -> str:
        return f"{self.start} to {self.end}"

    def __len__(self) -> int:
        return month_index(self.end) - month_index(self.start) + 1

    def previous(self) -> Window:
        """The window of the same length just before this one."""
        return Window.ending(month_label(month_index(self.start) - 1), months=len(self))


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
    span = month_index(present[-1]) - month_index(present[0]) + 1
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


# --- rows -> arrays (done once per call) ----------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """ward_counts rows as integer positions (:func:`ward_rows`)."""

    wards: pd.Index
    ward: np.ndarray  # position in wards, -1 = not a ward of the index
    category: np.ndarray  # position in schema.CATEGORIES, -1 = unknown
    month: np.ndarray  # months since year 0
    count: np.ndarray  # float64


def ward_rows(ward_counts: pd.DataFrame, wards: Any) -> Rows:
    """*ward_counts* as positions in *wards* (a GeoDataFrame or codes), categories and months."""
    index = wards.index if isinstance(wards, pd.DataFrame) else pd.Index(wards)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise DataError(f"the ward index has duplicate codes (e.g. {dup}); one row per ward")
    ward_codes, ward_levels = level_codes(ward_counts[s.WARD_CODE])
    cat_codes, cat_levels = level_codes(ward_counts[s.CATEGORY])
    month_codes, month_levels = level_codes(ward_counts[s.MONTH])
    bad = [str(m) for m in month_levels if not _MONTH.match(str(m))][:5]
    if bad or (month_codes < 0).any():
        raise DataError(f"ward_counts month must be 'YYYY-MM' in every row; found {bad or 'NaN'}")
    ward_pos = np.append(index.get_indexer(pd.Index(ward_levels)), -1)
    cat_pos = np.append(pd.Index(s.CATEGORIES).get_indexer(pd.Index(cat_levels)), -1)
    month_idx = np.array([month_index(str(m)) for m in month_levels], dtype=np.int64)
    return Rows(
        wards=index,
        ward=ward_pos[ward_codes],
        category=cat_pos[cat_codes],
        month=month_idx[month_codes],
        count=ward_counts[s.COUNT].to_numpy(dtype=np.float64),
    )


def level_codes(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Integer codes (-1 for missing) and the levels they point to."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), list(values.cat.categories)
    codes, levels = pd.factorize(values)
    return codes, list(levels)


def in_window(rows: Rows, window: Window) -> np.ndarray:
    """The rows whose month falls in *window*."""
    return (rows.month >= month_index(window.start)) & (rows.month <= month_index(window.end))


def sum_table(rows: Rows, cols: np.ndarray, ncols: int, values: np.ndarray, mask: Any = True):
    """Sum *values* into a wards x ncols array (rows outside wards or columns are ignored)."""
    ok = (rows.ward >= 0) & (cols >= 0) & mask
    flat = rows.ward[ok] * ncols + cols[ok]
    n = len(rows.wards)
    return np.bincount(flat, weights=values[ok], minlength=n * ncols).reshape(n, ncols)


def ward_frame(table: np.ndarray, rows: Rows, columns: Sequence[str]) -> pd.DataFrame:
    """A wards x columns array as a DataFrame indexed by ``ward_code``."""
    frame = pd.DataFrame(table, index=rows.wards, columns=list(columns))
    frame.index.name = s.WARD_CODE
    frame.columns.name = None
    return frame


# --- months --------------------------------------------------------------------------------


def month_index(month: str) -> int:
    """The ordinal of ``"YYYY-MM"``: year * 12 + month - 1."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month_label(index: int) -> str:
    """The ``"YYYY-MM"`` of a month ordinal."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def monthly_array(monthly: pd.DataFrame, *, min_months: int) -> tuple[np.ndarray, np.ndarray]:
    """Check *monthly*; return its values (float) and month ordinals (year * 12 + month - 1)."""
    if not isinstance(monthly, pd.DataFrame):
        raise DataError(
            f"monthly harm should be a DataFrame (index ward_code, 'YYYY-MM' columns), "
            f"got {type(monthly).__name__}"
        )
    labels = [str(c) for c in monthly.columns]
    parsed = pd.to_datetime(pd.Series(labels, dtype=object), format="%Y-%m", errors="coerce")
    problems = []
    if parsed.isna().any():
        bad = [lab for lab, p in zip(labels, parsed.isna(), strict=True) if p]
        problems.append(f"columns not 'YYYY-MM': {bad[:3]}")
    months = (parsed.dt.year * 12 + parsed.dt.month - 1).to_numpy(dtype=float)
    if not parsed.isna().any() and len(months) > 1 and not (np.diff(months) == 1).all():
        gap = int(np.argmax(np.diff(months) != 1))
        problems.append(f"months not consecutive: {labels[gap]} is followed by {labels[gap + 1]}")
    if len(labels) < min_months:
        problems.append(f"{len(labels)} months, at least {min_months} needed")
    try:
        values = monthly.to_numpy(dtype=float)
    except (TypeError, ValueError):
        values = np.full(monthly.shape, np.nan)
    if not np.isfinite(values).all() or (values < 0).any():
        problems.append("values must be finite harm >= 0 (fill missing months with 0)")
    if monthly.index.has_duplicates:
        problems.append(
            f"duplicate {s.WARD_CODE}s, e.g. {monthly.index[monthly.index.duplicated()][0]}"
        )
    if problems:
        raise DataError(f"monthly harm ({monthly.shape[0]} wards): " + "; ".join(problems))
    return values, months.astype(int)


def month_labels(first: int, n: int) -> list[str]:
    """*n* consecutive ``"YYYY-MM"`` labels from month ordinal *first* (year * 12 + month - 1)."""
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(first, first + n)]


def _observed_months(ward_counts: pd.DataFrame) -> list[str]:
    codes, levels = level_codes(ward_counts[s.MONTH])
    used = np.bincount(codes[codes >= 0], minlength=len(levels)) > 0
    return sorted(str(m) for m, u in zip(levels, used, strict=True) if u)
