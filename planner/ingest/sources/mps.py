"""Met Police pre-aggregated files, read straight into ward counts.

Two London Datastore publications:

- *MPS Ward Level Crime* (CSV, or the historical Parquet with lower-case column names):
  one row per ward and minor category, one column per month ``YYYYMM``. Each
  ``"MAJOR | MINOR"`` pair is mapped through ``[mps.minor]`` of ``config/categories.toml``
  to a police.uk category and subcategory (:func:`read_mps_ward`). Met figures are
  revised monthly, so where two files cover a month the newest file wins
  (:func:`combine_mps_ward`).
- *MPS Monthly Crime Dashboard* (long format): the high-harm series (domestic abuse,
  hate, knife and gun crime) per Safer Neighbourhood Team, i.e. per ward, kept as ward
  measures beside ward_counts (:func:`read_mps_dashboard`).

"Aviation Security (SO18)" rows carry the Heathrow Villages ward code (E05013570) and
stay under it: ward codes, not borough names, say where a count belongs. Text columns
are built in Arrow from the few distinct values (take by code): turning millions of
Python strings into the "string" dtype one by one would cost seconds.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from planner import schema as s
from planner.config import CategoryMap, normalise_name
from planner.errors import DataError
from planner.files import check_utf8
from planner.ingest.sources.base import SourceFrame, empty_counts, empty_rejects

__all__ = ["combine_mps_ward", "read_mps_dashboard", "read_mps_ward"]

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
_DASH_REQUIRED = ("month_year", "area_type", "area_code", "crime_type", "crime_subtype")
_DASH_REQUIRED += ("measure", "count")
_DASH_LAYOUT = f"the MPS Monthly Crime Dashboard layout with columns {', '.join(_DASH_REQUIRED)}"
_WARD_LEVEL = "Safer Neighbourhood Teams"
_OFFENCES = "Offences"
_MONTH_RE = re.compile(r"^([0-9]{4})([0-9]{2})$")  # ASCII digits: \d also matches "２０２４"
_MAX_COUNT = 10**9  # crimes in one cell; more is a corrupt cell (and would overflow int64 sums)
_EXAMPLES = 5  # bad cells quoted per problem
_DETAILS = {  # config table -> reject detail for (excluded, unknown)
    table: (
        f"mapped to an empty {target} in [{table}] of config/categories.toml: excluded "
        "by configuration",
        f"not in [{table}] of config/categories.toml: add it there as {form} (an empty "
        f"{target} excludes it)",
    )
    for table, target, form in (
        ("mps.minor", "category", "[category, subcategory]"),
        ("mps.dashboard", "measure", "a measure name"),
    )
}


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
    table, is_csv = _read_table(path)
    cols = _require_columns(table, path, _WARD_COLUMNS, _WARD_REQUIRED, _WARD_LAYOUT)
    months = _month_columns([c for c in table.columns if c not in cols.values()], path)
    values, wards = _ward_cells(table, months, cols["ward_code"], path, is_csv=is_csv)
    labels = np.array([f"{m[:4]}-{m[4:]}" for m in months], dtype=object)
    pair_code, pairs = _pairs(table[cols["major"]], table[cols["minor"]])
    found = [categories.mps_minor.get(normalise_name(p)) for p in pairs]
    counts = _melt_counts(wards, pair_code, found, values, labels)
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
    table, is_csv = _read_table(path)
    spellings = {c: (c,) for c in _DASH_REQUIRED}
    cols = _require_columns(table, path, spellings, _DASH_REQUIRED, _DASH_LAYOUT)
    table = table[list(cols.values())].set_axis(list(cols), axis=1)
    is_ward = _equals(table["area_type"], _WARD_LEVEL)
    is_offence = _equals(table["measure"], _OFFENCES)
    rows = table[is_ward & is_offence]
    row_no = np.flatnonzero(is_ward & is_offence) + 1
    month_code, labels, count = _dashboard_cells(rows, row_no, path, is_csv=is_csv)
    area_no, areas = _distinct(rows["area_code"])
    pair_code, pairs = _pairs(rows["crime_type"], rows["crime_subtype"])
    found = [categories.mps_dashboard.get(normalise_name(p)) for p in pairs]
    unknown, excluded = _status(found, pair_code)
    ok = ~(unknown | excluded)
    measure_no, names = pd.factorize(np.array([f or "" for f in found], dtype=object), sort=True)
    measures = _sum_measures(
        (area_no[ok], areas),
        (month_code[ok], labels),
        (measure_no[pair_code[ok]], names),
        count[ok],
    )
    rejects = _rejects_frame(
        path,
        source_row=row_no[~ok],
        month=_take(labels, month_code[~ok]),
        category=_take(pairs, pair_code[~ok]),
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


# --- reading and validation ----------------------------------------------------------


def _read_table(path: Path) -> tuple[pd.DataFrame, bool]:
    """The file as a DataFrame (Parquet by its magic bytes, else UTF-8 CSV); is it CSV?"""
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the path in config/planner.toml")
    with path.open("rb") as f:
        is_csv = f.read(4) != b"PAR1"
    table = _read_csv(path) if is_csv else _read_parquet(path)
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise DataError(
            f"{path}: the file has a header but no data rows; expected one row per ward "
            "and category. Download it again."
        )
    return table, is_csv


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc}); download it again") from None


def _read_csv(path: Path) -> pd.DataFrame:
    """UTF-8 checked first (naming the line), repeated header names refused, no NA guessing."""
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: the file is empty (no text at all); download it again")
    check_utf8(data, str(path))
    text = data.decode("utf-8-sig")
    try:  # newline="": old Mac files end their lines with a bare CR
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise DataError(
            f"{path}: line 1 is not a CSV header ({exc}); re-export the file as CSV"
        ) from None
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise DataError(
            f"{path}: line 1: column(s) {', '.join(map(repr, twice))} appear more than once; "
            "expected each column once. Remove or rename the repeated columns."
        )
    try:
        return pd.read_csv(io.StringIO(text), keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no header line; download it again") from None
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{path}: not a well-formed CSV file ({str(exc).strip()}); expected "
            f"{len(header)} fields on every line, as in the header. Re-export the file."
        ) from None


def _require_columns(
    table: pd.DataFrame,
    path: Path,
    spellings: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    layout: str,
) -> dict[str, str]:
    """Logical name -> the file's column (an accepted spelling, in any case)."""
    by_fold = {c.casefold(): c for c in table.columns}
    found, missing = {}, []
    for name, options in spellings.items():
        hit = next((by_fold[o.casefold()] for o in options if o.casefold() in by_fold), None)
        if hit is not None:
            found[name] = hit
        elif name in required:
            squashed = {_squash(o) for o in options}
            near = [c for c in table.columns if _squash(c) in squashed]
            hint = f" ({near[0]!r} looks like it: rename it to {options[0]!r})" if near else ""
            missing.append(repr(options[0]) + hint)
    if missing:
        raise DataError(
            f"{path}: missing required column(s) {'; '.join(missing)}. Found: "
            f"{_describe(list(table.columns))}. Expected {layout}."
        )
    return found


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def _describe(columns: Sequence[str]) -> str:
    """The columns found, month columns summarised."""
    months = [c for c in columns if _MONTH_RE.match(c)]
    named = [repr(c) for c in columns if not _MONTH_RE.match(c)]
    if months:
        named.append(f"{len(months)} month columns ({months[0]}..{months[-1]})")
    return ", ".join(named) or "no columns"


