"""Reading and checking the Met's pre-aggregated files, shared by :mod:`.mps` and :mod:`.dashboard`.

Both Met readers take a Parquet or UTF-8 CSV table (:func:`read_table`), find their columns by
accepted spellings (:func:`require_columns`), check counts as whole numbers (:func:`numeric_cells`,
quoting bad cells with :func:`show_cells`, all problems raised at once by
:func:`raise_problems`), map ``"FIRST | SECOND"`` category pairs through ``config/categories.toml``
(:func:`pair_codes`, :func:`pair_status`) and set aside what is unknown or excluded
(:func:`rejects_frame`). Text columns are built in Arrow from the few distinct values
(:func:`distinct`, then :func:`take` by code): turning millions of Python strings into the
"string" dtype one by one would cost seconds.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from planner import schema as s
from planner.errors import DataError
from planner.files import check_utf8
from planner.ingest.sources.base import empty_rejects
from planner.ingest.sources.sniff import check_text

__all__ = [
    "EXAMPLES",
    "MAX_COUNT",
    "MONTH_RE",
    "distinct",
    "numeric_cells",
    "pair_codes",
    "pair_status",
    "raise_problems",
    "read_table",
    "rejects_frame",
    "require_columns",
    "show_cells",
    "take",
]

MONTH_RE = re.compile(r"^([0-9]{4})([0-9]{2})$")  # ASCII digits: \d also matches "２０２４"
MAX_COUNT = 10**9  # crimes in one cell; more is a corrupt cell (and would overflow int64 sums)
EXAMPLES = 5  # bad cells quoted per problem
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


# --- reading and validation ----------------------------------------------------------


def read_table(path: Path) -> tuple[pd.DataFrame, bool]:
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
    check_text(data, str(path))
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


def require_columns(
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
    months = [c for c in columns if MONTH_RE.match(c)]
    named = [repr(c) for c in columns if not MONTH_RE.match(c)]
    if months:
        named.append(f"{len(months)} month columns ({months[0]}..{months[-1]})")
    return ", ".join(named) or "no columns"


def _row_name(row: int, *, is_csv: bool) -> str:
    return f"row {row} (line {row + 1})" if is_csv else f"row {row}"


def _cell(value: object) -> str:
    """A cell as a person would see it in the file."""
    if isinstance(value, str):
        return repr(value) if value.strip() else "a blank"
    return "a blank" if pd.isna(value) else str(value)


def show_cells(column: pd.Series, bad: np.ndarray, row_no: np.ndarray, *, is_csv: bool) -> str:
    """The first few bad cells (positions *bad* in *column*) with their file rows."""
    shown = [
        f"{_row_name(int(row_no[b]), is_csv=is_csv)}: {_cell(column.iloc[b])}"
        for b in bad[:EXAMPLES]
    ]
    more = f" and {len(bad) - EXAMPLES} more" if len(bad) > EXAMPLES else ""
    return ", ".join(shown) + more


def numeric_cells(
    column: pd.Series, name: str, row_no: np.ndarray, problems: list[str], *, is_csv: bool
) -> np.ndarray:
    """Whole numbers >= 0 as int64; bad cells are described in *problems*."""
    if pd.api.types.is_integer_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        number = column.to_numpy(dtype="float64")
    else:
        text = column.astype("string").str.strip()
        number = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    implausible = ~(number <= MAX_COUNT)  # NaN too; inf and 1e20 would wrap round in int64
    bad = np.flatnonzero(implausible | (number < 0) | (number != np.round(number)))
    if len(bad):
        problems.append(
            f"column {name!r}: expected a whole number >= 0, found "
            f"{show_cells(column, bad, row_no, is_csv=is_csv)}; correct those cells "
            f"(0 where there was nothing; no cell can hold more than {MAX_COUNT:,})"
        )
    return np.where(implausible, 0, number).astype("int64")


def raise_problems(problems: list[str], path: Path, what: str) -> None:
    if problems:
        raise DataError(f"{path}: cannot read this {what}:\n  - " + "\n  - ".join(problems))


# --- building the output -------------------------------------------------------------


def take(values: Sequence[str] | np.ndarray, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[codes]`` as a "string" array, built in Arrow."""
    taken = pa.array(np.asarray(values, dtype=object), type=pa.large_string()).take(codes)
    return pd.array(taken, dtype="string")


def distinct(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row into the sorted distinct texts (trimmed; missing -> "")."""
    code, uniques = pd.factorize(column, use_na_sentinel=False)
    text = np.array(["" if pd.isna(u) else str(u).strip() for u in uniques], dtype=object)
    texts, index = np.unique(text, return_inverse=True)
    return index.reshape(-1)[code], texts


def pair_codes(first: pd.Series, second: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row into the distinct ``"FIRST | SECOND"`` texts."""
    (code1, text1), (code2, text2) = distinct(first), distinct(second)
    keys, code = np.unique(code1 * len(text2) + code2, return_inverse=True)
    pairs = [f"{text1[k // len(text2)]} | {text2[k % len(text2)]}" for k in keys]
    return code.reshape(-1), np.array(pairs, dtype=object)


def pair_status(found: list, pair_code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: is the pair unknown (not in the config), is it excluded (empty target)?"""
    unknown = np.array([f is None for f in found], dtype=bool)
    target = [f[0] if isinstance(f, tuple) else f for f in found]
    excluded = np.array([t is not None and t == "" for t in target], dtype=bool)
    return unknown[pair_code], excluded[pair_code]


def rejects_frame(
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
            s.SOURCE: take([str(path)], np.zeros(len(which), dtype="int64")),
            s.SOURCE_ROW: np.asarray(source_row, dtype="int64"),
            s.INCIDENT_ID: pd.array([pd.NA] * len(which), dtype="string"),
            s.MONTH: month,
            s.CATEGORY: category,
            s.REASON: take([s.REASON_EXCLUDED_CATEGORY, s.REASON_UNKNOWN_CATEGORY], which),
            s.DETAIL: take(detail, which),
            s.COUNT: np.asarray(count, dtype="int64"),
        }
    )
