"""Excel workbooks of plans and comparisons (openpyxl), every cell made safe.

:func:`allocation_book` holds a *London* sheet (boroughs, then the equity measures), one sheet
per borough with its wards, *Methodology* (the settings, the harm index, the weights, the data
checksums and how the numbers are made, in the words of :mod:`planner.outputs.present`) and
*Manifest* (the run's manifest as key/value rows).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.files import atomic_path
from planner.outputs import present
from planner.outputs.safe import safe_cell
from planner.results import jsonable

if TYPE_CHECKING:
    from openpyxl import Workbook

    from planner.plan.allocation import AllocationResult

__all__ = ["allocation_book", "new_book", "save_book", "table_sheet"]

_UNSAFE_SHEET = re.compile(r"[\[\]:*?/\\]")
_CONTROL = re.compile(r"[\000-\010\013\014\016-\037]")  # characters an .xlsx cannot hold


def allocation_book(
    result: AllocationResult, table: pd.DataFrame, boroughs: pd.DataFrame, info: Mapping[str, Any]
) -> Workbook:
    """The workbook of an allocation: London, one sheet per borough, Methodology, Manifest.

    Parameters
    ----------
    result
        The allocation (settings, pool, equity).
    table, boroughs
        The ward and borough tables as written to CSV.
    info
        The run's manifest (:meth:`planner.results.RunManifest.to_dict`), or any mapping.
    """
    book = new_book()
    used = {"london", "methodology", "manifest"}
    london = table_sheet(book, "London", boroughs)
    equity = [("equity measure", "value"), *result.equity.items()]
    _pairs(london, equity, start=london.max_row + 2)
    for code, row in boroughs.iterrows():
        name = row[s.BOROUGH_NAME] if isinstance(row[s.BOROUGH_NAME], str) else ""
        rows = table[table[s.BOROUGH_CODE] == code].sort_values(s.NEED, ascending=False)
        table_sheet(book, _sheet_name(name.strip() or str(code), used), rows)
    sheet = book.create_sheet("Methodology")
    _pairs(sheet, _methodology(result, info), wrap=True)
    sheet = book.create_sheet("Manifest")
    _pairs(sheet, [("key", "value"), *_flatten(info)], wrap=True)
    book.remove(book.worksheets[0])
    return book


def _methodology(result: AllocationResult, info: Mapping[str, Any]) -> list[tuple[str, Any]]:
    st = result.settings

    def none(value: Any) -> Any:
        return "none" if value is None or value == "" else value

    rows: list[tuple[str, Any]] = [
        ("item", "value"),
        ("extra officers (pool)", result.pool),
        ("method", present.method_description(st.method)),
        ("baseline Dedicated Ward Officers per ward", st.baseline_dwo),
        ("baseline PCSOs per ward", st.baseline_pcso),
        ("maximum extra per ward", none(st.max_extra_per_ward)),
        ("borough floor share", st.borough_floor_share),
        ("maximum change from current extras", none(st.max_change)),
        ("excluded wards", none(", ".join(sorted(st.excluded)))),
        ("dataset", info.get("dataset", "not recorded")),
        ("harm index", info.get("harm_index", "not recorded")),
    ]
    rows += [(f"weight: {k}", v) for k, v in (info.get("weights_used") or {}).items()]
    rows += [
        (f"data sha256: {d.get('path')}", d.get("sha256"))
        for d in info.get("data") or []
        if isinstance(d, Mapping)
    ]
    rows += [("", ""), ("how the numbers are made", "")]
    text = present.allocation_method_sentences(st, result.pool)
    text.append("The allocation is advisory: a commander's change is recorded with its reason.")
    return rows + [("", sentence) for sentence in text]


def _flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Key/value rows: nested keys joined with dots, list items numbered."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list) and any(isinstance(v, Mapping | list) for v in data):
        for i, value in enumerate(data):
            yield from _flatten(value, f"{prefix}[{i}]")
    elif isinstance(data, list):
        yield prefix, ", ".join(map(str, data))
    else:
        yield prefix, data


def table_sheet(book: Workbook, title: str, frame: pd.DataFrame, *, index: bool = True) -> Any:
    """A sheet of *frame* (bold header, frozen first row and column, fitted widths)."""
    from openpyxl.styles import Font

    sheet = book.create_sheet(title)
    table = frame.reset_index() if index else frame
    sheet.append([_excel_value(str(c)) for c in table.columns])
    for row in table.itertuples(index=False, name=None):
        sheet.append([_excel_value(v) for v in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "B2" if index else "A2"
    _fit_widths(sheet)
    return sheet


def _pairs(
    sheet: Any, rows: Iterable[tuple[Any, Any]], *, start: int = 1, wrap: bool = False
) -> None:
    """Two columns from *start* down, the first row (a header) bold."""
    from openpyxl.styles import Alignment, Font

    for offset, (key, value) in enumerate(rows):
        for column, item in enumerate((key, value), start=1):
            sheet.cell(row=start + offset, column=column, value=_excel_value(item))
    for cell in sheet[start]:
        cell.font = Font(bold=True)
    if start == 1:
        sheet.freeze_panes = "A2"
    if wrap:
        for cell in sheet["B"]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _fit_widths(sheet, max_width=100 if wrap else 60)


def _excel_value(value: Any) -> Any:
    """A cell value openpyxl can store: plain Python, NaN empty, text neutralised."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if not isinstance(value, bool | int | float | dt.date | str):
        value = (
            json.dumps(jsonable(value), default=str)
            if isinstance(value, Mapping | list | tuple)
            else str(value)
        )
    return safe_cell(_CONTROL.sub("", value)) if isinstance(value, str) else value


def _fit_widths(sheet: Any, *, max_width: int = 60) -> None:
    for column in sheet.iter_cols(max_row=min(sheet.max_row, 500)):
        longest = max((len(str(c.value)) for c in column if c.value is not None), default=0)
        sheet.column_dimensions[column[0].column_letter].width = min(max(longest + 2, 8), max_width)


def _sheet_name(text: str, used: set[str]) -> str:
    """A unique Excel sheet name: at most 31 characters, none of ``[]:*?/\\``."""
    base = _UNSAFE_SHEET.sub("_", _CONTROL.sub("", text)).strip("' ") or "Borough"
    name, n = base[:31].strip("' "), 1
    while name.casefold() in used or name.casefold() == "history":
        n += 1
        name = f"{base[: 31 - len(str(n)) - 3].rstrip()} ({n})"
    used.add(name.casefold())
    return name


def new_book() -> Workbook:
    """An empty workbook (a clear error where openpyxl is not installed)."""
    try:
        from openpyxl import Workbook
    except ImportError as exc:
        raise ImportError(
            "Excel export needs openpyxl: pip install openpyxl (or the [store] extra)"
        ) from exc
    return Workbook()


def save_book(book: Workbook, path: Path) -> Path:
    """Save *book* to *path* atomically; returns the path."""
    with atomic_path(path) as tmp:
        book.save(tmp)
    return path
