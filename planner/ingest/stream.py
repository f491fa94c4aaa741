"""Street CSVs read, joined and counted a month at a time: national scale in bounded memory.

A police.uk street CSV source is a folder laid out as the data.police.uk archive
(``YYYY-MM/YYYY-MM-<force>-street.csv``), a flat folder of monthly files, a zip or one file.
:func:`stream_street_csv` cuts a folder into partitions, runs of files in name order whose
names carry the same month, and for each partition

1. reads its files through :func:`planner.ingest.sources.police_uk.read_street_csv` (every
   check and reject of the reader, file by file; an empty file is no data for its month);
2. removes duplicate Crime IDs, the first in file order kept: within the partition exactly,
   and against every earlier partition by 128 bits of the id (the first 32 hex digits of a
   police.uk id, a hash of any other): 16 bytes per id kept, the only state that grows with
   the source (240 MB for 15 million crime ids);
3. sets aside the records the source does not take (:func:`planner.ingest.selection.take`);
4. joins the partition's distinct coordinates to the wards
   (:func:`planner.ingest.join.join_incidents`; a point met in an earlier month is not joined
   again, :class:`~planner.ingest.join.PointCache`) and reduces it to ward x month x category x
   subcategory counts and a tally of how each record was placed (inside, nearest).

Only those counts, the tally and the rejects are kept: peak memory is one month's records
(about 0.6 million rows for all 43 forces), not the source's. A zip or a single file is one
partition, read whole. What the quality report is given is what the whole-source path gave it:
records read and duplicates per month, every reject with its reason, the files, the empty files
and the warnings, so that ``read = counted + rejected + duplicates`` holds month by month.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import CategoryMap, CoordinateChecks, SourceSpec
from planner.ingest.join import PointCache, join_incidents
from planner.ingest.selection import take
from planner.ingest.sources.base import EmptyFile, SourceFrame, empty_names, empty_rejects
from planner.ingest.sources.incident_rows import concat_incidents

__all__ = ["StreamedPoints", "partitions", "point_counts", "point_tally", "stream_street_csv"]

log = logging.getLogger(__name__)

_KIND = "police_uk_csv"
_MAX_CELLS = 20_000_000  # point_counts tallies in an array this long at most (160 MB)
_DUPLICATE_NOTE = re.compile(r": [0-9,]+ records appeared more than once \(same id\)")
_HASH_KEYS = ("planner-ids-0001", "planner-ids-0002")  # two 64-bit halves of one 128-bit key
_NIBBLE = np.full(256, 16, dtype=np.uint8)  # hex digit -> its value; 16: not a hex digit
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


@dataclass
class StreamedPoints:
    """A point source read partition by partition and reduced to counts.

    Attributes
    ----------
    frame
        What was read, for the whole source (``read_by_month``, ``duplicates_by_month``,
        ``rejects`` of the reader and of the source's selection, ``files``, ``empty_files``,
        ``warnings``); ``incidents`` is empty: the records were joined and counted.
    counts
        ``schema.WARD_COUNTS_COLUMNS``: the placed records per ward, month, category and
        subcategory.
    joined
        ``month``, ``how`` (``inside`` / ``nearest``), ``count``: how the records were placed.
    join_rejects
        Records outside every ward beyond the snap distance (``schema.REJECT_COLUMNS``).
    partitions
        How many partitions were read.
    """

    frame: SourceFrame
    counts: pd.DataFrame
    joined: pd.DataFrame
    join_rejects: pd.DataFrame
    partitions: int = 0


def partitions(path: Path) -> list[list[Path]]:
    """The files of a street CSV source in runs of the same month (from their names).

    A folder's ``*.csv`` files are taken in name order (the reader's order) and cut where the
    month in the name changes; files whose names carry no month form runs of their own. A file
    or zip is one partition; a folder without CSV files is one partition of the folder, for the
    reader to name the problem.
    """
    if not path.is_dir():
        return [[path]]
    files = sorted(path.rglob("*.csv"))
    if not files:
        return [[path]]
    runs: list[list[Path]] = []
    last: str | None = None
    for f in files:
        month = EmptyFile.named(f.relative_to(path).as_posix()).month
        if runs and month == last:
            runs[-1].append(f)
        else:
            runs.append([f])
        last = month
    return runs


def stream_street_csv(
    path: Path,
    src: SourceSpec,
    wards: pd.DataFrame,
    *,
    categories: CategoryMap,
    checks: CoordinateChecks,
    snap_distance_m: float,
    progress: Callable[[str], None] | None = None,
) -> StreamedPoints:
    """Read, de-duplicate, select, join and count a street CSV source partition by partition.

    Parameters
    ----------
    path
        The source's resolved path (folder, zip or file).
    src
        The source's settings (categories, exclude and months it takes).
    wards
        The dataset's ward polygons, indexed by ward code, EPSG:27700.
    categories, checks
        As :func:`planner.ingest.sources.police_uk.read_street_csv`.
    snap_distance_m
        As :func:`planner.ingest.join.join_incidents`.
    progress
        Called with each file name and each partition joined.

    Returns
    -------
    StreamedPoints

    Raises
    ------
    DataError
        As the reader: a file not UTF-8, lacking a column, with most rows bad; every file of
        the source empty.
    """
    from planner.ingest.sources import police_uk  # the CSV reader only when building

    state = _State(path)
    runs = partitions(path)
    for files in runs:
        month = state.read(files, categories=categories, checks=checks, progress=progress)
        if month is None:
            continue
        month = take(month, src)
        state.rejects.append(month.rejects)
        if len(month.incidents):
            label = EmptyFile.named(files[0].name).month or files[0].name
            _say(progress, f"join: {path.name} {label}")
            result = join_incidents(
                month.incidents, wards, snap_distance_m=snap_distance_m, points=state.points
            )
            state.counts.append(point_counts(result.incidents))
            state.joined.append(point_tally(result.incidents))
            state.join_rejects.append(result.rejects)
    if not state.frame.files or len(state.frame.empty_files) == len(state.frame.files):
        # nothing to read: the reader says why (no such path, no CSV, every file empty)
        police_uk.read_street_csv(path, categories=categories, checks=checks)
    return state.finish(len(runs))


def point_counts(incidents: pd.DataFrame) -> pd.DataFrame:
    """Joined incidents -> ward x month x category x subcategory counts."""
    return _tally_by(incidents, [s.WARD_CODE, s.MONTH, s.CATEGORY, s.SUBCATEGORY])


def point_tally(joined: pd.DataFrame) -> pd.DataFrame:
    """Joined incidents -> how they were placed (``inside`` / ``nearest``) per month: ``month``,
    ``how``, ``count`` (what the quality report is given of a point source)."""
    tally = _tally_by(joined, [s.MONTH, "how"])
    return tally.astype({s.MONTH: str, "how": str})


def _tally_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows per combination of *keys* that occurs (``count``), as
    ``groupby(keys, observed=True).size()`` gives them, in its order.

    Categorical keys (as the readers and the join make them) are tallied by one ``bincount``
    of their combined codes.
    """
    columns = [frame[k].array for k in keys]
    codes = [np.asarray(c.codes, dtype=np.int64) for c in columns if isinstance(c, pd.Categorical)]
    sizes = tuple(max(len(c.categories), 1) for c in columns if isinstance(c, pd.Categorical))
    if (
        len(codes) < len(keys)
        or min((int(c.min()) for c in codes if len(c)), default=0) < 0  # a missing key
        or np.prod(sizes, dtype=np.float64) > _MAX_CELLS
    ):
        return frame.groupby(keys, observed=True).size().rename(s.COUNT).reset_index()
    tally = np.bincount(np.ravel_multi_index(codes, sizes), minlength=int(np.prod(sizes)))
    cells = np.flatnonzero(tally)
    out = pd.DataFrame(
        {
            k: pd.Categorical.from_codes(at, dtype=c.dtype)
            for k, c, at in zip(keys, columns, np.unravel_index(cells, sizes), strict=True)
        }
    )
    out[s.COUNT] = tally[cells].astype("int64")
    return out