def _month_columns(columns: Sequence[str], path: Path) -> list[str]:
    """Check that every remaining column is a real month ``YYYYMM``; return them."""
    if not columns:
        raise DataError(
            f"{path}: no month columns; expected one column per month named YYYYMM "
            "(e.g. 202401) after the ward and category columns. Is this a ward-level file?"
        )
    bad = []
    for col in columns:
        match = _MONTH_RE.match(col)
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


def _row_name(row: int, *, is_csv: bool) -> str:
    return f"row {row} (line {row + 1})" if is_csv else f"row {row}"


def _cell(value: object) -> str:
    """A cell as a person would see it in the file."""
    if isinstance(value, str):
        return repr(value) if value.strip() else "a blank"
    return "a blank" if pd.isna(value) else str(value)


def _show_cells(column: pd.Series, bad: np.ndarray, row_no: np.ndarray, *, is_csv: bool) -> str:
    """The first few bad cells (positions *bad* in *column*) with their file rows."""
    shown = [
        f"{_row_name(int(row_no[b]), is_csv=is_csv)}: {_cell(column.iloc[b])}"
        for b in bad[:_EXAMPLES]
    ]
    more = f" and {len(bad) - _EXAMPLES} more" if len(bad) > _EXAMPLES else ""
    return ", ".join(shown) + more


