"""data.police.uk record-level CSV sources: street CSVs and generic point CSVs.

Each reader reduces its input to canonical incident rows (``schema.INCIDENT_COLUMNS``)
with x/y in EPSG:27700, and sets aside (never drops) rows it cannot use:
no coordinates, coordinates outside Great Britain or with latitude and longitude
swapped, unparseable months, unknown categories. A file where most rows fail a
check is wrong as a whole and raises :class:`~planner.errors.DataError` instead.
The police.uk API JSON is read the same way by :mod:`planner.ingest.sources.police_uk_api`.

Parsing is columnar (pyarrow for CSV); there are no per-row Python loops.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from planner.config import CategoryMap, CoordinateChecks, PointColumns, normalise_name
from planner.errors import DataError
from planner.files import check_utf8
from planner.ingest.sources import incident_rows
from planner.ingest.sources.base import EmptyFile, Progress, SourceFrame, is_empty
from planner.ingest.sources.sniff import check_text

__all__ = ["read_points_csv", "read_street_csv"]

log = logging.getLogger(__name__)

STREET_COLUMNS = {
    "id": "Crime ID",
    "month": "Month",
    "lon": "Longitude",
    "lat": "Latitude",
    "category": "Crime type",
}


# --- street CSVs -------------------------------------------------------------


def read_street_csv(
    path: str | Path,
    *,
    categories: CategoryMap,
    checks: CoordinateChecks,
    progress: Progress | None = None,
) -> SourceFrame:
    """Read data.police.uk street CSVs: one file, a folder of monthly files, or a zip.

    Parameters
    ----------
    path
        A ``.csv`` file, a folder (every ``*.csv`` below it, in name order) or a
        ``.zip`` of them (as downloaded from data.police.uk).
    categories
        The category mapping (``Crime type`` names).
    checks
        The Great Britain bounds for coordinate checks.
    progress
        Called with each file name as it is read.

    Returns
    -------
    SourceFrame
        Incident rows and rejects; ``Crime ID`` is empty for ASB rows.

    Raises
    ------
    DataError
        A file is empty, not UTF-8, lacks a required column, or most of its rows
        have bad months or coordinates.
    """
    path = Path(path)
    frame = SourceFrame(kind="police_uk_csv", path=str(path))
    parts = []
    for name, table, cols in _csv_tables(path, STREET_COLUMNS, frame, progress):
        parts.append(
            incident_rows.canonical(
                source=name,
                incident_id=_text(table, cols["id"]),
                month=_text(table, cols["month"]),
                category=_text(table, cols["category"]),
                subcategory=None,
                lon=_text(table, cols["lon"]),
                lat=_text(table, cols["lat"]),
                mapping=categories.csv,
                mapping_hint="[police_uk.csv] in config/categories.toml",
                checks=checks,
            )
        )
    # A Crime ID is unique to a crime; the same id in two rows is the same crime published
    # twice (seen in the Met burglary files): count it once. ASB rows have no id.
    return incident_rows.finish(frame, parts, dedupe_ids=True)


def read_points_csv(
    path: str | Path,
    *,
    columns: PointColumns,
    categories: CategoryMap,
    checks: CoordinateChecks,
    progress: Progress | None = None,
) -> SourceFrame:
    """Read a generic CSV of points with configured columns.

    Coordinates are either ``lon``/``lat`` (WGS84) or ``easting``/``northing`` in
    ``columns.crs``. Categories are matched against both the police.uk names and
    the API slugs.

    Raises
    ------
    DataError
        As :func:`read_street_csv` (a :class:`~planner.config.PointColumns` always names
        a lon/lat or an easting/northing pair: it checks that when it is made).
    """
    path = Path(path)
    frame = SourceFrame(kind="points_csv", path=str(path))
    use_lonlat = bool(columns.lon and columns.lat)
    wanted = {"month": columns.month, "category": columns.category}
    wanted |= (
        {"a": columns.lon, "b": columns.lat}
        if use_lonlat
        else {"a": columns.easting, "b": columns.northing}
    )
    for key, col in (("id", columns.incident_id), ("sub", columns.subcategory)):
        if col:
            wanted[key] = col
    mapping = {**categories.api, **categories.csv}
    parts = []
    for name, table, cols in _csv_tables(path, wanted, frame, progress):
        parts.append(
            incident_rows.canonical(
                source=name,
                incident_id=_text(table, cols["id"]) if "id" in cols else None,
                month=_text(table, cols["month"]),
                category=_text(table, cols["category"]),
                subcategory=_text(table, cols["sub"]) if "sub" in cols else None,
                lon=_text(table, cols["a"]),
                lat=_text(table, cols["b"]),
                mapping=mapping,
                mapping_hint="[police_uk.csv] in config/categories.toml",
                checks=checks,
                crs=None if use_lonlat else columns.crs,
            )
        )
    return incident_rows.finish(frame, parts, dedupe_ids=columns.incident_id is not None)


# --- CSV helpers ---------------------------------------------------------------


def _csv_tables(
    path: Path, wanted: dict[str, str], frame: SourceFrame, progress: Progress | None
) -> Iterator[tuple[str, pa.Table, dict[str, str]]]:
    """Yield (name, table, column map) for every CSV of *path*, recording it in *frame*.

    An empty file (no text at all) is no data for its month, not an error: it is recorded in
    ``frame.empty_files``. A source whose every file is empty has nothing to read: that is an
    error.
    """
    read = 0
    for name, data in _csv_members(path):
        if progress:
            progress(name)
        frame.files.append(name)
        if is_empty(data):
            frame.empty_files.append(EmptyFile.named(name))
            continue
        read += 1
        table = _parse_csv(data, name)
        yield name, table, _require_columns(table.column_names, wanted, name)
    if not read:
        names = [e.name for e in frame.empty_files]
        raise DataError(
            f"{names[0]}: the file is empty (no text at all)"
            + (f", and so are the other {len(names) - 1} files of {path}" if len(names) > 1 else "")
            + "; expected a header row and data rows. An empty file among others counts as a "
            "month with no data; a source with nothing else has nothing to read: download it "
            "again, or remove the source from the dataset"
        )


def _csv_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) for every CSV in a file, folder or zip."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the dataset's source path")
    if path.is_dir():
        files = sorted(path.rglob("*.csv"))
        if not files:
            raise DataError(f"{path}: no .csv files found in this folder")
        for f in files:
            yield str(f), f.read_bytes()
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = sorted(n for n in zf.namelist() if n.lower().endswith(".csv"))
                if not names:
                    raise DataError(f"{path}: the zip holds no .csv files")
                for n in names:
                    yield f"{path}:{n}", zf.read(n)
        # OSError: offsets before the start (head cut off); NotImplementedError: unknown
        # compression method; RuntimeError: encrypted members
        except (
            zipfile.BadZipFile,
            EOFError,
            zlib.error,
            OSError,
            NotImplementedError,
            RuntimeError,
        ) as exc:
            raise DataError(
                f"{path}: the zip is truncated or damaged ({type(exc).__name__}: {exc}); "
                "download it again"
            ) from None
    else:
        yield str(path), path.read_bytes()


def _parse_csv(data: bytes, name: str) -> pa.Table:
    check_text(data, name)
    check_utf8(data, name)
    first = data.split(b"\n", 1)[0].decode("utf-8-sig")
    try:  # newline="": old Mac files end their lines with a bare CR
        header = next(csv.reader(io.StringIO(first, newline="")), [])
    except csv.Error as exc:
        raise DataError(
            f"{name}: line 1 is not a CSV header ({exc}); check it is a CSV file"
        ) from None
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            # every column as text: months and coordinates are parsed (and checked) later
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header}),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"{name}: cannot be read as CSV ({exc}); check it is a complete file"
        ) from None
    return table


def _require_columns(found: list[str], wanted: dict[str, str], name: str) -> dict[str, str]:
    """Map wanted keys to actual column names (case/space-insensitive) or raise naming them."""
    by_norm = {normalise_name(c): c for c in found}
    out, missing = {}, []
    for key, col in wanted.items():
        actual = by_norm.get(normalise_name(col))
        if actual is None:
            missing.append(col)
        else:
            out[key] = actual
    if missing:
        hints = []
        for col in missing:
            close = difflib.get_close_matches(col, found, n=1, cutoff=0.6)
            if close:
                hints.append(f"{close[0]!r} looks like {col!r}: rename it")
        hint = "; ".join(hints) or "use the data.police.uk street CSV layout"
        raise DataError(
            f"{name}: missing column(s) {', '.join(map(repr, missing))} "
            f"(found: {', '.join(found) or 'no columns'}); {hint}"
        )
    return out


def _text(table: pa.Table, column: str) -> pa.ChunkedArray:
    return table.column(column).cast(pa.string())
