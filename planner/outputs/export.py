"""Files out: need tables, allocation tables and scenario comparisons, each with its manifest.

Every file is written atomically (:func:`planner.files.atomic_path`): a failure leaves the
previous file, or none, never half a file. Text cells a spreadsheet would run as a formula are
neutralised in CSV and Excel (:func:`neutralise`), and file names made from user text cannot
leave the output folder (:func:`safe_filename`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import __version__
from planner import schema as s
from planner.errors import ConfigError, DataError
from planner.files import atomic_path, sha256_file
from planner.model.scoring import NEED_SCORE, RANK_BOROUGH, RANK_LONDON

if TYPE_CHECKING:
    from openpyxl import Workbook

    from planner.plan.allocation import AllocationResult

__all__ = [
    "FORMATS",
    "neutralise",
    "safe_filename",
    "write_allocation",
    "write_csv",
    "write_json",
    "write_need_tables",
    "write_scenario_diff",
]

FORMATS = ("csv", "xlsx", "geojson", "gpkg")
GPKG_LAYER = "allocation"
SCORE_COLUMNS = (NEED_SCORE, RANK_LONDON, RANK_BOROUGH)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_NAME = re.compile(r"[^\w .-]")  # keeps letters, digits, _, space, dash, dot
_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in "123456789"
}
_UNSAFE_SHEET = re.compile(r"[\[\]:*?/\\]")
_CONTROL = re.compile(r"[\000-\010\013\014\016-\037]")  # characters an .xlsx cannot hold
_METHOD_NAMES = {
    "webster": "Webster/Sainte-Laguë (divisor method, rounding at one half)",
    "dhondt": "D'Hondt (divisor method, rounding down)",
    "huntington_hill": "Huntington-Hill (divisor method, rounding at the geometric mean)",
    "hamilton": "Hamilton (largest remainder)",
}


# --- the existing writers -------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write *frame* as UTF-8 CSV via a temporary file, formula-like text neutralised.

    Returns the path.
    """
    with atomic_path(path) as tmp:
        neutralise(frame).to_csv(tmp, index=index, encoding="utf-8", float_format="%.6g")
    return Path(path)


def write_json(data: Any, path: str | Path) -> Path:
    """Write *data* as indented JSON via a temporary file; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return Path(path)


def write_need_tables(result: Any, out_dir: str | Path) -> list[Path]:
    """Write a :class:`planner.model.need.NeedResult` as CSV tables and a manifest.

    Files: ``scores.csv`` (score, ranks, contributions per component), ``components.csv``
    (raw component values), ``features.csv`` (every feature under the chosen harm index),
    ``sensitivity.csv`` (per-ward rank ranges), ``backtest.csv`` (forecast vs baselines,
    when run) and ``manifest.json`` (settings, data checksums, sensitivity summary,
    forecast verdict).
    """
    out = Path(out_dir)
    inputs = result.inputs
    written = [
        write_csv(result.scores.sort_values("rank_london"), out / "scores.csv"),
        write_csv(result.components, out / "components.csv"),
        write_csv(inputs.features[result.settings.harm_index], out / "features.csv"),
    ]
    if result.sensitivity is not None:
        written.append(write_csv(result.sensitivity, out / "sensitivity.csv"))
    if inputs.backtest is not None:
        written.append(write_csv(inputs.backtest, out / "backtest.csv", index=False))
    manifest = {**result.manifest, "sensitivity": result.sensitivity_summary}
    manifest["files"] = [p.name for p in written]
    written.append(write_json(manifest, out / "manifest.json"))
    return written


# --- safe cells and safe names --------------------------------------------------------


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of *frame* whose text cells cannot run as spreadsheet formulas.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (in cells, the
    index and the column labels) gets a leading single quote, so Excel or LibreOffice shows
    it as text instead of evaluating it. Numbers, negative ones included, stay numbers.

    Parameters
    ----------
    frame
        Any table.

    Returns
    -------
    pandas.DataFrame
    """
    out = frame.copy(deep=False)
    for i in range(out.shape[1]):
        out.isetitem(i, _safe_values(out.iloc[:, i]))
    out.index = _safe_labels(out.index)
    out.columns = _safe_labels(out.columns)
    return out


