"""data.police.uk record-level sources: street CSVs, API JSON and generic point CSVs.

Each reader reduces its input to canonical incident rows (``schema.INCIDENT_COLUMNS``)
with x/y in EPSG:27700, and sets aside (never drops) rows it cannot use:
no coordinates, coordinates outside Great Britain or with latitude and longitude
swapped, unparseable months, unknown categories. A file where most rows fail a
check is wrong as a whole and raises :class:`~planner.errors.DataError` instead.

Parsing is columnar (pyarrow for CSV, DuckDB for JSON arrays); there are no
per-row Python loops.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import gzip
import io
import logging
import os
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from planner.config import CategoryMap, CoordinateChecks, PointColumns, normalise_name
from planner.errors import DataError
from planner.files import check_utf8
from planner.ingest.sources import incident_rows
from planner.ingest.sources.base import SourceFrame

__all__ = ["read_api_json", "read_points_csv", "read_street_csv"]

log = logging.getLogger(__name__)

STREET_COLUMNS = {
    "id": "Crime ID",
    "month": "Month",
    "lon": "Longitude",
    "lat": "Latitude",
    "category": "Crime type",
}
_BATCH_COLUMNS = ("id", "month", "category", "lon", "lat", "source")
_API_COLUMNS = {
    "id": "BIGINT",
    "month": "VARCHAR",
    "category": "VARCHAR",
    "location": "STRUCT(latitude VARCHAR, longitude VARCHAR)",
}

Progress = Callable[[str], None]


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


# --- API JSON ---------------------------------------------------------------


def read_api_json(
    path: str | Path,
    *,
    categories: CategoryMap,
    checks: CoordinateChecks,
    progress: Progress | None = None,
    workers: int = 2,
) -> SourceFrame:
    """Read data.police.uk API JSON: files, folders, or ``.tar.gz`` archives of them.

    Each JSON file is an array of crimes as returned by ``crimes-street``. Records
    that appear in several files (the API was queried per ward polygon, so about
    5 % appear in two neighbouring wards' files) are de-duplicated on ``id``; the
    first file in name order keeps them, and the others are counted as duplicates.
    Archives are read *workers* at a time (decompression and DuckDB's JSON parser
    both run outside the GIL).

    Raises
    ------
    DataError
        An archive is truncated or damaged, a file is not a JSON array of crimes,
        or most rows have bad months or coordinates.
    """
    path = Path(path)
    frame = SourceFrame(kind="police_uk_api", path=str(path))
    batches = _json_batches(path)

    def one(batch: tuple[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
        label, item = batch
        with tempfile.TemporaryDirectory(prefix="planner-api-", dir=_scratch_dir()) as tmp:
            files = _extract_json(item, Path(tmp)) if _is_tar(item) else _json_files(item)
            table = _read_json_batch(files, label)
        return incident_rows.canonical(
            source=table.column("source"),
            incident_id=table.column("id"),
            month=table.column("month"),
            category=table.column("category"),
            subcategory=None,
            lon=table.column("lon"),
            lat=table.column("lat"),
            mapping=categories.api,
            mapping_hint="[police_uk.api] in config/categories.toml",
            checks=checks,
        )

    parts = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for (label, _), part in zip(batches, pool.map(one, batches), strict=True):
            if progress:
                progress(label)
            frame.files.append(label)
            parts.append(part)
    return incident_rows.finish(frame, parts, dedupe_ids=True)


def _json_batches(path: Path) -> list[tuple[str, Path]]:
    """(label, archive or folder or file) to read, in name order."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the dataset's source path")
    if path.is_file():
        return [(path.name, path)]
    archives = sorted(p for p in path.rglob("*") if _is_tar(p))
    batches = [(a.name, a) for a in archives]
    if any(path.rglob("*.json")):
        batches.insert(0, (path.name, path))
    if not batches:
        raise DataError(f"{path}: no .json files or .tar.gz archives found in this folder")
    return batches


