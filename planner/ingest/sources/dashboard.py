"""The Met Police *MPS Monthly Crime Dashboard*, read into per-ward measures.

The London Datastore publication (long format, Parquet or CSV) holds the high-harm series
(domestic abuse, hate, knife and gun crime) per Safer Neighbourhood Team, i.e. per ward;
:func:`read_mps_dashboard` keeps them as ward measures beside ward_counts, each
``"crime_type | crime_subtype"`` pair mapped through ``[mps.dashboard]`` of
``config/categories.toml``. The reading and checking it shares with the ward-level files of
:mod:`planner.ingest.sources.mps` is :mod:`planner.ingest.sources.mps_tables`.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import CategoryMap, normalise_name
from planner.ingest.sources.base import SourceFrame
from planner.ingest.sources.mps_tables import (
    EXAMPLES,
    distinct,
    numeric_cells,
    pair_codes,
    pair_status,
    raise_problems,
    read_table,
    rejects_frame,
    require_columns,
    show_cells,
    take,
)

__all__ = ["read_mps_dashboard"]

log = logging.getLogger(__name__)

_DASH_REQUIRED = ("month_year", "area_type", "area_code", "crime_type", "crime_subtype")
_DASH_REQUIRED += ("measure", "count")
_DASH_LAYOUT = f"the MPS Monthly Crime Dashboard layout with columns {', '.join(_DASH_REQUIRED)}"
_WARD_LEVEL = "Safer Neighbourhood Teams"
_OFFENCES = "Offences"


def read_mps_dashboard(path: str | Path, *, categories: CategoryMap) -> SourceFrame:
    """Read the MPS Monthly Crime Dashboard into per-ward measures.

    Only ward-level rows (``area_type == "Safer Neighbourhood Teams"``) of
    ``measure == "Offences"`` are records of this source; borough rows and positive
    outcomes are skipped and counted in ``warnings``. Area codes that are not 2022 ward
    codes (``N/K``, ``-1``, blank, non-Met forces, retired wards marked "(NOT ACTIVE)":
    about 0.5 % of the rows but 3-5 % of the offences) are kept, and the non-E05 ones
    reported; the ingest step rejects codes that are not in the ward boundaries.

    Parameters
    ----------
    path
        The dashboard (Parquet or CSV) with columns ``month_year, area_type,
        area_code, crime_type, crime_subtype, measure, count``.
    categories
        ``mps_dashboard`` maps ``"crime_type | crime_subtype"`` to a measure name; an
        empty name excludes the series.

    Returns
    -------
    SourceFrame
        Kind ``"mps_dashboard"``: ``measures`` (``schema.WARD_MEASURES_COLUMNS``, summed
        per ward, month and measure), ``rejects`` (one per row of an unknown or excluded
        series), ``read_by_month`` (ward-level offences read).

    Raises
    ------
    DataError
        The file is missing, empty or not UTF-8; a column is missing; a month or a count
        of a ward-level offence row cannot be read.
    """
    path = Path(path)
    table, is_csv = read_table(path)
    spellings = {c: (c,) for c in _DASH_REQUIRED}
    cols = require_columns(table, path, spellings, _DASH_REQUIRED, _DASH_LAYOUT)
    table = table[list(cols.values())].set_axis(list(cols), axis=1)
    is_ward = _equals(table["area_type"], _WARD_LEVEL)
    is_offence = _equals(table["measure"], _OFFENCES)
    rows = table[is_ward & is_offence]
    row_no = np.flatnonzero(is_ward & is_offence) + 1
    month_code, labels, count = _dashboard_cells(rows, row_no, path, is_csv=is_csv)
    area_no, areas = distinct(rows["area_code"])
    pair_code, pairs = pair_codes(rows["crime_type"], rows["crime_subtype"])
    found = [categories.mps_dashboard.get(normalise_name(p)) for p in pairs]
    unknown, excluded = pair_status(found, pair_code)
    ok = ~(unknown | excluded)
    measure_no, names = pd.factorize(np.array([f or "" for f in found], dtype=object), sort=True)
    measures = _sum_measures(
        (area_no[ok], areas),
        (month_code[ok], labels),
        (measure_no[pair_code[ok]], names),
        count[ok],
    )
    rejects = rejects_frame(
        path,
        source_row=row_no[~ok],
        month=take(labels, month_code[~ok]),
        category=take(pairs, pair_code[~ok]),
        unknown=unknown[~ok],
        count=count[~ok],
        table="mps.dashboard",
    )
    read = pd.Series(np.bincount(month_code, weights=count, minlength=len(labels)), index=labels)
    read.index = read.index.astype("string").rename(s.MONTH)
    frame = SourceFrame(
        kind="mps_dashboard",
        path=str(path),
        measures=measures,
        rejects=rejects,
        read_by_month=read.sort_index().astype("int64"),
        files=[str(path)],
    )
    odd = ~pd.Series(areas, dtype="string").str.fullmatch(r"E05\d{6}").to_numpy(bool)
    notes = _dashboard_warnings(path, table, is_ward, is_offence, areas[odd], odd[area_no])
    frame.warnings.extend(notes)
    log.info("%s: %d ward offence rows, %d offences", path.name, len(rows), int(count.sum()))
    return frame


def _dashboard_cells(
    rows: pd.DataFrame, row_no: np.ndarray, path: Path, *, is_csv: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month codes, month labels and counts of the ward offence rows; problems raised at once."""
    problems: list[str] = []
    month_code, labels = _parse_months(rows["month_year"], row_no, problems, is_csv=is_csv)
    count = numeric_cells(rows["count"], "count", row_no, problems, is_csv=is_csv)
    raise_problems(problems, path, "MPS dashboard file")
    return month_code, labels, count