def safe_filename(text: str, *, max_length: int = 100, default: str = "export") -> str:
    """A file name made from user text that cannot name another folder.

    Path separators and every character other than letters, digits, space, dash, underscore
    and dot become ``_``; runs of dots collapse to one (no ``..``); leading and trailing dots
    and spaces go; Windows device names (``CON``, ``NUL`` ...) get a leading ``_``.

    Parameters
    ----------
    text
        The user's text, e.g. a scenario name or a borough name.
    max_length
        Longest name returned, in characters.
    default
        The name used when nothing usable is left.

    Returns
    -------
    str
    """
    name = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFKC", str(text)))
    name = re.sub(r"\.{2,}", ".", name).strip(" .")
    if name.split(".")[0].upper() in _RESERVED_NAMES:
        name = "_" + name
    return name[:max_length].rstrip(" .") or default


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _safe_values(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype):
        return values.map(_safe_cell)
    return values


def _safe_labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        levels = [_safe_values(index.get_level_values(i)) for i in range(index.nlevels)]
        return pd.MultiIndex.from_arrays(levels, names=index.names)
    return _safe_values(index)


def _inside(out: Path, name: str) -> Path:
    """``out / name``, or :class:`DataError` if it resolves outside *out* (e.g. a symlink)."""
    resolved = (out / name).resolve()
    if resolved.parent != out.resolve():
        raise DataError(
            f"output file {name!r} would be written to {resolved}, outside the output folder "
            f"{out.resolve()}; remove the link there or choose another stem"
        )
    return out / name


# --- allocation -------------------------------------------------------------------------


def write_allocation(
    result: AllocationResult,
    wards: gpd.GeoDataFrame,
    out_dir: str | Path,
    *,
    manifest: Mapping[str, Any],
    scores: pd.DataFrame | None = None,
    formats: Iterable[str] = FORMATS,
    stem: str = "allocation",
) -> list[Path]:
    """Write an allocation as CSV, Excel, GeoJSON and/or GeoPackage, with its manifest.

    The ward table is ``result.wards`` with ``ward_name`` and ``borough_name`` from *wards*
    and, when *scores* is given, ``need_score``, ``rank_london`` and ``rank_borough``.

    Files (``<stem>`` passed through :func:`safe_filename`):

    - ``<stem>.csv`` (wards) and ``<stem>_boroughs.csv``, UTF-8;
    - ``<stem>.xlsx``: a *London* sheet (boroughs, then the equity measures), one sheet per
      borough with its wards, *Methodology* (settings, harm index, weights, data checksums
      and how the numbers are made) and *Manifest* (the manifest as key/value rows);
    - ``<stem>.geojson`` in EPSG:4326 and ``<stem>.gpkg`` (layer ``allocation``) in
      EPSG:27700, with the full geometry;
    - ``<stem>_manifest.json``, written last: the manifest, the allocation settings and
      equity, the planner version, the time of writing and the sha256 of every file.

    Parameters
    ----------
    result
        From :func:`planner.plan.allocation.allocate_wards`.
    wards
        Ward boundaries indexed by ``ward_code`` (or with that column), with ``ward_name``,
        ``borough_name`` and a CRS.
    out_dir
        Output folder, created if missing.
    manifest
        The run's manifest (settings, ``data`` checksums, ``harm_index``, ``weights_used``...).
    scores
        Need scores indexed by ``ward_code``; wards without a score get empty cells.
    formats
        Any of :data:`FORMATS`.
    stem
        The file names' common start.

    Returns
    -------
    list of Path
        The files written, the manifest last.

    Raises
    ------
    ConfigError
        An unknown format.
    DataError
        Wards without a boundary, name columns or CRS, or a file name leading outside
        *out_dir*.
    """
    chosen = _check_formats(formats)
    out, base = Path(out_dir), safe_filename(stem, default="allocation")
    wards = _ward_frame(wards)
    table = _ward_table(result, wards, scores)
    boroughs = _borough_table(result, wards)
    info = _export_manifest(manifest, allocation=result)
    out.mkdir(parents=True, exist_ok=True)
    # every target is checked before anything is written
    target = {fmt: _inside(out, f"{base}.{fmt}") for fmt in chosen}
    borough_csv = _inside(out, f"{base}_boroughs.csv")
    manifest_json = _inside(out, f"{base}_manifest.json")
    written: list[Path] = []
    for fmt in chosen:
        if fmt == "csv":
            written += [write_csv(table, target[fmt]), write_csv(boroughs, borough_csv)]
        elif fmt == "xlsx":
            written.append(_save_book(_allocation_book(result, table, boroughs, info), target[fmt]))
        else:
            geo = gpd.GeoDataFrame(table, geometry=wards.geometry.loc[table.index])
            written.append(_write_geo(geo, target[fmt]))
    written.append(_write_manifest(info, written, manifest_json))
    return written


