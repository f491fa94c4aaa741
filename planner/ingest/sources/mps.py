"""Met Police *MPS Ward Level Crime* files, read straight into ward counts.

The London Datastore publication (CSV, or the historical Parquet with lower-case column names)
has one row per ward and minor category, one column per month ``YYYYMM``. Each
``"MAJOR | MINOR"`` pair is mapped through ``[mps.minor]`` of ``config/categories.toml`` to a
police.uk category and subcategory (:func:`read_mps_ward`). Met figures are revised monthly, so
where two files cover a month the newest file wins (:func:`combine_mps_ward`). The Met's other
publication, the monthly crime dashboard, is read by :mod:`planner.ingest.sources.dashboard`;
the reading and checking both share is :mod:`planner.ingest.sources.mps_tables`.

"Aviation Security (SO18)" rows carry the Heathrow Villages ward code (E05013570) and
stay under it: ward codes, not borough names, say where a count belongs. Text columns
are built in Arrow from the few distinct values (take by code): turning millions of
Python strings into the "string" dtype one by one would cost seconds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import CategoryMap, normalise_name
from planner.errors import DataError
from planner.ingest.sources.base import SourceFrame, empty_counts, empty_names
from planner.ingest.sources.mps_tables import (
    MAX_COUNT,
    MONTH_RE,
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

__all__ = ["combine_mps_ward", "read_mps_ward"]

log = logging.getLogger(__name__)

# logical name -> accepted spellings (the first one is shown in messages)
_WARD_COLUMNS = {
    "major": ("MajorText", "majortext"),
    "minor": ("MinorText", "minortext"),
    "ward_name": ("WardName", "wardname"),
    "ward_code": ("WardCode", "wardcode"),
    "borough": ("LookUp_BoroughName", "lookup_boroughname"),
}
_WARD_REQUIRED = ("major", "minor", "ward_code")
_WARD_LAYOUT = (
    "the MPS Ward Level Crime layout: MajorText, MinorText, WardName, WardCode, "
    "LookUp_BoroughName, then one column per month YYYYMM"
)


# --- public API ----------------------------------------------------------------------


def read_mps_ward(path: str | Path, *, categories: CategoryMap) -> SourceFrame:
    """Read an MPS Ward Level Crime file (CSV or Parquet, wide months) into ward counts.

    Parameters
    ----------
    path
        The file: columns ``MajorText, MinorText, WardName, WardCode,
        LookUp_BoroughName`` (or their lower-case spellings), then one column per month
        ``YYYYMM``. Parquet is recognised by its content, anything else is read as CSV.
    categories
        ``mps_minor`` maps ``"MAJOR | MINOR"`` to ``(category, subcategory)``; an empty
        category means excluded by configuration (fraud).

    Returns
    -------
    SourceFrame
        Kind ``"mps_ward"``: ``counts`` (zero cells dropped; rows mapping to the same
        ward, month and subcategory summed), ``rejects`` (one per non-zero cell of an
        unknown or excluded category, ``source_row`` 1-based), ``read_by_month`` (crimes
        per month, for every month column of the file).

    Raises
    ------
    DataError
        The file is missing, empty or not UTF-8; a required column is missing; a month
        column is not ``YYYYMM``; a count is not a whole number >= 0; a ward code is blank.
    """
    path = Path(path)
    table, is_csv = read_table(path)
    cols = require_columns(table, path, _WARD_COLUMNS, _WARD_REQUIRED, _WARD_LAYOUT)
    months = _month_columns([c for c in table.columns if c not in cols.values()], path)
    values, wards = _ward_cells(table, months, cols["ward_code"], path, is_csv=is_csv)
    labels = np.array([f"{m[:4]}-{m[4:]}" for m in months], dtype=object)
    pair_code, pairs = pair_codes(table[cols["major"]], table[cols["minor"]])
    matched = [categories.mps_pair(*p.split(" | ", 1)) for p in pairs]
    found, editions = _edition(path, [m[0] for m in matched], pair_code, values)
    fallback = [how == "fallback" for _, how in matched]
    counts = _melt_counts(wards, pair_code, found, values, labels, fallback)
    rejects = _ward_rejects(path, pair_code, pairs, found, values, labels)
    read = pd.Series(values.sum(axis=0), index=pd.Index(labels, dtype="string", name=s.MONTH))
    log.info("%s: %d rows x %d months, %d crimes", path.name, len(table), len(months), read.sum())
    return SourceFrame(
        kind="mps_ward",
        path=str(path),
        counts=counts,
        rejects=rejects,
        read_by_month=read.astype("int64"),
        files=[str(path)],
        names=_names(pairs, matched, found, pair_code, values),
        editions=editions,
    )


def combine_mps_ward(frames: Sequence[SourceFrame]) -> list[SourceFrame]:
    """Resolve months covered by several MPS ward files: the newest file wins each month.

    The newest file is the one whose latest month is latest (a tie goes to the file
    later in *frames*). In an older file, every record of a month that a newer file also
    covers (counts and rejects alike) moves to ``duplicates_by_month``, with a warning
    naming both files and the months, so that per frame and month
    ``read = counts + rejects + duplicates`` still holds and no month is counted twice.

    Parameters
    ----------
    frames
        Frames from :func:`read_mps_ward`; frames of any other kind are returned as
        they are.

    Returns
    -------
    list of SourceFrame
        New frames, in the order given; the inputs are not modified.
    """
    ward = [i for i, f in enumerate(frames) if f.kind == "mps_ward" and len(f.read_by_month)]
    newest_first = sorted(ward, key=lambda i: (max(frames[i].read_by_month.index), i))[::-1]
    out = list(frames)
    claimed: dict[str, str] = {}  # month -> the newer file that holds it
    for i in newest_first:
        mine = set(frames[i].read_by_month.index)
        taken = sorted(mine & set(claimed))
        claimed.update({m: frames[i].path for m in sorted(mine - set(claimed))})
        if taken:
            out[i] = _supersede(frames[i], taken, claimed)
    return out


# --- reading and validation ----------------------------------------------------------


def _month_columns(columns: Sequence[str], path: Path) -> list[str]:
    """Check that every remaining column is a real month ``YYYYMM``; return them."""
    if not columns:
        raise DataError(
            f"{path}: no month columns; expected one column per month named YYYYMM "
            "(e.g. 202401) after the ward and category columns. Is this a ward-level file?"
        )
    bad = []
    for col in columns:
        match = MONTH_RE.match(col)
        if match is None:
            bad.append(f"{col!r} is not YYYYMM")
        elif not (1 <= int(match[2]) <= 12 and int(match[1]) >= 1900):
            bad.append(f"{col!r} is not a real month (month {match[2]} of year {match[1]})")
        elif f"{match[1]}{match[2]}" > date.today().strftime("%Y%m"):
            bad.append(f"{col!r} is a month in the future (today is {date.today():%Y-%m})")
    if bad:
        raise DataError(
            f"{path}: expected month columns named YYYYMM (e.g. 202401) after the ward and "
            f"category columns, found: {'; '.join(bad)}. Rename each column to the month it "
            "holds, or remove it."
        )
    return list(columns)


def _count_matrix(
    table: pd.DataFrame,
    months: Sequence[str],
    row_no: np.ndarray,
    problems: list[str],
    *,
    is_csv: bool,
) -> np.ndarray:
    """The month cells as an int64 matrix (rows x months); bad cells go to *problems*."""
    block = table[list(months)]
    if all(pd.api.types.is_integer_dtype(t) for t in block.dtypes):
        values = block.to_numpy(dtype="int64")
        if ((values >= 0) & (values <= MAX_COUNT)).all():
            return values
    cells = [numeric_cells(block[m], m, row_no, problems, is_csv=is_csv) for m in months]
    return np.column_stack(cells)


def _ward_cells(
    table: pd.DataFrame, months: Sequence[str], code_column: str, path: Path, *, is_csv: bool
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The checked count matrix (rows x months) and the ward codes (code per row, distinct).

    Every problem found is raised at once.
    """
    problems: list[str] = []
    row_no = np.arange(1, len(table) + 1)
    values = _count_matrix(table, months, row_no, problems, is_csv=is_csv)
    ward_no, wards = distinct(table[code_column])
    blank = np.flatnonzero(wards[ward_no] == "")
    if len(blank):
        problems.append(
            f"column {code_column!r}: expected a ward code (E05...), found "
            f"{show_cells(table[code_column], blank, row_no, is_csv=is_csv)}; fill in the "
            "ward code or "
            "remove those rows"
        )
    raise_problems(problems, path, "MPS ward file")
    return values, (ward_no, wards)


