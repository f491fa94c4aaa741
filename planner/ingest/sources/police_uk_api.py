"""data.police.uk API JSON: files, folders, or ``.tar.gz`` archives of ``crimes-street`` arrays.

:func:`read_api_json` reduces the records to canonical incident rows and rejects exactly as the
CSV readers of :mod:`planner.ingest.sources.police_uk` do (the shared steps are
:mod:`planner.ingest.sources.incident_rows`).

Reading is near the hardware's limit: archives are inflated with ISA-L and walked once
(:mod:`planner.ingest.sources.archives`, within its size and ratio limits), each answer is
decoded by a typed ``msgspec`` decoder that builds only the five fields used (id, month,
category, latitude, longitude) and skips the rest, and archives are read by a pool of
processes, one per core. What comes back is arrays: integer ids, dictionary-coded months and
categories, float coordinates. An answer whose values have other types than the API's
(``"latitude": ""``, a month as a number) is decoded again loosely, value by value, as text
or as a missing number, so that its records are checked and rejected, not lost.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

from planner.config import CategoryMap, CoordinateChecks
from planner.errors import DataError
from planner.ingest.sources import incident_rows
from planner.ingest.sources.archives import (
    ARCHIVE_LIMITS,
    ArchiveLimits,
    DamagedArchive,
    damaged_message,
    is_archive,
    members,
)
from planner.ingest.sources.base import EmptyFile, Progress, SourceFrame, is_empty
from planner.ingest.sources.sniff import describe

__all__ = ["ApiReading", "read_api_json"]

log = logging.getLogger(__name__)

_POOL_MIN_BYTES = 8 * 1024 * 1024
"""Below this much input, archives are read in this process (a pool costs more than it saves)."""
_BOM = b"\xef\xbb\xbf"
_HEAD = 4096


class _Location(msgspec.Struct, gc=False):
    latitude: float | None = None
    longitude: float | None = None


class _Crime(msgspec.Struct, gc=False):  # gc=False: a million records, no cycles to look for
    id: int | None = None
    month: str | None = None
    category: str | None = None
    location: _Location | None = None


# strict=False: the API writes coordinates as strings ("51.5074"); they are read as numbers
_DECODER = msgspec.json.Decoder(list[_Crime], strict=False)


def read_api_json(
    path: str | Path,
    *,
    categories: CategoryMap,
    checks: CoordinateChecks,
    progress: Progress | None = None,
    workers: int | None = None,
    limits: ArchiveLimits = ARCHIVE_LIMITS,
) -> SourceFrame:
    """Read data.police.uk API JSON: files, folders, or ``.tar.gz`` archives of them.

    Each JSON file is an array of crimes as returned by ``crimes-street``. Records
    that appear in several files (the API was queried per ward polygon, so about
    5 % appear in two neighbouring wards' files) are de-duplicated on ``id``; the
    first file in name order keeps them, and the others are counted as duplicates.
    Archives are read *workers* at a time in separate processes (default: one per
    available core), each within *limits*; :class:`ApiReading` starts them for a caller
    that has other work to do meanwhile.

    Raises
    ------
    DataError
        An archive is truncated, damaged or over its limits, a file is not a JSON array of
        crimes, or most rows of a file have bad months or coordinates.
    """
    with ApiReading(path, workers=workers, limits=limits) as reading:
        return reading.read(categories=categories, checks=checks, progress=progress)


class ApiReading:
    """An API source being read: its archives are decoded by a pool of processes that starts
    when this is made, so that the caller can do other work (read the wards) meanwhile.

    Use it as a context manager (or call :meth:`close`): leaving stops the pool.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        workers: int | None = None,
        limits: ArchiveLimits = ARCHIVE_LIMITS,
    ) -> None:
        self.path = Path(path)
        self.batches = _batches(self.path)
        self._decoding = _Decoding(self.batches, workers, limits)

    def __enter__(self) -> ApiReading:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the pool (the archives not yet started are not read)."""
        self._decoding.close()

    def read(
        self,
        *,
        categories: CategoryMap,
        checks: CoordinateChecks,
        progress: Progress | None = None,
        text_ids: bool = True,
    ) -> SourceFrame:
        """Every record of the source, checked and de-duplicated: see :func:`read_api_json`.

        With *text_ids* false the incidents' ids stay integers (``Int64``: ingest only counts
        them); the rejects' ids are text either way.
        """
        frame = SourceFrame(kind="police_uk_api", path=str(self.path))
        read = []
        for (label, _), batch in zip(self.batches, self._decoding, strict=True):
            if progress:
                progress(label)
            frame.files.append(label)
            frame.empty_files.extend(EmptyFile.named(name) for name in batch.empty)
            read.append(batch)
        if not sum(len(b.ids) for b in read) and frame.empty_files:
            raise DataError(_all_empty(self.path, frame.empty_files))
        # the columns are held by canonical alone, which lets them go when it can
        parts = [
            incident_rows.canonical(
                **_combined(read),
                subcategory=None,
                mapping=categories.api,
                mapping_hint="[police_uk.api] in config/categories.toml",
                checks=checks,
                dedupe=True,
                text_ids=text_ids,
            )
        ]
        return incident_rows.finish(frame, parts, dedupe_ids=True)


def _all_empty(path: Path, empty: list[EmptyFile]) -> str:
    """The message for a source whose every answer was empty: nothing to read."""
    return (
        f"{empty[0].name}: the file is empty (no text at all), and so is every other JSON "
        f"file of {path} ({len(empty)} in all): nothing to read. An empty answer among "
        "others counts as no data for its ward-month; a source with nothing else has nothing "
        "to read: download it again, or remove the source from the dataset"
    )


def _batches(path: Path) -> list[tuple[str, Path]]:
    """(label, archive or folder or file) to read, in name order."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the dataset's source path")
    if path.is_file():
        return [(path.name, path)]
    archives = sorted(p for p in path.rglob("*") if is_archive(p))
    batches = [(a.name, a) for a in archives]
    if any(path.rglob("*.json")):
        batches.insert(0, (path.name, path))
    if not batches:
        raise DataError(f"{path}: no .json files or .tar.gz archives found in this folder")
    return batches


