"""data.police.uk API JSON: files, folders, or ``.tar.gz`` archives of ``crimes-street`` arrays.

:func:`read_api_json` reduces the records to canonical incident rows and rejects exactly as the
CSV readers of :mod:`planner.ingest.sources.police_uk` do (the shared steps are
:mod:`planner.ingest.sources.incident_rows`). Parsing is columnar: archives are streamed once
into one JSON array each and parsed by DuckDB; there are no per-row Python loops.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tarfile
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from planner.config import CategoryMap, CoordinateChecks
from planner.errors import DataError
from planner.ingest.sources import incident_rows
from planner.ingest.sources.base import EmptyFile, Progress, SourceFrame, is_empty
from planner.ingest.sources.sniff import describe

__all__ = ["read_api_json"]

_BATCH_COLUMNS = ("id", "month", "category", "lon", "lat", "source")
_API_COLUMNS = {
    "id": "BIGINT",
    "month": "VARCHAR",
    "category": "VARCHAR",
    "location": "STRUCT(latitude VARCHAR, longitude VARCHAR)",
}


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

    def one(batch: tuple[str, Path]) -> tuple[Part, list[EmptyFile]]:
        label, item = batch
        empty: list[EmptyFile] = []
        with tempfile.TemporaryDirectory(prefix="planner-api-", dir=_scratch_dir()) as tmp:
            if _is_tar(item):
                files = _extract_json(item, Path(tmp), empty)
            else:
                files = _json_files(item, empty)
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
        ), empty

    parts = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for (label, _), (part, empty) in zip(batches, pool.map(one, batches), strict=True):
            if progress:
                progress(label)
            frame.files.append(label)
            frame.empty_files.extend(empty)
            parts.append(part)
    if not any(len(p[2]) for p in parts) and frame.empty_files:
        first = frame.empty_files[0].name
        raise DataError(
            f"{first}: the file is empty (no text at all), and so is every other JSON file of "
            f"{path} ({len(frame.empty_files)} in all): nothing to read. An empty answer among "
            "others counts as no data for its ward-month; a source with nothing else has "
            "nothing to read: download it again, or remove the source from the dataset"
        )
    return incident_rows.finish(frame, parts, dedupe_ids=True)


Part = tuple[pd.DataFrame, pd.DataFrame, pd.Series]


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


def _json_files(item: Path, empty: list[EmptyFile]) -> list[Path]:
    """The JSON files of *item* (a file or folder) with content; empty ones go to *empty*."""
    files = [item] if item.is_file() else sorted(item.rglob("*.json"))
    out = []
    for f in files:
        with open(f, "rb") as handle:
            head = handle.read(_HEAD)
        if is_empty(head) and (len(head) < _HEAD or is_empty(f.read_bytes())):
            empty.append(EmptyFile.named(str(f)))
        else:
            out.append(f)
    return out


_HEAD = 4096


def _is_tar(p: Path) -> bool:
    return p.is_file() and p.name.endswith((".tar.gz", ".tgz", ".tar"))


def _extract_json(archive: Path, into: Path, empty: list[EmptyFile]) -> list[Path]:
    """Stream the archive once and join its members' JSON arrays into one array file.

    One file per archive lets DuckDB parse a month in one pass (the per-ward files are
    small and numerous). Records are labelled with the archive's name. An empty member (the
    API's empty answer) goes to *empty*: no data for its ward-month, not an error.
    """
    parts: list[bytes] = []
    member = ""
    try:
        with open(archive, "rb") as raw, _gunzipped(raw, archive) as stream:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for info in tar:
                    if not (info.isfile() and info.name.endswith(".json")):
                        continue
                    member = info.name
                    data = tar.extractfile(info).read().strip()
                    if not data:
                        empty.append(EmptyFile.named(f"{archive}:{member}"))
                        continue
                    if not (data.startswith(b"[") and data.endswith(b"]")):
                        raise DataError(_not_an_array(f"{archive}:{member}", data))
                    if data[1:-1].strip():
                        parts.append(data[1:-1])
            # tarfile stops at what looks like the end of the archive, so a download cut
            # short between two members would pass as a smaller archive: read to the end
            # of the gzip stream, which checks its length and CRC (EOFError if cut short).
            while stream.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(_damaged(archive, member, exc)) from None
    target = into / "records.json"
    with open(target, "wb") as f:
        f.write(b"[")
        for i, part in enumerate(parts):
            if i:
                f.write(b",")
            f.write(part)
        f.write(b"]")
    return [target]


def _gunzipped(raw: BinaryIO, archive: Path) -> contextlib.AbstractContextManager[BinaryIO]:
    """A gzip reader over *raw* when it is gzip (by its magic bytes), else *raw* itself.

    Raises :class:`DataError` naming what the file is when it is neither gzip nor tar.
    """
    head = raw.read(_HEAD)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if len(head) > 262 and head[257:262] == b"ustar":
        return contextlib.nullcontext(raw)
    if is_empty(head):
        raise DataError(
            f"{archive}: the archive is empty (0 bytes): its download never arrived; download "
            "it again (planner fetch) or remove it from the folder"
        )
    found = describe(head, what="JSON")
    what = found[0] if found else "neither gzip nor tar data"
    raise DataError(
        f"{archive}: expected a .tar.gz archive of police.uk API answers, found {what}; "
        + (found[1] if found else "download it again (planner fetch) or re-create it")
    )


def _damaged(archive: Path, member: str, exc: BaseException) -> str:
    """The message for a truncated or corrupt archive: what went wrong and the fix for it."""
    after = f"after member {member}" if member else "before its first member"
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, EOFError) or "unexpected end" in str(exc).lower():
        cause = (
            "it ends early: the file was cut short (an interrupted download or copy)",
            "download it again (planner fetch) or copy it again",
        )
    elif isinstance(exc, zlib.error | gzip.BadGzipFile) or "crc" in str(exc).lower():
        cause = (
            "its compressed data are corrupt (a CRC or stream error): the bytes changed after "
            "it was made",
            "download it again; if the new copy fails the same way the source copy is damaged: "
            "re-create the archive from the API answers",
        )
    else:
        cause = (
            "its tar structure is damaged",
            "download it again (planner fetch) or re-create it, then re-run",
        )
    return (
        f"{archive}: the archive is truncated or damaged {after} ({text}): {cause[0]}; {cause[1]}"
    )


def _not_an_array(where: str, data: bytes) -> str:
    """The message for a member or file that is not a JSON array of crimes."""
    found = describe(data, what="JSON")
    if found:
        return f"{where}: expected a JSON array of crimes ([...]), found {found[0]}; {found[1]}"
    return (
        f"{where}: expected a JSON array of crimes ([...]), found {data[:40]!r}; the API "
        "answered with something else (an error message?): query that month and area again, "
        "or remove the file"
    )


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
        for f in files:  # name what the culprit is, where its bytes say so
            with open(f, "rb") as handle:
                head = handle.read(_HEAD)
            found = describe(head, what="JSON")
            if found:
                raise DataError(
                    f"{f}: expected a JSON array of police.uk crimes, found {found[0]}; {found[1]}"
                ) from None
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