def _scratch_dir() -> str | None:
    """Memory-backed /dev/shm for the short-lived extracted JSON where there is one."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _json_files(item: Path) -> list[Path]:
    return [item] if item.is_file() else sorted(item.rglob("*.json"))


def _is_tar(p: Path) -> bool:
    return p.is_file() and p.name.endswith((".tar.gz", ".tgz", ".tar"))


def _extract_json(archive: Path, into: Path) -> list[Path]:
    """Stream the archive once and join its members' JSON arrays into one array file.

    One file per archive lets DuckDB parse a month in one pass (the per-ward files are
    small and numerous). Records are labelled with the archive's name.
    """
    parts: list[bytes] = []
    member = ""
    try:
        with open(archive, "rb") as raw, _gunzipped(raw) as stream:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for info in tar:
                    if not (info.isfile() and info.name.endswith(".json")):
                        continue
                    member = info.name
                    data = tar.extractfile(info).read().strip()
                    if not (data.startswith(b"[") and data.endswith(b"]")):
                        raise DataError(
                            f"{archive}:{member}: expected a JSON array of crimes ([...]), "
                            f"found {data[:40]!r}; re-download the archive"
                        )
                    if data[1:-1].strip():
                        parts.append(data[1:-1])
            # tarfile stops at what looks like the end of the archive, so a download cut
            # short between two members would pass as a smaller archive: read to the end
            # of the gzip stream, which checks its length and CRC (EOFError if cut short).
            while stream.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(
            f"{archive}: the archive is truncated or damaged after member {member or '(none)'} "
            f"({type(exc).__name__}: {exc}); download it again (planner fetch) or re-create "
            "it, then re-run"
        ) from None
    target = into / "records.json"
    with open(target, "wb") as f:
        f.write(b"[")
        for i, part in enumerate(parts):
            if i:
                f.write(b",")
            f.write(part)
        f.write(b"]")
    return [target]


def _gunzipped(raw: BinaryIO) -> contextlib.AbstractContextManager[BinaryIO]:
    """A gzip reader over *raw* when it is gzip (by its magic bytes), else *raw* itself."""
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return contextlib.nullcontext(raw)


def _read_json_batch(files: list[Path], label: str) -> pa.Table:
    """Parse JSON arrays of crimes with DuckDB; source = "<archive>:<member>"."""
    if not files:
        return pa.table({c: pa.array([], pa.string()) for c in _BATCH_COLUMNS})
    query = f"""
        SELECT id, month, category,
               TRY_CAST(location.longitude AS DOUBLE) AS lon,
               TRY_CAST(location.latitude AS DOUBLE) AS lat,
               parse_filename(filename) AS source
        FROM read_json({[str(f) for f in files]!r}, format = 'array',
                       columns = {_API_COLUMNS!r}, filename = true)
    """
    con = duckdb.connect(config={"threads": 1})  # archives are read in parallel instead
    try:
        table = con.sql(query).to_arrow_table()
    except (duckdb.Error, UnicodeDecodeError) as exc:  # DuckDB can cut a message mid-character
        raise DataError(
            f"{label}: a file is not a JSON array of police.uk crimes ({exc}). Expected "
            '[{"id": ..., "month": "YYYY-MM", "category": ..., "location": '
            '{"latitude": ..., "longitude": ...}}, ...]; re-download the file'
        ) from None
    finally:
        con.close()
    if label.endswith((".tar.gz", ".tgz", ".tar")):  # members were joined into one file
        indices = pa.array(np.zeros(table.num_rows, dtype=np.int32))
        source = pa.DictionaryArray.from_arrays(indices, pa.array([label], pa.string()))
    else:
        source = table.column("source").combine_chunks().dictionary_encode()
    return table.set_column(table.schema.get_field_index("source"), "source", source)


# --- CSV helpers ---------------------------------------------------------------


def _csv_tables(
    path: Path, wanted: dict[str, str], frame: SourceFrame, progress: Progress | None
) -> Iterator[tuple[str, pa.Table, dict[str, str]]]:
    """Yield (name, table, column map) for every CSV of *path*, recording it in *frame*."""
    for name, data in _csv_members(path):
        if progress:
            progress(name)
        frame.files.append(name)
        table = _parse_csv(data, name)
        yield name, table, _require_columns(table.column_names, wanted, name)


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
    if not data.strip():
        raise DataError(f"{name}: the file is empty; expected a header row and data rows")
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