class _Decoding:
    """Each batch decoded, in order: by a pool of processes where that pays, started at once
    (the tasks are submitted when this is made); iterate once."""

    def __init__(
        self, batches: list[tuple[str, Path]], workers: int | None, limits: ArchiveLimits
    ) -> None:
        n = min(workers or len(os.sched_getaffinity(0)), len(batches))
        size = sum(p.stat().st_size for _, p in batches if p.is_file())
        self._tasks = [(label, p, limits) for label, p in batches]
        self._read = _read_batch  # looked up now: a test may stand another in
        self._pool: ProcessPoolExecutor | None = None
        self._results: Iterator[_Batch] = iter(())
        # fork: the workers inherit the imported modules instead of importing them again, and
        # run only this module's decoding (isal, msgspec, numpy and
        # pandas' factorize; no Arrow, no threads).
        if n >= 2 and size >= _POOL_MIN_BYTES and sys.platform == "linux":
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(max_workers=n, mp_context=context)
            self._results = self._pool.map(self._read, self._tasks)

    def __iter__(self) -> Iterator[_Batch]:
        if self._pool is None:
            yield from map(self._read, self._tasks)
            return
        done = 0
        try:
            for batch in self._results:
                yield batch
                done += 1
        except BrokenProcessPool:  # a worker was killed (out of memory?): go on without it
            log.warning(
                "a worker process reading %s stopped; reading it and the rest in this process",
                self._tasks[done][1],
            )
            self.close()
            yield from map(self._read, self._tasks[done:])
        finally:  # after an error, the archives not yet started are not read
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@dataclass
class _Batch:
    """One archive, folder or file, decoded: a column per field used."""

    ids: np.ndarray  # int64, 0 where there is none
    has_id: np.ndarray  # bool
    month: incident_rows.Coded
    category: incident_rows.Coded
    points: incident_rows.Located  # anonymised map points repeat: each distinct one once
    sources: list[tuple[str, int]]  # (file name, records) in order
    answers: list[tuple[str, int]]  # (the answer as messages name it, records) in order
    empty: list[str] = field(default_factory=list)


def _read_batch(task: tuple[str, Path, ArchiveLimits]) -> _Batch:
    """Decode every answer of an archive, folder or file (runs in a worker process)."""
    label, item, limits = task
    columns = _Columns()
    empty: list[str] = []
    if is_archive(item):
        try:
            for member, data in members(item, suffix=".json", limits=limits):
                columns.add(data, f"{item}:{member}", label, empty)
        except DamagedArchive as damage:
            raise DataError(damaged_message(item, damage)) from None
    else:
        for f in [item] if item.is_file() else sorted(item.rglob("*.json")):
            columns.add(memoryview(f.read_bytes()), str(f), f.name, empty)
    return columns.batch(empty)