def _edition(
    path: Path, found: list, pair_code: np.ndarray, values: np.ndarray
) -> tuple[list, list[str]]:
    """Detect an edition that publishes stalking and harassment inside violence without injury.

    Such a file has violence without injury and no stalking and harassment: its violence
    without injury is the merged subcategory (weighted in ``config/harm.toml`` by the blend the
    split editions imply), so that a re-labelling alone does not move harm.
    """
    vwi = ("Violence and sexual offences", s.SUB_VIOLENCE_WITHOUT_INJURY)
    subs = {(c, normalise_name(sub)) for c, sub in (f for f in found if f)}
    if vwi not in subs or (vwi[0], s.SUB_STALKING_HARASSMENT) in subs:
        return found, []
    merged = (vwi[0], s.SUB_VIOLENCE_WITHOUT_INJURY_MERGED)
    out = [merged if f and (f[0], normalise_name(f[1])) == vwi else f for f in found]
    which = np.array([f == merged for f in out], dtype=bool)
    records = int(values[which[pair_code]].sum()) if len(pair_code) else 0
    note = (
        f"{path}: this edition has violence without injury but no stalking and harassment, so "
        "it publishes stalking and harassment inside violence without injury; its "
        f"{records:,} records are counted as {s.SUB_VIOLENCE_WITHOUT_INJURY_MERGED!r}, weighted "
        "by the blend of the two that the split editions imply (config/harm.toml)"
    )
    log.info(note)
    return out, [note]