def _parse_months(
    column: pd.Series, row_no: np.ndarray, problems: list[str], *, is_csv: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``month_year`` (dates or ISO text) as codes into ``YYYY-MM`` labels, parsed once each."""
    code, uniques = pd.factorize(column)
    stamps = pd.to_datetime(pd.Series(uniques), format="ISO8601", errors="coerce")
    bad = np.flatnonzero((code < 0) | stamps.isna().to_numpy()[code])
    if len(bad):
        problems.append(
            "column 'month_year': expected a date such as 2024-01-01, found "
            f"{show_cells(column, bad, row_no, is_csv=is_csv)}; correct those cells"
        )
        return np.zeros(len(column), dtype="int64"), np.array([""], dtype=object)
    month_code, labels = pd.factorize(stamps.dt.strftime("%Y-%m").to_numpy(dtype=object), sort=True)
    now = date.today().strftime("%Y-%m")
    future = [m for m in labels if m > now]
    if future:
        problems.append(
            f"column 'month_year': month(s) in the future ({', '.join(future[:3])}; today is "
            f"{now}); correct those cells"
        )
    return month_code[code], np.asarray(labels, dtype=object)


# --- building the output -------------------------------------------------------------


def _equals(column: pd.Series, value: str) -> np.ndarray:
    """``column.str.strip() == value`` as a bool array, comparing each distinct value once."""
    code, uniques = pd.factorize(column)
    hits = [i for i, u in enumerate(uniques) if str(u).strip() == value]
    return np.isin(code, hits)


def _sum_measures(
    area: tuple[np.ndarray, np.ndarray],
    month: tuple[np.ndarray, np.ndarray],
    measure: tuple[np.ndarray, np.ndarray],
    count: np.ndarray,
) -> pd.DataFrame:
    """Dashboard rows summed per (ward, month, measure).

    Each key is (code per row, sorted distinct values); the three codes are packed into
    one integer, so the sum is one ``np.unique`` and one ``np.bincount``.
    """
    n_month, n_measure = len(month[1]), len(measure[1])
    key = (area[0] * n_month + month[0]) * n_measure + measure[0]
    groups, index = np.unique(key, return_inverse=True)
    total = np.bincount(index.reshape(-1), weights=count, minlength=len(groups))
    return pd.DataFrame(
        {
            s.WARD_CODE: take(area[1], groups // (n_month * n_measure)),
            s.MONTH: take(month[1], groups // n_measure % n_month),
            s.MEASURE: take(measure[1], groups % n_measure),
            s.COUNT: total.astype("int64"),
        }
    )


def _dashboard_warnings(
    path: Path,
    table: pd.DataFrame,
    is_ward: np.ndarray,
    is_offence: np.ndarray,
    odd_codes: np.ndarray,
    odd: np.ndarray,
) -> list[str]:
    """Rows skipped (borough level, positive outcomes) and area codes that are not wards."""
    count = pd.to_numeric(table["count"], errors="coerce").to_numpy(dtype="float64")
    count = np.where(np.isfinite(count), count, 0)  # only for the notes; "INF" would not print
    measure_no, measures = distinct(table["measure"])
    skipped = [(~is_ward, "borough-level rows")]
    other = is_ward & ~is_offence
    if other.any():
        names = ", ".join(map(repr, measures[np.unique(measure_no[other])]))
        skipped.append((other, f"ward-level rows of measure {names}"))
    notes = [
        f"{path.name}: skipped {int(mask.sum()):,} {what} (count {int(count[mask].sum()):,}): "
        "not ward offences, so not records of this source"
        for mask, what in skipped
        if mask.any()
    ]
    if not (is_ward & is_offence).any():
        notes.append(
            f"{path.name}: no ward-level offence rows (area_type {_WARD_LEVEL!r}, measure "
            f"{_OFFENCES!r}); this source adds no ward measures. Is it the ward (SNT) extract?"
        )
    if odd.any():
        ward_count = count[is_ward & is_offence]
        share = 100 * ward_count[odd].sum() / max(ward_count.sum(), 1)
        seen = ", ".join(map(repr, odd_codes[:EXAMPLES]))
        notes.append(
            f"{path.name}: {int(odd.sum()):,} ward-level offence rows ({share:.1f} % of the "
            f"offences) have area codes that are not ward codes ({seen}); kept: the ingest "
            "step rejects codes that are not in the ward boundaries"
        )
    return notes
