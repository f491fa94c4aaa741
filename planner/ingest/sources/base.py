"""What every source reader returns: :class:`SourceFrame`.

Point sources (police.uk CSV and API JSON, generic points) fill ``incidents``;
pre-aggregated Met files fill ``counts`` (and ``measures``). Either way the frame
carries its rejects and the numbers the data-quality report needs, so that
conservation holds per source and month::

    read = counted + rejected + duplicates
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner import schema as s

__all__ = [
    "EmptyFile",
    "Progress",
    "SourceFrame",
    "empty_counts",
    "empty_incidents",
    "empty_measures",
    "empty_names",
    "empty_rejects",
    "is_empty",
]

Progress = Callable[[str], None]
"""What a reader calls with each file name as it reads it."""

_MONTH_IN_NAME = re.compile(r"(?<![0-9])([0-9]{4})[-_](0[1-9]|1[0-2])(?![0-9])")
_WARD_IN_NAME = re.compile(r"(?<![A-Za-z0-9])(E05[0-9]{6})(?![0-9])")


@dataclass(frozen=True)
class EmptyFile:
    """An empty file or archive member: missing data, never a zero.

    ``month`` and ``area`` are read from the name where it carries them (a police.uk API
    answer ``crime_month_2016_07_area_E05000524_0.json`` is ward E05000524 in 2016-07; a street
    CSV ``2024-01-metropolitan-street.csv`` is the whole of 2024-01); None where it does not.
    """

    name: str
    month: str | None
    area: str | None

    @classmethod
    def named(cls, name: str) -> EmptyFile:
        """The empty file *name*, with the month and ward code its name carries."""
        base = name.replace("\\", "/").rsplit(":", 1)[-1]
        months = _MONTH_IN_NAME.findall(base)
        wards = _WARD_IN_NAME.findall(base)
        month = f"{months[-1][0]}-{months[-1][1]}" if months else None
        return cls(name=name, month=month, area=wards[-1] if wards else None)


def is_empty(data: bytes) -> bool:
    """No content at all (0 bytes, or only spaces and line ends): an empty answer."""
    return not data.strip()


def empty_incidents() -> pd.DataFrame:
    return _empty_incidents().copy()


@functools.cache
def _empty_incidents() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.INCIDENT_ID: pd.Series(dtype="string"),
            s.MONTH: pd.Series(dtype="string"),
            s.CATEGORY: pd.Series(dtype="string"),
            s.SUBCATEGORY: pd.Series(dtype="string"),
            s.X: pd.Series(dtype="float64"),
            s.Y: pd.Series(dtype="float64"),
            s.SOURCE: pd.Series(dtype="string"),
            s.SOURCE_ROW: pd.Series(dtype="int64"),
        }
    )


def empty_counts() -> pd.DataFrame:
    return _empty_counts().copy()


@functools.cache
def _empty_counts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.WARD_CODE: pd.Series(dtype="string"),
            s.MONTH: pd.Series(dtype="string"),
            s.CATEGORY: pd.Series(dtype="string"),
            s.SUBCATEGORY: pd.Series(dtype="string"),
            s.COUNT: pd.Series(dtype="int64"),
            s.FALLBACK: pd.Series(dtype="bool"),
        }
    )


def empty_measures() -> pd.DataFrame:
    return _empty_measures().copy()


@functools.cache
def _empty_measures() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.WARD_CODE: pd.Series(dtype="string"),
            s.MONTH: pd.Series(dtype="string"),
            s.MEASURE: pd.Series(dtype="string"),
            s.COUNT: pd.Series(dtype="int64"),
        }
    )


def empty_rejects() -> pd.DataFrame:
    return _empty_rejects().copy()  # a copy of one made once: building it costs milliseconds


@functools.cache
def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.SOURCE: pd.Series(dtype="string"),
            s.SOURCE_ROW: pd.Series(dtype="int64"),
            s.INCIDENT_ID: pd.Series(dtype="string"),
            s.MONTH: pd.Series(dtype="string"),
            s.CATEGORY: pd.Series(dtype="string"),
            s.REASON: pd.Series(dtype="string"),
            s.DETAIL: pd.Series(dtype="string"),
            s.COUNT: pd.Series(dtype="int64"),
        }
    )


@dataclass
class SourceFrame:
    """The result of reading one configured source (a file, folder, zip or archive).

    Attributes
    ----------
    kind, path
        The source's kind (see ``config.SOURCE_KINDS``) and the path it was read from.
    incidents
        Point sources: canonical rows, columns ``schema.INCIDENT_COLUMNS``, x/y in
        EPSG:27700 (NaN where the row had no coordinates: those are rejected by the
        join step, not the reader).
    counts
        Aggregated sources: rows of ``schema.WARD_COUNTS_COLUMNS`` plus ``schema.FALLBACK``
        (the row's category came from its major's fallback mapping).
    measures
        Extra per-ward measures (``schema.WARD_MEASURES_COLUMNS``), e.g. the Met
        dashboard's domestic abuse, hate, knife and gun crime series.
    rejects
        Records set aside with their reason (``schema.REJECT_COLUMNS``); ``count`` is
        the number of records a reject row stands for (1 for a point, n for a cell of
        an aggregated file).
    read_by_month
        Records read per month, before anything was rejected or de-duplicated.
    duplicates_by_month
        Records removed as duplicates per month (same id twice; or, for aggregated
        files, months superseded by a newer file).
    files
        Every file actually read (paths; archive members are not listed).
    warnings
        Recoverable problems, in words, for the data-quality report.
    empty_files
        Empty files and archive members (:class:`EmptyFile`): their months, or ward-months,
        have no data from this source, which is not the same as no crime.
    names
        Category names that were not matched exactly: one row per name with ``how``
        (``"cut"``: a name cut at 50 characters, ``"fallback"``: its major's fallback,
        ``"unknown"``), ``target`` (what it was mapped to, "" when unknown) and ``records``.
    editions
        What the reader detected about the file's edition, in words (e.g. stalking and
        harassment published inside violence without injury).
    points
        The distinct point of each incident row (:class:`PointCodes`), when the reader found
        them; None once rows are dropped or reordered.
    """

    kind: str
    path: str
    incidents: pd.DataFrame = field(default_factory=empty_incidents)
    counts: pd.DataFrame = field(default_factory=empty_counts)
    measures: pd.DataFrame = field(default_factory=empty_measures)
    rejects: pd.DataFrame = field(default_factory=empty_rejects)
    read_by_month: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    duplicates_by_month: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    empty_files: list[EmptyFile] = field(default_factory=list)
    names: pd.DataFrame = field(default_factory=lambda: empty_names())
    editions: list[str] = field(default_factory=list)
    points: PointCodes | None = None


@dataclass(frozen=True)
class PointCodes:
    """Rows as positions in their distinct points: row *i* is at ``(x[codes[i]], y[codes[i]])``
    (EPSG:27700)."""

    codes: np.ndarray
    x: np.ndarray
    y: np.ndarray


def empty_names() -> pd.DataFrame:
    """The (empty) table of category names not matched exactly."""
    return _empty_names().copy()


@functools.cache
def _empty_names() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": pd.Series(dtype="string"),
            "how": pd.Series(dtype="string"),
            "target": pd.Series(dtype="string"),
            "records": pd.Series(dtype="int64"),
        }
    )