class _Columns:
    """The records decoded so far, answer after answer, and the five fields used."""

    def __init__(self) -> None:
        self.records: list[_Crime] = []
        self.spans: list[tuple[str, str, int]] = []  # (answer, source, records) in order

    def add(self, data: memoryview, where: str, source: str, empty: list[str]) -> None:
        """Decode one answer (*where* names it in messages); an empty one goes to *empty*."""
        if _blank(data):
            empty.append(where)
            return
        start = len(_BOM) if data[: len(_BOM)] == _BOM else 0
        with data[start:] as body:
            try:
                records = _DECODER.decode(body)
            except msgspec.ValidationError:  # values of other types: look at each one
                records = _loose(body, where)
            except msgspec.DecodeError as exc:
                raise DataError(_not_crimes(where, body, str(exc))) from None
        self.records += records
        self.spans.append((where, source, len(records)))

    def batch(self, empty: list[str]) -> _Batch:
        records = self.records
        ids = [r.id for r in records]
        if None in ids:
            has_id = np.array([i is not None for i in ids], dtype=bool)
            ids = [0 if i is None else i for i in ids]
        else:  # the API's answers: every record has its id
            has_id = np.ones(len(ids), dtype=bool)
        try:  # every record located (most answers): no stand-in needed
            lon = [r.location.longitude for r in records]  # type: ignore[union-attr]
            lat = [r.location.latitude for r in records]  # type: ignore[union-attr]
        except AttributeError:  # a record with "location": null
            locations = [r.location or _NOWHERE for r in records]
            lon = [loc.longitude for loc in locations]
            lat = [loc.latitude for loc in locations]
        return _Batch(
            ids=self._id_array(ids),
            has_id=has_id,
            month=_coded([r.month for r in records]),
            category=_coded([r.category for r in records]),
            # None (a missing coordinate): NaN
            points=_located(np.array(lon, dtype=np.float64), np.array(lat, dtype=np.float64)),
            sources=[(source, n) for _, source, n in self.spans],
            answers=[(where, n) for where, _, n in self.spans],
            empty=empty,
        )

    def _id_array(self, ids: list[int]) -> np.ndarray:
        try:
            return np.array(ids, dtype=np.int64)
        except OverflowError:
            k = next(k for k, i in enumerate(ids) if not -(2**63) <= i < 2**63)
            ends = np.cumsum([n for _, _, n in self.spans])
            span = int(np.searchsorted(ends, k, side="right"))  # the answer that holds it
            where, k = self.spans[span][0], k - int(ends[span] - self.spans[span][2])
            raise DataError(
                f"{where}: record {k + 1} has id {ids[k]}, too large for a police.uk crime id "
                "(at most 19 digits): the file is not a police.uk API answer; re-download it"
            ) from None


_NOWHERE = _Location()


def _located(lon: np.ndarray, lat: np.ndarray) -> incident_rows.Located:
    """Coordinates as their distinct points; -1 where either is missing."""
    has = ~(np.isnan(lon) | np.isnan(lat))
    pairs = np.empty(int(has.sum()), dtype=np.complex128)  # one key per pair: fast hashing
    pairs.real, pairs.imag = lon[has], lat[has]
    found, uniq = pd.factorize(pairs)
    codes = np.full(len(lon), -1, dtype=np.int32)
    codes[has] = found
    return incident_rows.Located(codes, uniq.real.copy(), uniq.imag.copy())


def _blank(data: memoryview) -> bool:
    """Nothing but spaces and line ends (the API's empty answer)."""
    if len(data) > 64 and not is_empty(bytes(data[:64])):
        return False
    return is_empty(bytes(data))


# --- the loose path: values of other types, one by one ------------------------------------

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_NUMBER = re.compile(
    r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*|\s*[+-]?(nan|inf)\s*"
)


def _loose(body: memoryview, where: str) -> list[_Crime]:
    """Decode an answer whose values are not all of the API's types, as text or numbers.

    A month or category that is not text is kept as its JSON text (and is rejected by the
    checks as any bad value is); a coordinate that is not a number is missing; an id must
    be a whole number.
    """
    try:
        records = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise DataError(_not_crimes(where, body, str(exc))) from None
    if not isinstance(records, list):
        kind = type(records).__name__
        raise DataError(_not_crimes(where, body, f"the JSON is a {kind}, not an array"))
    out = []
    for k, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(
                f"{where}: record {k} is {msgspec.json.encode(record)[:40]!r}, not an object "
                '{"id": ..., "month": ..., ...}: the file is not a police.uk API answer; '
                "re-download it"
            )
        loc = record.get("location")
        loc = loc if isinstance(loc, dict) else {}
        where_xy = _Location(_number(loc.get("latitude")), _number(loc.get("longitude")))
        out.append(
            _Crime(
                _loose_id(record.get("id"), where, k),
                _text(record.get("month")),
                _text(record.get("category")),
                where_xy,
            )
        )
    return out


