"""Jobs per borough: the workday population of the footfall-aware priority rates.

Resident rates overstate crime where many people work or visit and few live (the West End,
King's Cross, Canary Wharf). :func:`read_workplace` reads the jobs of each borough from the
borough rows (E09 codes) of a CSV: by default the GLA Ward Profiles 2015 (London Datastore,
``population/ward-profiles-excel-version.csv``, column "Number of jobs in area - 2013"), whose
borough rows hold every London borough (Latin-1 text, thousands separators, notes rows at the
end). Borough codes have not changed since 2009, so the borough rows serve every ward vintage;
ward rows (E05, pre-2014 wards) are not read. Any file with a borough-code column and a jobs
(or workday population) column can be configured instead (``config/priorities.toml
[footfall]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner.config import PlannerConfig
from planner.errors import DataError

__all__ = ["Workplace", "read_workplace", "workplace_for"]


@dataclass(frozen=True)
class Workplace:
    """Jobs by borough code (``jobs``, E09 index), where they come from and what was read.

    Without a usable file ``jobs`` is empty and ``note`` says why (:meth:`missing`).
    """

    jobs: pd.Series
    source: str
    report: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def missing(cls, why: str) -> Workplace:
        """No workplace figures, and why."""
        return cls(pd.Series(dtype=float, name="workday_population"), "", {}, why)


def workplace_for(config: PlannerConfig) -> Workplace:
    """The jobs per borough of ``config.priorities.footfall``, or why there are none.

    A missing or unreadable file is not an error (the source is optional): the result is
    :meth:`Workplace.missing` with the reason, and the resident rate is used everywhere.
    """
    spec = config.priorities.footfall
    try:
        return read_workplace(
            config.resolve(spec.path),
            code_column=spec.code_column,
            jobs_column=spec.jobs_column,
            encoding=spec.encoding,
            year=spec.year,
        )
    except DataError as exc:
        return Workplace.missing(str(exc))


def read_workplace(
    path: Path, *, code_column: str, jobs_column: str, encoding: str, year: int
) -> Workplace:
    """The jobs of every borough in the E09 rows of the CSV at *path*.

    Parameters
    ----------
    path
        The CSV file.
    code_column, jobs_column
        The columns holding the borough code and the jobs (whole numbers; thousands
        separators and spaces are allowed).
    encoding
        The file's text encoding ("latin1" for the GLA ward profiles).
    year
        The year the jobs count refers to, for the report and the notes.

    Returns
    -------
    Workplace
        ``jobs``: one value per borough code, named ``workday_population``. A borough listed
        twice with the same figure (the City in the ward profiles) is kept once.

    Raises
    ------
    DataError
        The file or a column is missing, no row has an E09 code, a borough's jobs figure is not
        a positive number, or a borough is listed twice with different figures.
    """
    header = _read(path, encoding, nrows=0).columns
    lacking = [c for c in (code_column, jobs_column) if c not in header]
    if lacking:
        raise DataError(
            f"{path}: column(s) {lacking} not found (columns: {list(header)[:8]}...); "
            "fix code_column / jobs_column in config/priorities.toml [footfall]"
        )
    table = _read(path, encoding, usecols=[code_column, jobs_column])
    codes = table[code_column].astype("string").str.strip()
    rows = table[codes.str.startswith("E09").fillna(False).to_numpy(dtype=bool)]
    if rows.empty:
        raise DataError(
            f"{path}: no row has a borough code (E09...) in column {code_column!r}; the "
            "footfall-aware rates need one row per borough"
        )
    jobs = _numbers(rows[jobs_column])
    bad = jobs.isna() | (jobs <= 0)
    if bad.any():
        lines = (rows.index[bad.to_numpy()] + 2).tolist()[:5]  # file lines: header is line 1
        raise DataError(f"{path}: lines {lines}: {jobs_column!r} is not a positive number of jobs")
    frame = pd.DataFrame({"code": codes.loc[rows.index].to_numpy(), "jobs": jobs.to_numpy()})
    frame = frame.drop_duplicates()
    twice = frame["code"][frame["code"].duplicated()].unique().tolist()
    if twice:
        raise DataError(f"{path}: borough(s) {twice} listed twice with different jobs figures")
    series = pd.Series(
        frame["jobs"].to_numpy(dtype=float),
        index=pd.Index(frame["code"].astype(str), name="borough_code"),
        name="workday_population",
    )
    source = f"{path.name} ({jobs_column!r}, {year})"
    return Workplace(series, source, {"path": str(path), "boroughs": len(series), "year": year})


def _read(path: Path, encoding: str, **options: Any) -> pd.DataFrame:
    """The CSV at *path* as text (*options*: ``nrows``, ``usecols`` of :func:`pandas.read_csv`)."""
    if not path.is_file():
        raise DataError(
            f"{path} not found; run `planner fetch` (source ward_profiles) or set "
            "[footfall] path in config/priorities.toml"
        )
    try:
        return pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False, **options)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DataError(
            f"{path}: cannot be read as {encoding!r} text ({exc}); set [footfall] encoding"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None


def _numbers(values: pd.Series) -> pd.Series:
    """Numbers from text with thousands separators ("392,400"); NaN where not a number."""
    text = values.astype("string").str.replace(",", "", regex=False).str.replace(" ", "")
    return pd.to_numeric(text, errors="coerce").astype(float)
