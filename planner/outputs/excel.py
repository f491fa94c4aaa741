"""Excel workbooks of plans and comparisons (openpyxl), every cell made safe.

:func:`allocation_book` holds a *Scenario* sheet (the settings the numbers come from, in the
words of the borough pack, and the worst-served ward and borough named), a *London* sheet
(boroughs, then the equity measures in words, with wards and boroughs named beside their
codes), one sheet per borough with its wards, *Methodology* (the settings, the harm index,
the weights, the data checksums and how the numbers are made, in the words of
:mod:`planner.outputs.present`) and *Manifest* (the run's manifest as key/value rows).

Table sheets have readable headers (:data:`HEADERS`) and number formats
(:data:`NUMBER_FORMATS`: shares as percentages, whole officers as whole numbers with
thousands separators, scores to three decimals; the full value stays in the cell), a bold
header row frozen at the top, and the ward code and name frozen at the left.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
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

__all__ = ["HEADERS", "NUMBER_FORMATS", "allocation_book", "new_book", "save_book", "table_sheet"]

_UNSAFE_SHEET = re.compile(r"[\[\]:*?/\\]")
_CONTROL = re.compile(r"[\000-\010\013\014\016-\037]")  # characters an .xlsx cannot hold

HEADERS: Mapping[str, str] = {
    s.WARD_CODE: "Ward code",
    s.WARD_NAME: "Ward",
    s.BOROUGH_CODE: "Borough code",
    s.BOROUGH_NAME: "Borough",
    "need_score": "Need score",
    "rank_london": "Rank in London",
    "rank_borough": "Rank in borough",
    "eligible": "Eligible for extras",
    "need": "Need (as apportioned)",
    "need_share": "Share of London's need",
    "quota": "Need-proportional extras (quota)",
    "baseline_dwo": "Baseline DWOs",
    "baseline_pcso": "Baseline PCSOs",
    "extra": "Extra DWOs",
    "total_dwo": "Total DWOs",
    "officer_share": "Share of London's extra officers",
    "share_gap": "Officer share − need share",
    "target_ratio": "Extras ÷ quota",
    "outside_quota": "Outside quota (not rounded down or up)",
    "policy_quota": "Policy's extras before rounding",
    "rounding": "Rounding (extras − policy)",
    "override": "Override (officers moved)",
    "current_dwo": "Current DWOs",
    "current_pcso": "Current PCSOs",
    "change": "Change in DWOs",
    "n_wards": "Wards",
    "target": "Need-proportional extras (target)",
    "ratio": "Extras ÷ target",
    "floor": "Floor (extra officers)",
    "met_floor": "Floor met",
}
"""Column name -> the header a reader sees (other columns: underscores become spaces)."""

_WHOLE, _SHARE, _SIGNED = "#,##0", "0.00%", "+#,##0;-#,##0;0"
NUMBER_FORMATS: Mapping[str, str] = {
    "need_score": "0.000",
    "need": "0.000",
    "rank_london": _WHOLE,
    "rank_borough": _WHOLE,
    "n_wards": _WHOLE,
    "need_share": _SHARE,
    "officer_share": _SHARE,
    "share_gap": "+0.00%;-0.00%;0.00%",
    "target_ratio": "0%",
    "ratio": "0%",
    "quota": "0.00",
    "target": "0.00",
    "policy_quota": "0.00",
    "rounding": "+0.00;-0.00;0.00",
    "baseline_dwo": _WHOLE,
    "baseline_pcso": _WHOLE,
    "extra": _WHOLE,
    "total_dwo": _WHOLE,
    "floor": _WHOLE,
    "override": _SIGNED,
    "current_dwo": _WHOLE,
    "current_pcso": _WHOLE,
    "change": _SIGNED,
}
"""Column name -> Excel number format."""


def allocation_book(
    result: AllocationResult,
    table: pd.DataFrame,
    boroughs: pd.DataFrame,
    info: Mapping[str, Any],
    *,
    scenario: Sequence[tuple[str, str]] = (),
) -> Workbook:
    """The workbook of an allocation: Scenario, London, a sheet per borough, Methodology, Manifest.

    Parameters
    ----------
    result
        The allocation (settings, pool, equity).
    table, boroughs
        The ward and borough tables as written to CSV.
    info
        The run's manifest (:meth:`planner.results.RunManifest.to_dict`), or any mapping.
    scenario
        The scenario as (label, value) rows (:func:`planner.outputs.present.scenario_facts`).
    """
    book = new_book()
    used = {"scenario", "london", "methodology", "manifest"}
    named = _Names(table, boroughs)
    sheet = book.create_sheet("Scenario")
    _pairs(sheet, [("Scenario", "value"), *scenario, *named.worst(result.equity)], wrap=True)
    london = table_sheet(book, "London", boroughs, freeze="C2")
    equity = [("Equity measure", "value"), *named.equity(result.equity)]
    start = london.max_row + 2
    _pairs(london, equity, start=start)
    formats = {_EQUITY_LABELS.get(k, k): f for k, f in _EQUITY_FORMATS.items()}
    for key_cell, value_cell in london.iter_rows(min_row=start + 1, min_col=1, max_col=2):
        value = value_cell.value
        number = isinstance(value, float) or (isinstance(value, int) and key_cell.value in formats)
        if number and not isinstance(value, bool):
            value_cell.number_format = formats.get(key_cell.value, "0.000")
    for code, row in boroughs.iterrows():
        name = row[s.BOROUGH_NAME] if isinstance(row[s.BOROUGH_NAME], str) else ""
        rows = table[table[s.BOROUGH_CODE] == code].sort_values(s.NEED, ascending=False)
        table_sheet(book, _sheet_name(name.strip() or str(code), used), rows, freeze="C2")
    sheet = book.create_sheet("Methodology")
    _pairs(sheet, _methodology(result, info), wrap=True)
    sheet = book.create_sheet("Manifest")
    _pairs(sheet, [("key", "value"), *_flatten(info)], wrap=True)
    book.remove(book.worksheets[0])
    return book


class _Names:
    """Ward and borough names by code, to name the equity measures' wards and boroughs."""

    def __init__(self, table: pd.DataFrame, boroughs: pd.DataFrame) -> None:
        self.wards = table[s.WARD_NAME] if s.WARD_NAME in table else pd.Series(dtype=object)
        self.boroughs = boroughs[s.BOROUGH_NAME] if s.BOROUGH_NAME in boroughs else pd.Series()

    def ward(self, code: Any) -> str:
        return f"{self.wards.get(code, code)} ({code})" if code else "none"

    def borough(self, code: Any) -> str:
        return f"{self.boroughs.get(code, code)} ({code})" if code else "none"

    def worst(self, eq: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The worst-served ward and borough in words, for the Scenario sheet."""
        rows: list[tuple[str, Any]] = [("", "")]
        if eq.get("worst_served_ward"):
            rows.append(
                (
                    "Worst-served ward",
                    f"{self.ward(eq['worst_served_ward'])} in "
                    f"{self.borough(eq.get('worst_served_ward_borough'))}: "
                    f"{present.percent(eq.get('worst_served_ratio'))} of its need-proportional "
                    "extras",
                )
            )
        if eq.get("worst_served_borough"):
            rows.append(
                (
                    "Worst-served borough",
                    f"{self.borough(eq['worst_served_borough'])}: "
                    f"{present.percent(eq.get('worst_served_borough_ratio'))} of its "
                    "need-proportional extras",
                )
            )
        return rows if len(rows) > 1 else []

    def equity(self, eq: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """Every equity measure with a readable label; codes named."""
        rows: list[tuple[str, Any]] = []
        for key, value in eq.items():
            if key == "worst_inversions":
                for i, w in enumerate(value or [], start=1):
                    rows.append((f"Worst inversion {i}", self._inversion(w)))
                continue
            if key in ("worst_served_ward",):
                value = self.ward(value)
            elif key in ("worst_served_ward_borough", "worst_served_borough"):
                value = self.borough(value)
            rows.append((_EQUITY_LABELS.get(key, key.replace("_", " ")), value))
        return rows

    def _inversion(self, w: Mapping[str, Any]) -> str:
        return (
            f"{self.ward(w.get('more_need'))} gets {w.get('more_need_extra')} extra with more "
            f"need than {self.ward(w.get('less_need'))}, which gets {w.get('less_need_extra')}"
        )


_EQUITY_FORMATS: Mapping[str, str] = {
    "worst_served_ratio": "0%",
    "worst_served_borough_ratio": "0%",
    "gini_officers_per_need": "0.000",
    "max_abs_share_gap_ward": "0.00%",
    "max_abs_share_gap_borough": "0.00%",
    "rounding_officers_moved": "#,##0.0",
    "rounding_max_abs": "0.00",
}

_EQUITY_LABELS: Mapping[str, str] = {
    "worst_served_ratio": "Worst-served ward: extras ÷ its quota",
    "worst_served_ward": "Worst-served ward",
    "worst_served_ward_borough": "Worst-served ward's borough",
    "worst_served_borough_ratio": "Worst-served borough: extras ÷ its target",
    "worst_served_borough": "Worst-served borough",
    "gini_officers_per_need": "Gini of extra officers per unit of need (0 = even)",
    "max_abs_share_gap_ward": "Largest ward gap, officer share − need share",
    "max_abs_share_gap_borough": "Largest borough gap, officer share − need share",
    "wards_outside_quota": "Wards outside their quota (not rounded down or up)",
    "boroughs_below_floor": "Boroughs below their floor",
    "rounding_officers_moved": "Officers placed by whole-officer rounding",
    "rounding_max_abs": "Largest rounding at one ward (officers)",
    "inversions_cross_borough": "Inversions across boroughs (pairs of wards)",
    "inversions_within_borough": "Inversions within boroughs (pairs of wards)",
}


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


def table_sheet(
    book: Workbook,
    title: str,
    frame: pd.DataFrame,
    *,
    index: bool = True,
    freeze: str | None = None,
) -> Any:
    """A sheet of *frame*: readable bold headers (:data:`HEADERS`) on a frozen first row, the
    first column (or up to *freeze*, e.g. ``"C2"`` for code and name) frozen, number formats
    (:data:`NUMBER_FORMATS`) and fitted widths."""
    from openpyxl.styles import Alignment, Font

    sheet = book.create_sheet(title)
    table = frame.reset_index() if index else frame
    columns = [str(c) for c in table.columns]
    sheet.append([_excel_value(_header(c)) for c in columns])
    for row in table.itertuples(index=False, name=None):
        sheet.append([_excel_value(v) for v in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for number, name in enumerate(columns, start=1):
        fmt = NUMBER_FORMATS.get(name)
        if fmt:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=number, max_col=number):
                cell.number_format = fmt
    sheet.freeze_panes = freeze or ("B2" if index else "A2")
    _fit_widths(sheet, max_width=40)
    return sheet


def _header(column: str) -> str:
    return HEADERS.get(column, column.replace("_", " "))


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
