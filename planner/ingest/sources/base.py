"""What every source reader returns: :class:`SourceFrame`.

Point sources (police.uk CSV and API JSON, generic points) fill ``incidents``;
pre-aggregated Met files fill ``counts`` (and ``measures``). Either way the frame
carries its rejects and the numbers the data-quality report needs, so that
conservation holds per source and month::

    read = counted + rejected + duplicates
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from planner import schema as s

__all__ = [
    "Progress",
    "SourceFrame",
    "empty_counts",
    "empty_incidents",
    "empty_measures",
    "empty_rejects",
]

Progress = Callable[[str], None]
"""What a reader calls with each file name as it reads it."""


def empty_incidents() -> pd.DataFrame:
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
    return pd.DataFrame(
        {
            s.WARD_CODE: pd.Series(dtype="string"),
            s.MONTH: pd.Series(dtype="string"),
            s.CATEGORY: pd.Series(dtype="string"),
            s.SUBCATEGORY: pd.Series(dtype="string"),
            s.COUNT: pd.Series(dtype="int64"),
        }
    )


def empty_measures() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.WARD_CODE: pd.Series(dtype="string"),
            s.MONTH: pd.Series(dtype="string"),
            s.MEASURE: pd.Series(dtype="string"),
            s.COUNT: pd.Series(dtype="int64"),
        }
    )


def empty_rejects() -> pd.DataFrame:
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
        Aggregated sources: rows of ``schema.WARD_COUNTS_COLUMNS``.
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