def write_scenario_diff(
    diff_wards: pd.DataFrame,
    diff_boroughs: pd.DataFrame,
    out_dir: str | Path,
    *,
    manifest: Mapping[str, Any],
    stem: str = "scenario",
) -> list[Path]:
    """Write a scenario comparison as CSV and Excel, with its manifest.

    Files: ``<stem>_wards.csv``, ``<stem>_boroughs.csv``, ``<stem>.xlsx`` (sheets *Wards*
    and *Boroughs*) and ``<stem>_manifest.json`` (the manifest, planner version, time of
    writing and the sha256 of every file), written last.

    Parameters
    ----------
    diff_wards, diff_boroughs
        The ward and borough comparison tables; a named index is written as a column.
    out_dir
        Output folder, created if missing.
    manifest
        Both scenarios' settings and data checksums.
    stem
        The file names' common start, passed through :func:`safe_filename`.

    Returns
    -------
    list of Path

    Raises
    ------
    DataError
        A file name leading outside *out_dir*.
    """
    out, base = Path(out_dir), safe_filename(stem, default="scenario")
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{base}_wards.csv", f"{base}_boroughs.csv", f"{base}.xlsx", f"{base}_manifest.json"]
    targets = [_inside(out, name) for name in names]
    written, book = [], _new_book()
    for i, (label, frame) in enumerate((("Wards", diff_wards), ("Boroughs", diff_boroughs))):
        index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
        written.append(write_csv(frame, targets[i], index=index))
        _table_sheet(book, label, frame, index=index)
    book.remove(book.worksheets[0])
    written.append(_save_book(book, targets[2]))
    written.append(_write_manifest(_export_manifest(manifest), written, targets[3]))
    return written


# --- allocation steps -----------------------------------------------------------------