def _numeric_cells(
    column: pd.Series, name: str, row_no: np.ndarray, problems: list[str], *, is_csv: bool
) -> np.ndarray:
    """Whole numbers >= 0 as int64; bad cells are described in *problems*."""
    if pd.api.types.is_integer_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        number = column.to_numpy(dtype="float64")
    else:
        text = column.astype("string").str.strip()
        number = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    implausible = ~(number <= _MAX_COUNT)  # NaN too; inf and 1e20 would wrap round in int64
    bad = np.flatnonzero(implausible | (number < 0) | (number != np.round(number)))
    if len(bad):
        problems.append(
            f"column {name!r}: expected a whole number >= 0, found "
            f"{_show_cells(column, bad, row_no, is_csv=is_csv)}; correct those cells "
            f"(0 where there was nothing; no cell can hold more than {_MAX_COUNT:,})"
        )
    return np.where(implausible, 0, number).astype("int64")


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
        if ((values >= 0) & (values <= _MAX_COUNT)).all():
            return values
    cells = [_numeric_cells(block[m], m, row_no, problems, is_csv=is_csv) for m in months]
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
    ward_no, wards = _distinct(table[code_column])
    blank = np.flatnonzero(wards[ward_no] == "")
    if len(blank):
        problems.append(
            f"column {code_column!r}: expected a ward code (E05...), found "
            f"{_show_cells(table[code_column], blank, row_no, is_csv=is_csv)}; fill in the "
            "ward code or "
            "remove those rows"
        )
    _raise_problems(problems, path, "MPS ward file")
    return values, (ward_no, wards)