# --- what is kept between partitions ---------------------------------------------------------


@dataclass
class _State:
    path: Path
    frame: SourceFrame = field(init=False)
    seen: _SeenIds = field(default_factory=lambda: _SeenIds())
    points: PointCache = field(default_factory=PointCache)
    rejects: list[pd.DataFrame] = field(default_factory=list)
    counts: list[pd.DataFrame] = field(default_factory=list)
    joined: list[pd.DataFrame] = field(default_factory=list)
    join_rejects: list[pd.DataFrame] = field(default_factory=list)
    read_by_month: list[pd.Series] = field(default_factory=list)
    duplicates: list[pd.Series] = field(default_factory=list)
    names: list[pd.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.frame = SourceFrame(kind=_KIND, path=str(self.path))

    def read(
        self,
        files: list[Path],
        *,
        categories: CategoryMap,
        checks: CoordinateChecks,
        progress: Callable[[str], None] | None,
    ) -> SourceFrame | None:
        """One partition's files read, its duplicates removed; None if every file is empty."""
        from planner.ingest.sources import police_uk

        parts = []
        for f in _units(files, self.path):
            if f != self.path and all(map(_blank, _csvs(f))):  # no text: no data, not an error
                for name in map(str, _csvs(f)):
                    if progress:
                        progress(name)
                    self.frame.files.append(name)
                    self.frame.empty_files.append(EmptyFile.named(name))
                continue
            part = police_uk.read_street_csv(
                f, categories=categories, checks=checks, progress=progress
            )
            self.frame.files.extend(part.files)
            self.frame.empty_files.extend(part.empty_files)
            self.frame.warnings.extend(w for w in part.warnings if not _DUPLICATE_NOTE.search(w))
            self.frame.editions.extend(e for e in part.editions if e not in self.frame.editions)
            self.read_by_month.append(part.read_by_month)
            self.duplicates.append(part.duplicates_by_month)
            self.names.append(part.names)
            parts.append(part)
        if not parts:
            return None
        incidents = concat_incidents([p.incidents for p in parts])
        dup = self.seen.duplicates(incidents[s.INCIDENT_ID])
        if dup.any():
            self.duplicates.append(incidents.loc[dup, s.MONTH].astype(str).value_counts())
            incidents = incidents.loc[~dup].reset_index(drop=True)
        rejects = pd.concat([empty_rejects(), *[p.rejects for p in parts]], ignore_index=True)
        return SourceFrame(kind=_KIND, path=str(self.path), incidents=incidents, rejects=rejects)

    def finish(self, runs: int) -> StreamedPoints:
        frame = self.frame
        frame.rejects = pd.concat([empty_rejects(), *self.rejects], ignore_index=True)
        frame.read_by_month = _sum_by_month(self.read_by_month)
        frame.duplicates_by_month = _sum_by_month(self.duplicates)
        frame.duplicates_by_month = frame.duplicates_by_month[frame.duplicates_by_month > 0]
        if frame.duplicates_by_month.sum():
            frame.warnings.append(
                f"{frame.path}: {int(frame.duplicates_by_month.sum()):,} records appeared more "
                "than once (same id) and were counted once"
            )
        names = pd.concat([empty_names(), *self.names], ignore_index=True)
        if len(names):
            names = names.groupby(["name", "how", "target"], as_index=False)["records"].sum()
        frame.names = names
        counts = [c for c in self.counts if len(c)]
        joined = [j for j in self.joined if len(j)]
        return StreamedPoints(
            frame=frame,
            counts=pd.concat(counts, ignore_index=True) if counts else _no_counts(),
            joined=(
                pd.concat(joined, ignore_index=True)
                if joined
                else pd.DataFrame({s.MONTH: [], "how": [], s.COUNT: []})
            ),
            join_rejects=pd.concat([empty_rejects(), *self.join_rejects], ignore_index=True),
            partitions=runs,
        )


class _SeenIds:
    """The Crime IDs of earlier partitions, as sorted 128-bit hashes (two uint64 halves)."""

    def __init__(self) -> None:
        self.high = np.empty(0, dtype=np.uint64)
        self.low = np.empty(0, dtype=np.uint64)

    def duplicates(self, ids: pd.Series) -> np.ndarray:
        """Rows whose id appeared before (earlier in *ids*, or in an earlier partition)."""
        present = ids.notna().to_numpy()
        dup = np.zeros(len(ids), dtype=bool)
        dup[present] = ids[present].duplicated(keep="first").to_numpy()  # exact, in the partition
        fresh = present & ~dup
        high, low = _id_keys(ids[fresh].to_numpy(dtype=object))
        earlier = self._contains(high, low)
        dup[np.flatnonzero(fresh)[earlier]] = True
        self._add(high[~earlier], low[~earlier])
        return dup

    def _contains(self, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        left = np.searchsorted(self.high, high, side="left")
        right = np.searchsorted(self.high, high, side="right")
        found = np.zeros(len(high), dtype=bool)
        for i in np.flatnonzero(right > left):  # almost always one candidate
            found[i] = bool((self.low[left[i] : right[i]] == low[i]).any())
        return found

    def _add(self, high: np.ndarray, low: np.ndarray) -> None:
        high_all = np.concatenate([self.high, high])
        order = np.argsort(high_all, kind="stable")  # two sorted runs: a linear merge
        self.high = high_all[order]
        self.low = np.concatenate([self.low, low])[order]


def _id_keys(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """128 bits per id: police.uk's ids (64 lower-case hex digits, a sha256) read as their
    first 32 digits; any other ids hashed (two 64-bit siphashes of the text)."""
    n = len(values)
    try:
        raw = values.astype("S65")  # ASCII; a 65th byte shows an id longer than 64
    except UnicodeEncodeError:
        raw = None
    if n and raw is not None and (np.char.str_len(raw) == 64).all():
        digits = _NIBBLE[raw.view(np.uint8).reshape(n, 65)[:, :32]]
        if (digits < 16).all():
            packed = np.ascontiguousarray((digits[:, 0::2] << 4) | digits[:, 1::2])
            words = packed.view(">u8").astype(np.uint64)  # (n, 2): big-endian, as written
            return words[:, 0], words[:, 1]
    high, low = (pd.util.hash_array(values, hash_key=k, categorize=False) for k in _HASH_KEYS)
    return high, low


# --- helpers ---------------------------------------------------------------------------------


def _units(files: list[Path], root: Path) -> list[Path]:
    """What to hand the reader for a partition: its month's folder, when the partition is
    exactly that folder's CSV files (the published layout: one call a month), else each file."""
    folder = files[0].parent
    if folder != root and all(f.parent == folder for f in files) and files == _csvs(folder):
        return [folder]
    return files


def _csvs(path: Path) -> list[Path]:
    """The CSV files the reader reads for *path*, in its order."""
    return sorted(path.rglob("*.csv")) if path.is_dir() else [path]


def _blank(path: Path) -> bool:
    """No text at all (0 bytes, or only spaces and line ends), read in blocks."""
    with path.open("rb") as f:
        while block := f.read(1 << 16):
            if block.strip():
                return False
    return True


def _sum_by_month(parts: list[pd.Series]) -> pd.Series:
    parts = [p.rename(index=str) for p in parts if len(p)]
    if not parts:
        return pd.Series(dtype="int64").rename_axis(s.MONTH)
    total = pd.concat(parts).groupby(level=0).sum().astype("int64")
    return total.rename_axis(s.MONTH)


def _no_counts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in s.WARD_COUNTS_COLUMNS[:-1]}).assign(
        **{s.COUNT: pd.Series(dtype="int64")}
    )


def _say(progress: Callable[[str], None] | None, label: str) -> None:
    log.info(label)
    if progress:
        progress(label)
