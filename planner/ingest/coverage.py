"""Which ward-months each source has data for: ``coverage.parquet``, beside ward_counts.

ward_counts has a row only where something was counted, so a ward-month without a row is
either a true zero or a month the source never reported. The coverage table tells them apart:
one row per ward, month, source and part (``crime``, ``asb`` or ``measures``) with status
``data`` or ``no data``. A ward-month with data and no ward_counts row is a true zero; a
ward-month with no data must be treated as missing, never as zero.

The evidence, per source:

- ward-coded files (the Met's): the wards the file reports on (those with any row; after a
  re-basing, the wards its wards' shares reach) have data in every month the file holds
  records for; other wards (the City of London, outside the Met's area) have none;
- point sources (police.uk): a borough-month has data when its records per ward that month
  are at least ``min_rate_ratio`` of the typical (median) borough-month's: a source that does
  not cover a borough leaves only stray points along its edges (at most 0.07 of the typical
  rate in the 2016-17 API collection, against at least 0.31 in covered boroughs);
- empty files and archive members are no data: for their ward-month where the name carries
  a ward code of the dataset (a per-ward API answer), else for their whole month;
- months inside a source's range without any record are no data for every ward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner import schema as s
from planner.ingest.sources.base import EmptyFile

__all__ = ["SourceCoverage", "coverage_summary", "coverage_table", "ward_month_status"]


@dataclass
class SourceCoverage:
    """What one source says about coverage (built by :mod:`planner.ingest.build`).

    Attributes
    ----------
    source
        The source's path as configured.
    parts
        What it supplies: ``schema.PART_CRIME``, ``PART_ASB``, ``PART_MEASURES``.
    months
        The months of its range (first to last record, within its ``months`` setting).
    placed
        Its counted records: ``ward_code``, ``month``, ``count``.
    ward_coded
        True for ward-level files (Met), False for point sources.
    wards
        Ward-coded: the dataset's wards it reports on.
    empty
        Its empty files and members.
    area_wards
        Empty-member ward codes of another vintage -> the dataset's wards they cover.
    """

    source: str
    parts: tuple[str, ...]
    months: list[str]
    placed: pd.DataFrame
    ward_coded: bool
    wards: set[str] = field(default_factory=set)
    empty: list[EmptyFile] = field(default_factory=list)
    area_wards: dict[str, list[str]] = field(default_factory=dict)


def coverage_table(
    sources: Sequence[SourceCoverage], boroughs: pd.Series, *, min_rate_ratio: float
) -> pd.DataFrame:
    """The coverage table of a dataset.

    Parameters
    ----------
    sources
        One entry per source.
    boroughs
        The dataset's wards: borough code by ward code.
    min_rate_ratio
        Point sources: a borough-month has data when its records per ward are at least this
        times the median borough-month's (``planner.toml [join] coverage_min_rate_ratio``).

    Returns
    -------
    DataFrame
        ``schema.COVERAGE_COLUMNS``, categorical, sorted by source, part, ward, month.
    """
    frames = [_one(src, boroughs, min_rate_ratio) for src in sources if src.parts and src.months]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="category") for c in s.COVERAGE_COLUMNS})
    table = pd.concat(frames, ignore_index=True)
    for col in s.COVERAGE_COLUMNS:
        table[col] = table[col].astype("category")
    return table


def _one(src: SourceCoverage, boroughs: pd.Series, min_ratio: float) -> pd.DataFrame:
    wards = boroughs.index.astype(str)
    months = pd.Index(src.months)
    placed = src.placed[src.placed[s.COUNT] > 0]
    grid = np.zeros((len(wards), len(months)), dtype=bool)  # records counted?
    w_at = pd.Index(wards).get_indexer(placed[s.WARD_CODE].astype(str))
    m_at = months.get_indexer(placed[s.MONTH].astype(str))
    ok = (w_at >= 0) & (m_at >= 0)
    grid[w_at[ok], m_at[ok]] = True
    month_has = grid.any(axis=0)
    if src.ward_coded:
        reports = pd.Index(wards).isin(sorted(src.wards))
        data = reports[:, None] & month_has[None, :]
    else:
        codes, borough = np.unique(boroughs.astype(str).to_numpy(), return_inverse=True)
        records = np.zeros((len(wards), len(months)))
        np.add.at(records, (w_at[ok], m_at[ok]), placed[s.COUNT].to_numpy(dtype=float)[ok])
        per_borough = np.zeros((len(codes), len(months)))
        np.add.at(per_borough, borough, records)
        size = np.bincount(borough, minlength=len(codes)).astype(float)
        rate = per_borough / size[:, None]
        typical = np.median(rate[rate > 0]) if (rate > 0).any() else 0.0
        covered = rate >= min_ratio * typical
        data = covered[borough]
    for empty in src.empty:
        if empty.month is None or empty.month not in months:
            continue
        col = months.get_loc(empty.month)
        hit = _empty_wards(empty, wards, src.area_wards)
        if hit is None:
            if not month_has[col]:
                data[:, col] = False
        else:
            data[pd.Index(wards).isin(hit), col] = False
    rows = []
    status = np.where(data, s.STATUS_DATA, s.STATUS_NO_DATA)
    ward_col = np.repeat(wards.to_numpy(), len(months))
    month_col = np.tile(months.to_numpy(), len(wards))
    for part in src.parts:
        rows.append(
            pd.DataFrame(
                {
                    s.WARD_CODE: ward_col,
                    s.MONTH: month_col,
                    s.SOURCE: src.source,
                    s.PART: part,
                    s.STATUS: status.reshape(-1),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _empty_wards(
    empty: EmptyFile, wards: pd.Index, area_wards: dict[str, list[str]]
) -> list[str] | None:
    """The dataset wards an empty file leaves without data; None for its whole month."""
    if empty.area is None:
        return None
    if empty.area in wards:
        return [empty.area]
    return area_wards.get(empty.area, [])


def coverage_summary(coverage: pd.DataFrame, names: pd.Series) -> list[dict[str, object]]:
    """Per source and part: ward-months with and without data, and where data are missing.

    *names* gives a borough name by ward code (for the boroughs listed without any data).
    """
    out = []
    if coverage.empty:
        return out
    for (source, part), rows in coverage.groupby([s.SOURCE, s.PART], observed=True):
        missing = rows[rows[s.STATUS] == s.STATUS_NO_DATA]
        per_ward = missing.groupby(missing[s.WARD_CODE].astype(str), observed=True).size()
        months = rows[s.MONTH].nunique()
        never = per_ward[per_ward == months].index
        boroughs = sorted({str(names.get(w, w)) for w in never})
        no_month = missing.groupby(missing[s.MONTH].astype(str), observed=True).size()
        whole = sorted(m for m, n in no_month.items() if n == rows[s.WARD_CODE].nunique())
        out.append(
            {
                "source": str(source),
                "part": str(part),
                "ward_months": len(rows),
                "no_data": len(missing),
                "wards_never_covered": len(never),
                "boroughs_never_covered": boroughs,
                "months_without_data": whole,
            }
        )
    return out


def ward_month_status(coverage: pd.DataFrame, part: str = s.PART_CRIME) -> pd.DataFrame:
    """True where some source of *part* has data for the ward-month (wards x months).

    The model's view of coverage: a ward-month that is False must be treated as missing (no
    rate from it, no trend through it), never as a zero. Months no source of *part* covers do
    not appear.
    """
    mine = coverage[coverage[s.PART] == part]
    if mine.empty:
        return pd.DataFrame(dtype=bool)
    has = (mine[s.STATUS] == s.STATUS_DATA).to_numpy()
    frame = pd.DataFrame(
        {"w": mine[s.WARD_CODE].astype(str), "m": mine[s.MONTH].astype(str), "d": has}
    )
    wide = frame.groupby(["w", "m"])["d"].any().unstack(fill_value=False)
    wide.index.name, wide.columns.name = s.WARD_CODE, s.MONTH
    return wide.astype(bool)