def _loose_id(value: Any, where: str, k: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise DataError(
        f"{where}: record {k} has id {msgspec.json.encode(value)[:40].decode(errors='replace')}"
        "; expected a whole number (the police.uk crime id): re-download the file"
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.lower()):
        number = float(value)
        return None if math.isnan(number) else number
    return None


def _not_crimes(where: str, data: memoryview, detail: str) -> str:
    """The message for a member or file that is not a JSON array of crimes."""
    found = describe(bytes(data[:_HEAD]), what="JSON")
    if found:
        return f"{where}: expected a JSON array of crimes ([...]), found {found[0]}; {found[1]}"
    return (
        f"{where}: a file is not a JSON array of police.uk crimes ({detail}). Expected "
        '[{"id": ..., "month": "YYYY-MM", "category": ..., "location": {"latitude": ..., '
        '"longitude": ...}}, ...]; the API answered with something else (an error message?) '
        "or the file is damaged: query that month and area again, or remove the file"
    )


# --- the batches, as one set of columns -----------------------------------------------------


def _combined(batches: list[_Batch]) -> dict[str, Any]:
    """The columns of every batch, end to end, for :func:`incident_rows.canonical`.

    *batches* is emptied: its arrays are in the columns now.
    """
    ids = np.concatenate([np.zeros(0, np.int64), *(b.ids for b in batches)])
    has_id = np.concatenate([np.zeros(0, bool), *(b.has_id for b in batches)])
    sources = [(name, n) for b in batches for name, n in b.sources]
    names = list(dict.fromkeys(name for name, _ in sources))
    index = {name: i for i, name in enumerate(names)}
    source_codes = np.repeat(
        np.array([index[name] for name, _ in sources], dtype=np.int32), [n for _, n in sources]
    )
    columns = {
        "source": incident_rows.Coded(source_codes, names),  # type: ignore[arg-type]
        "incident_id": pa.array(ids, mask=~has_id),
        "month": _merged([b.month for b in batches]),
        "category": _merged([b.category for b in batches]),
        "lon": _merged_points([b.points for b in batches]),
        "lat": None,
        "group_sizes": [len(b.ids) for b in batches],
        "locate": _Answers([a for b in batches for a in b.answers]),
    }
    batches.clear()
    return columns


class _Answers:
    """Names a record of the combined columns for a message: its answer and its place in it."""

    def __init__(self, answers: list[tuple[str, int]]) -> None:
        self._names = [name for name, _ in answers]
        self._ends = np.cumsum([n for _, n in answers])

    def __call__(self, i: int) -> str:
        k = int(np.searchsorted(self._ends, i, side="right"))
        start = int(self._ends[k - 1]) if k else 0
        return f"{self._names[k]}, record {i - start + 1}"


def _merged_points(parts: list[incident_rows.Located]) -> incident_rows.Located:
    """Located columns end to end, on one set of distinct points."""
    pairs = np.concatenate([np.zeros(0, np.complex128), *(p.lon + 1j * p.lat for p in parts)])
    found, uniq = pd.factorize(pairs)
    starts = np.cumsum([0, *(len(p.lon) for p in parts)])
    codes = [  # a part's own codes -> the merged ones; -1 (no coordinates) picks the -1 added
        np.append(found[start : start + len(p.lon)], -1)[p.codes]
        for p, start in zip(parts, starts, strict=False)
    ]
    return incident_rows.Located(
        np.concatenate([np.zeros(0, np.int64), *codes]), uniq.real.copy(), uniq.imag.copy()
    )


def _coded(values: list[str | None]) -> incident_rows.Coded:
    """A text column dictionary-encoded (a month's records share few values); None is -1."""
    uniques = [v for v in dict.fromkeys(values) if v is not None]  # in order: stable codes
    index: dict[str | None, int] = {v: i for i, v in enumerate(uniques)}
    index[None] = -1
    codes = np.fromiter(map(index.__getitem__, values), np.int32, len(values))
    return incident_rows.Coded(codes, uniques)  # type: ignore[arg-type]


def _merged(columns: list[incident_rows.Coded]) -> incident_rows.Coded:
    """Coded columns end to end, on one set of distinct values."""
    uniques: dict[str | None, int] = {}
    parts = []
    for column in columns:
        remap = np.array(
            [uniques.setdefault(u, len(uniques)) for u in column.uniques] + [-1], dtype=np.int32
        )
        parts.append(remap[column.codes])  # -1 (missing) stays -1
    codes = np.concatenate([np.zeros(0, np.int64), *parts])
    return incident_rows.Coded(codes, list(uniques))  # type: ignore[arg-type]