def _check_formats(formats: Iterable[str]) -> list[str]:
    chosen = [formats] if isinstance(formats, str) else list(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ConfigError(
            f"export formats {unknown or chosen!r} not understood; choose from {', '.join(FORMATS)}"
        )
    return chosen


def _ward_frame(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not isinstance(wards, gpd.GeoDataFrame):
        raise DataError(f"wards should be a GeoDataFrame, got {type(wards).__name__}")
    if wards.index.name != s.WARD_CODE and s.WARD_CODE in wards.columns:
        wards = wards.set_index(s.WARD_CODE)
    problems = [f"no column {c!r}" for c in (s.WARD_NAME, s.BOROUGH_NAME) if c not in wards]
    if wards.crs is None:
        problems.append("no CRS (set it with wards.set_crs(...))")
    if wards.index.has_duplicates:
        dup = wards.index[wards.index.duplicated()].unique()
        problems.append(f"duplicate ward codes {', '.join(map(str, dup[:10]))}")
    if problems:
        raise DataError("wards for the export: " + "; ".join(problems))
    return wards


def _ward_table(
    result: AllocationResult, wards: gpd.GeoDataFrame, scores: pd.DataFrame | None
) -> pd.DataFrame:
    codes = result.wards.index
    missing = codes.difference(wards.index)
    if len(missing):
        raise DataError(
            f"{len(missing)} allocated ward(s) have no boundary in wards: "
            f"{', '.join(map(str, missing[:10]))}; pass the wards the allocation was made for"
        )
    parts = [
        wards.loc[codes, [s.WARD_NAME]],
        result.wards[[s.BOROUGH_CODE]],
        wards.loc[codes, [s.BOROUGH_NAME]],
    ]
    if scores is not None:
        parts.append(scores.reindex(codes, columns=[c for c in SCORE_COLUMNS if c in scores]))
    parts.append(result.wards.drop(columns=s.BOROUGH_CODE))
    return pd.DataFrame(pd.concat(parts, axis=1))


def _borough_table(result: AllocationResult, wards: gpd.GeoDataFrame) -> pd.DataFrame:
    names = wards.drop_duplicates(s.BOROUGH_CODE).set_index(s.BOROUGH_CODE)[s.BOROUGH_NAME]
    table = result.boroughs.copy()
    table.insert(0, s.BOROUGH_NAME, names.reindex(table.index).to_numpy())
    return table


def _write_geo(frame: gpd.GeoDataFrame, path: Path) -> Path:
    """GeoJSON in EPSG:4326 (infinity, which JSON cannot hold, as null) or GeoPackage in
    EPSG:27700, written atomically: staged under a name with the right extension."""
    if path.suffix == ".geojson":
        driver, frame = "GeoJSON", frame.to_crs(s.DISPLAY_CRS)
        floats = frame.select_dtypes("float").columns
        frame[floats] = frame[floats].replace([np.inf, -np.inf], np.nan)
    else:
        driver, frame = "GPKG", frame.to_crs(s.WORKING_CRS)
    with atomic_path(path) as tmp:
        staged = tmp.with_suffix(path.suffix)
        try:
            frame.reset_index().to_file(staged, driver=driver, layer=GPKG_LAYER)
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)
    return path


# --- manifest ----------------------------------------------------------------------------


def _export_manifest(
    manifest: Mapping[str, Any], *, allocation: AllocationResult | None = None
) -> dict[str, Any]:
    info = {**manifest, "planner_version": __version__}
    info["created"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    if allocation is not None:
        settings = {
            f.name: getattr(allocation.settings, f.name)
            for f in dataclasses.fields(allocation.settings)
            if f.name != "current_extra"
        }
        settings["current_extra_given"] = allocation.settings.current_extra is not None
        info["allocation"] = {
            "pool": allocation.pool,
            "settings": settings,
            "equity": allocation.equity,
        }
    return _plain(info)


def _write_manifest(info: dict[str, Any], written: Sequence[Path], path: Path) -> Path:
    files = [{"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in written]
    return write_json({**info, "files": files}, path)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python, NaN/inf as None, sets sorted into lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        value = sorted(value, key=str)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


# --- Excel ---------------------------------------------------------------------------------


def _allocation_book(
    result: AllocationResult, table: pd.DataFrame, boroughs: pd.DataFrame, info: dict[str, Any]
) -> Workbook:
    book = _new_book()
    used = {"london", "methodology", "manifest"}
    london = _table_sheet(book, "London", boroughs)
    equity = [("equity measure", "value"), *result.equity.items()]
    _pairs(london, equity, start=london.max_row + 2)
    for code, row in boroughs.iterrows():
        name = row[s.BOROUGH_NAME] if isinstance(row[s.BOROUGH_NAME], str) else ""
        rows = table[table[s.BOROUGH_CODE] == code].sort_values(s.NEED, ascending=False)
        _table_sheet(book, _sheet_name(name.strip() or str(code), used), rows)
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
        ("method", _METHOD_NAMES.get(st.method, st.method)),
        ("baseline Dedicated Ward Officers per ward", st.baseline_dwo),
        ("baseline PCSOs per ward", st.baseline_pcso),
        ("maximum extra per ward", none(st.max_extra_per_ward)),
        ("borough floor share", st.borough_floor_share),
        ("maximum change from current extras", none(st.max_change)),
        ("excluded wards", none(", ".join(sorted(st.excluded)))),
        ("dataset", info.get("dataset", "not recorded")),
        ("harm index", info.get("harm_index", "not recorded")),
    ]
    weights = info.get("weights_used") or info.get("weights") or {}
    rows += [(f"weight: {k}", v) for k, v in weights.items()]
    rows += [(f"data sha256: {path}", sha) for path, sha in _checksums(info)]
    rows += [("", ""), ("how the numbers are made", "")]
    return rows + [("", text) for text in _method_text(result)]


def _checksums(info: Mapping[str, Any]) -> list[tuple[str, Any]]:
    data = info.get("data") or info.get("inputs") or []
    if isinstance(data, Mapping):
        return [(str(k), v.get("sha256") if isinstance(v, Mapping) else v) for k, v in data.items()]
    return [
        (str(d.get("path") or d.get("name")), d.get("sha256"))
        for d in data
        if isinstance(d, Mapping)
    ]


def _method_text(result: AllocationResult) -> list[str]:
    st = result.settings
    divisor = st.method != "hamilton"
    text = [
        f"Every ward keeps its baseline team of {st.baseline_dwo} Dedicated Ward Officers and "
        f"{st.baseline_pcso} PCSO(s). A pool of {result.pool} extra officers is shared out on "
        "top, in whole officers, by each ward's need (the need index: crime harm weighted by "
        "the harm index above, with the components and weights listed above).",
        "Divisor method: each ward's need is divided by a common divisor and rounded by the "
        "method's rule; the divisor is chosen so the extras add up to the pool exactly. A ward "
        "never loses an officer when the pool grows."
        if divisor
        else "Largest remainder: each ward gets the whole part of its quota and the officers "
        "left go to the largest fractions. A ward can lose an officer when the pool grows.",
        "need_share is a ward's share of the need of all eligible (not excluded) wards; "
        "quota = need_share x pool is its need-proportional target; officer_share = extra / "
        "pool; share_gap = officer_share - need_share (negative: fewer officers than its share "
        "of need); target_ratio = extra / quota; outside_quota marks a ward whose extras are "
        "not its quota rounded down or up. The London sheet shows the same by borough and the "
        "equity measures (worst-served ratio, Gini of officers per unit of need).",
    ]
    if st.borough_floor_share > 0:
        text.append(
            f"Borough floors: every borough gets at least {st.borough_floor_share:g} of its "
            "need-proportional share, so the pool is shared first between boroughs, then "
            "between the wards of each borough."
        )
    if st.max_extra_per_ward is not None or st.max_change is not None:
        text.append("Caps and damping bound each ward's extras (see the settings above).")
    text.append("The allocation is advisory: a commander's change is recorded with its reason.")
    return text


def _table_sheet(book: Workbook, title: str, frame: pd.DataFrame, *, index: bool = True) -> Any:
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
            json.dumps(_plain(value), default=str)
            if isinstance(value, Mapping | list | tuple)
            else str(value)
        )
    return _safe_cell(_CONTROL.sub("", value)) if isinstance(value, str) else value


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


def _new_book() -> Workbook:
    try:
        from openpyxl import Workbook
    except ImportError as exc:
        raise ImportError(
            "Excel export needs openpyxl: pip install openpyxl (or the [store] extra)"
        ) from exc
    return Workbook()


def _save_book(book: Workbook, path: Path) -> Path:
    with atomic_path(path) as tmp:
        book.save(tmp)
    return path
