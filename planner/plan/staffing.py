"""Current staffing: each ward's team now, read from a planner's CSV or Excel file.

The file has one row per ward with ``ward_code``, ``dwo`` (Dedicated Ward Officers) and
``pcso`` (Police Community Support Officers); other columns (ward and borough names, notes)
are allowed and ignored. Headers are matched without regard to case, spaces or punctuation
("Ward code", "DWO", "PCSOs" all do). :func:`staffing_template` writes the file to fill in,
one row per ward of the dataset with the baseline team.

Every problem is a :class:`~planner.errors.DataError` that names the file, the row (as a
spreadsheet shows it: the header is row 1) and the fix; nothing is dropped silently.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from planner import schema as s
from planner.errors import DataError
from planner.plan.checks import MAX_LISTED
from planner.scenario import CurrentTeam

__all__ = ["STAFFING_COLUMNS", "read_staffing", "staffing_template"]

STAFFING_COLUMNS = ("ward_code", "dwo", "pcso")
"""The columns a current-staffing file must have."""

_ALIASES = {
    "wardcode": "ward_code",
    "ward": "ward_code",
    "code": "ward_code",
    "dwo": "dwo",
    "dwos": "dwo",
    "dedicatedwardofficers": "dwo",
    "pcso": "pcso",
    "pcsos": "pcso",
}
_WARD_CODE = re.compile(r"^E05\d{6}$")


def read_staffing(
    source: str | Path | bytes, *, name: str | None = None
) -> tuple[CurrentTeam, ...]:
    """Each ward's current team from a CSV or Excel (.xlsx) file.

    Parameters
    ----------
    source
        A path, or the file's bytes (an upload in the app).
    name
        The file's name, for messages and to tell CSV from Excel when *source* is bytes.

    Raises
    ------
    DataError
        The file cannot be read, lacks a column, has a ward twice, a code that is not a ward
        code, or a team that is not a whole number >= 0 (each naming the rows).
    """
    label = name or (Path(source).name if not isinstance(source, bytes) else "staffing file")
    table = _read_table(source, label)
    table = table.rename(columns=lambda c: _ALIASES.get(_key(c), str(c)))
    missing = [c for c in STAFFING_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{label}: no {', '.join(missing)} column (found {', '.join(map(str, table.columns))}"
            "); the file needs ward_code, dwo and pcso: `planner plan --current-template FILE` "
            "writes one to fill in"
        )
    table = table.loc[:, list(STAFFING_COLUMNS)]
    table = table[~table.isna().all(axis=1)]  # blank lines at the end of a spreadsheet
    rows = table.index + 2  # as a spreadsheet numbers them: the header is row 1
    codes = table["ward_code"].astype("string").str.strip()
    bad_code = ~codes.fillna("").str.match(_WARD_CODE)
    _refuse(label, rows[bad_code.to_numpy()], "ward_code is not a ward code (E05 and 6 digits)")
    dup = codes.duplicated(keep=False).to_numpy()
    _refuse(label, rows[dup], "list a ward twice; keep one row per ward")
    teams = {}
    for column in ("dwo", "pcso"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = (values.isna() | (values < 0) | (values % 1 != 0)).to_numpy()
        _refuse(label, rows[bad], f"{column} is not a whole number of officers >= 0")
        teams[column] = values.astype("int64")
    return tuple(
        CurrentTeam(ward_code=str(code), dwo=int(dwo), pcso=int(pcso))
        for code, dwo, pcso in zip(codes, teams["dwo"], teams["pcso"], strict=True)
    )


def staffing_template(wards: pd.DataFrame, *, dwo: int, pcso: int) -> pd.DataFrame:
    """The file to fill in: one row per ward (code, names) with the baseline team.

    *wards* needs ``ward_code`` (index or column), ``ward_name`` and ``borough_name``.
    """
    table = wards.reset_index() if s.WARD_CODE not in wards.columns else wards
    out = pd.DataFrame(
        {
            "ward_code": table[s.WARD_CODE].astype(str),
            "ward_name": table[s.WARD_NAME].astype(str),
            "borough_name": table[s.BOROUGH_NAME].astype(str),
            "dwo": dwo,
            "pcso": pcso,
        }
    )
    return out.sort_values(["borough_name", "ward_name"], kind="stable").reset_index(drop=True)


def _key(header: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(header).casefold())


def _read_table(source: str | Path | bytes, label: str) -> pd.DataFrame:
    excel = label.lower().endswith((".xlsx", ".xlsm"))
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        if excel:
            return pd.read_excel(io.BytesIO(data), dtype=object)
        return pd.read_csv(io.BytesIO(data), dtype=str, encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{label}: no such file; check the path") from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        kind = "an Excel workbook (.xlsx)" if excel else "a UTF-8 CSV file"
        raise DataError(f"{label}: cannot be read as {kind} ({exc})") from None


def _refuse(label: str, rows: pd.Index, problem: str) -> None:
    if len(rows):
        shown = ", ".join(map(str, rows[:MAX_LISTED]))
        more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
        raise DataError(f"{label}: row(s) {shown}{more}: {problem}; correct them and try again")