def _dashboard_cells(
    rows: pd.DataFrame, row_no: np.ndarray, path: Path, *, is_csv: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month codes, month labels and counts of the ward offence rows; problems raised at once."""
    problems: list[str] = []
    month_code, labels = _parse_months(rows["month_year"], row_no, problems, is_csv=is_csv)
    count = _numeric_cells(rows["count"], "count", row_no, problems, is_csv=is_csv)
    _raise_problems(problems, path, "MPS dashboard file")
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
            f"{_show_cells(column, bad, row_no, is_csv=is_csv)}; correct those cells"
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


def _raise_problems(problems: list[str], path: Path, what: str) -> None:
    if problems:
        raise DataError(f"{path}: cannot read this {what}:\n  - " + "\n  - ".join(problems))


# --- building the output -------------------------------------------------------------


def _equals(column: pd.Series, value: str) -> np.ndarray:
    """``column.str.strip() == value`` as a bool array, comparing each distinct value once."""
    code, uniques = pd.factorize(column)
    hits = [i for i, u in enumerate(uniques) if str(u).strip() == value]
    return np.isin(code, hits)


def _take(
    values: Sequence[str] | np.ndarray, codes: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """``values[codes]`` as a "string" array, built in Arrow."""
    taken = pa.array(np.asarray(values, dtype=object), type=pa.large_string()).take(codes)
    return pd.array(taken, dtype="string")


def _distinct(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row into the sorted distinct texts (trimmed; missing -> "")."""
    code, uniques = pd.factorize(column, use_na_sentinel=False)
    text = np.array(["" if pd.isna(u) else str(u).strip() for u in uniques], dtype=object)
    texts, index = np.unique(text, return_inverse=True)
    return index.reshape(-1)[code], texts


def _pairs(first: pd.Series, second: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row into the distinct ``"FIRST | SECOND"`` texts."""
    (code1, text1), (code2, text2) = _distinct(first), _distinct(second)
    keys, code = np.unique(code1 * len(text2) + code2, return_inverse=True)
    pairs = [f"{text1[k // len(text2)]} | {text2[k % len(text2)]}" for k in keys]
    return code.reshape(-1), np.array(pairs, dtype=object)


def _status(found: list, pair_code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: is the pair unknown (not in the config), is it excluded (empty target)?"""
    unknown = np.array([f is None for f in found], dtype=bool)
    target = [f[0] if isinstance(f, tuple) else f for f in found]
    excluded = np.array([t is not None and t == "" for t in target], dtype=bool)
    return unknown[pair_code], excluded[pair_code]


def _melt_counts(
    wards: tuple[np.ndarray, np.ndarray],
    pair_code: np.ndarray,
    found: list,
    values: np.ndarray,
    labels: np.ndarray,
) -> pd.DataFrame:
    """Sum mapped rows per (ward, category, subcategory), then melt the non-zero cells.

    Rows are grouped by one integer key (ward number x target number), sorted, and summed
    with ``np.add.reduceat``; the output is ordered by ward, category, subcategory, month.
    """
    unknown, excluded = _status(found, pair_code)
    mapped = np.flatnonzero(~(unknown | excluded))
    if not len(mapped):
        return empty_counts()
    ward_no, ward_codes = wards[0][mapped], wards[1]
    targets = sorted({f or ("", "") for f in found})  # (category, subcategory)
    target_no = np.array([targets.index(f or ("", "")) for f in found], dtype="int64")
    key = ward_no * len(targets) + target_no[pair_code[mapped]]
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    summed = np.add.reduceat(values[mapped][order], starts, axis=0)
    group_key = key[order][starts]
    row, col = np.nonzero(summed)
    target = group_key[row] % len(targets)
    return pd.DataFrame(
        {
            s.WARD_CODE: _take(ward_codes, group_key[row] // len(targets)),
            s.MONTH: _take(labels, col),
            s.CATEGORY: _take([c for c, _ in targets], target),
            s.SUBCATEGORY: _take([sub for _, sub in targets], target),
            s.COUNT: summed[row, col].astype("int64"),
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
    unknown, excluded = _status(found, pair_code)
    bad = np.flatnonzero(unknown | excluded)
    cell_row, col = np.nonzero(values[bad])
    row = bad[cell_row]
    return _rejects_frame(
        path,
        source_row=row + 1,
        month=_take(labels, col),
        category=_take(pairs, pair_code[row]),
        unknown=unknown[row],
        count=values[row, col],
        table="mps.minor",
    )


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
            s.WARD_CODE: _take(area[1], groups // (n_month * n_measure)),
            s.MONTH: _take(month[1], groups // n_measure % n_month),
            s.MEASURE: _take(measure[1], groups % n_measure),
            s.COUNT: total.astype("int64"),
        }
    )


def _rejects_frame(
    path: Path,
    *,
    source_row: np.ndarray,
    month: pd.api.extensions.ExtensionArray,
    category: pd.api.extensions.ExtensionArray,
    unknown: np.ndarray,
    count: np.ndarray,
    table: str,
) -> pd.DataFrame:
    """Rejects of unknown (``unknown``) or excluded series, one row per cell or row."""
    if not len(source_row):
        return empty_rejects()
    detail = _DETAILS[table]
    which = unknown.astype("int64")
    return pd.DataFrame(
        {
            s.SOURCE: _take([str(path)], np.zeros(len(which), dtype="int64")),
            s.SOURCE_ROW: np.asarray(source_row, dtype="int64"),
            s.INCIDENT_ID: pd.array([pd.NA] * len(which), dtype="string"),
            s.MONTH: month,
            s.CATEGORY: category,
            s.REASON: _take([s.REASON_EXCLUDED_CATEGORY, s.REASON_UNKNOWN_CATEGORY], which),
            s.DETAIL: _take(detail, which),
            s.COUNT: np.asarray(count, dtype="int64"),
        }
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
    measure_no, measures = _distinct(table["measure"])
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
        seen = ", ".join(map(repr, odd_codes[:_EXAMPLES]))
        notes.append(
            f"{path.name}: {int(odd.sum()):,} ward-level offence rows ({share:.1f} % of the "
            f"offences) have area codes that are not ward codes ({seen}); kept: the ingest "
            "step rejects codes that are not in the ward boundaries"
        )
    return notes