def _names(
    pairs: np.ndarray, matched: list, found: list, pair_code: np.ndarray, values: np.ndarray
) -> pd.DataFrame:
    """One row per category name not matched exactly: how it was matched, to what, records."""
    records = np.bincount(pair_code, weights=values.sum(axis=1), minlength=len(pairs))
    rows = []
    for i, ((_, how), target) in enumerate(zip(matched, found, strict=True)):
        if how != "exact":
            label = " | ".join(target) if target else ""
            rows.append((pairs[i], how, label, int(records[i])))
    if not rows:
        return empty_names()
    frame = pd.DataFrame(rows, columns=["name", "how", "target", "records"])
    return frame.astype({"name": "string", "how": "string", "target": "string"})


# --- building the output -------------------------------------------------------------


def _melt_counts(
    wards: tuple[np.ndarray, np.ndarray],
    pair_code: np.ndarray,
    found: list,
    values: np.ndarray,
    labels: np.ndarray,
    fallback: list[bool],
) -> pd.DataFrame:
    """Sum mapped rows per (ward, category, subcategory), then melt the non-zero cells.

    *fallback* says, per distinct pair, whether it was mapped by its major's fallback; those
    rows keep ``fallback`` true (summed apart from exact matches of the same target).

    Rows are grouped by one integer key (ward number x target number), sorted, and summed
    with ``np.add.reduceat``; the output is ordered by ward, category, subcategory, month.
    """
    unknown, excluded = pair_status(found, pair_code)
    mapped = np.flatnonzero(~(unknown | excluded))
    if not len(mapped):
        return empty_counts()
    ward_no, ward_codes = wards[0][mapped], wards[1]
    marked = [
        (*f, bool(fb)) if f else ("", "", False) for f, fb in zip(found, fallback, strict=True)
    ]
    targets = sorted(set(marked))  # (category, subcategory, fallback)
    target_no = np.array([targets.index(m) for m in marked], dtype="int64")
    key = ward_no * len(targets) + target_no[pair_code[mapped]]
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    summed = np.add.reduceat(values[mapped][order], starts, axis=0)
    group_key = key[order][starts]
    row, col = np.nonzero(summed)
    target = group_key[row] % len(targets)
    return pd.DataFrame(
        {
            s.WARD_CODE: take(ward_codes, group_key[row] // len(targets)),
            s.MONTH: take(labels, col),
            s.CATEGORY: take([c for c, _, _ in targets], target),
            s.SUBCATEGORY: take([sub for _, sub, _ in targets], target),
            s.COUNT: summed[row, col].astype("int64"),
            s.FALLBACK: np.array([fb for _, _, fb in targets], dtype=bool)[target],
        }
    )


def _ward_rejects(
    path: Path,
    pair_code: np.ndarray,
    pairs: np.ndarray,
    found: list,
    values: np.ndarray,
    labels: np.ndarray,
) -> pd.DataFrame:
    """One reject per non-zero cell of a row whose category is unknown or excluded."""
    unknown, excluded = pair_status(found, pair_code)
    bad = np.flatnonzero(unknown | excluded)
    cell_row, col = np.nonzero(values[bad])
    row = bad[cell_row]
    return rejects_frame(
        path,
        source_row=row + 1,
        month=take(labels, col),
        category=take(pairs, pair_code[row]),
        unknown=unknown[row],
        count=values[row, col],
        table="mps.minor",
    )


def _supersede(frame: SourceFrame, months: list[str], claimed: dict[str, str]) -> SourceFrame:
    """A copy of *frame* whose *months* all move to ``duplicates_by_month``.

    Months already there (an earlier call) are left alone, so combining twice is harmless.
    """
    months = [m for m in months if m not in frame.duplicates_by_month.index]
    if not months:
        return frame
    moved = frame.read_by_month.loc[months].astype("int64")
    dups = frame.duplicates_by_month.add(moved, fill_value=0).astype("int64")
    newer = ", ".join(sorted({claimed[m] for m in months}))
    span = months[0] if len(months) == 1 else f"{months[0]}..{months[-1]} ({len(months)} months)"
    note = (
        f"{frame.path}: month(s) {span} superseded by the newer file {newer}; "
        f"{int(moved.sum())} crimes of the older file not used for those months"
    )
    log.info(note)
    return dataclasses.replace(
        frame,
        counts=frame.counts[~frame.counts[s.MONTH].isin(months)].reset_index(drop=True),
        rejects=frame.rejects[~frame.rejects[s.MONTH].isin(months)].reset_index(drop=True),
        duplicates_by_month=dups.rename_axis(s.MONTH),
        warnings=[*frame.warnings, note],
    )
