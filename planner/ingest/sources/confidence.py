"""Public confidence by borough: MOPAC's Public Attitude Survey (PAS) dashboard export.

The file (``pas/PAS_Dashboard_Borough.csv``) has one row per quarter, borough and measure:
``Date`` (the quarter's last day, d/m/Y), ``Survey``, ``Borough``, ``Measure``,
``Proportion`` (the borough's share agreeing) and ``MPS`` (the same for the Met as a whole).
Its quirks, all handled here: decimal commas ("0,56"), day-first dates, borough names not
normalised ("City of Westminster", "Richmond Upon Thames" beside "Richmond upon Thames"),
trailing empty columns (one stray row carries a value there; it is ignored and counted).

Rows whose borough cannot be named, whose date or proportion cannot be read, or that repeat
an earlier row are set aside and counted in :attr:`Confidence.report`, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as s
from planner.config import PlannerConfig
from planner.errors import DataError

__all__ = ["PAS_COLUMNS", "Confidence", "latest_survey", "low_confidence", "read_confidence"]

PAS_COLUMNS = ("Date", "Borough", "Measure", "Proportion", "MPS")
"""The columns the PAS export must have."""


@dataclass(frozen=True)
class Confidence:
    """PAS measures by quarter and borough, or why there are none.

    ``table`` columns: ``date`` (Timestamp), ``borough_code``, ``measure``, ``proportion``,
    ``mps`` (0-1); None when the file is absent (``note`` says so).
    """

    table: pd.DataFrame | None
    note: str = ""
    report: dict[str, Any] = field(default_factory=dict)


def _borough_codes(config: PlannerConfig, names: pd.Series) -> dict[str, Any]:
    """Code by borough name, each distinct name looked up once (9,000 rows, 33 names)."""
    return {b: config.borough_code(b) or pd.NA for b in names.dropna().unique()}


def read_confidence(config: PlannerConfig, path: Path | None = None) -> Confidence:
    """Read the PAS borough export named in ``config/yardsticks.toml [confidence] pas``.

    A missing file gives ``table=None`` with the reason (the app and the pack show "no PAS
    data"); a file that exists but cannot be read raises.

    Raises
    ------
    DataError
        Columns missing, or no row could be read; the message names the file and the fix.
    """
    path = path or config.resolve(config.yardsticks.confidence.pas)
    if not path.is_file():
        return Confidence(None, f"no Public Attitude Survey file ({path}); run `planner fetch`")
    try:
        raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as a CSV file ({exc})") from None
    lacking = [c for c in PAS_COLUMNS if c not in raw.columns]
    if lacking:
        raise DataError(
            f"{path}: column(s) {lacking} not found (columns: {list(raw.columns)[:10]}); "
            "expected the MOPAC PAS borough dashboard export (Date, Borough, Measure, "
            "Proportion, MPS)"
        )
    extra = [c for c in raw.columns if c.startswith("Unnamed")]
    stray = int(raw[extra].notna().any(axis=1).sum()) if extra else 0
    table = pd.DataFrame(
        {
            "date": pd.to_datetime(raw["Date"].str.strip(), format="%d/%m/%Y", errors="coerce"),
            s.BOROUGH_CODE: raw["Borough"].map(_borough_codes(config, raw["Borough"])),
            "measure": raw["Measure"].str.strip(),
            "proportion": _proportion(raw["Proportion"]),
            "mps": _proportion(raw["MPS"]),
        }
    )
    unnamed = sorted(raw.loc[table[s.BOROUGH_CODE].isna(), "Borough"].dropna().unique())
    unreadable = table[["date", "proportion", "mps"]].isna().any(axis=1)
    ok = table[s.BOROUGH_CODE].notna() & ~unreadable
    kept = table[ok]
    repeated = kept.duplicated(["date", s.BOROUGH_CODE, "measure"], keep="first")
    kept = kept[~repeated].reset_index(drop=True)
    if kept.empty:
        raise DataError(f"{path}: no row could be read (check dates d/m/Y and proportions)")
    report = {
        "file": str(path),
        "rows": len(raw),
        "rows_used": len(kept),
        "rows_unknown_borough": int(table[s.BOROUGH_CODE].isna().sum()),
        "unknown_boroughs": unnamed,
        "rows_unreadable": int((unreadable & table[s.BOROUGH_CODE].notna()).sum()),
        "rows_repeated": int(repeated.sum()),
        "rows_with_stray_cells": stray,
        "first": kept["date"].min().date().isoformat(),
        "last": kept["date"].max().date().isoformat(),
    }
    return Confidence(kept, "", report)


def _proportion(text: pd.Series) -> pd.Series:
    """Proportions written with a decimal comma or point, or as percentages (0-100)."""
    values = pd.to_numeric(text.str.strip().str.replace(",", ".", regex=False), errors="coerce")
    if values.max(skipna=True) > 1:  # a percentage export
        values = values / 100
    return values.where(values.between(0, 1))


def latest_survey(
    table: pd.DataFrame, measure: str, *, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Each borough's row for *measure* at the latest survey date (at or before *as_of*, when
    the survey has such a date), indexed by ``borough_code``."""
    rows = table[table["measure"] == measure]
    if as_of is not None and (rows["date"] <= as_of).any():
        rows = rows[rows["date"] <= as_of]
    return rows[rows["date"] == rows["date"].max()].set_index(s.BOROUGH_CODE)


def low_confidence(
    table: pd.DataFrame,
    boroughs: pd.Series,
    measure: str,
    *,
    as_of: pd.Timestamp | None = None,
) -> pd.Series:
    """Each ward's borough shortfall below the MPS figure on *measure*: ``max(0, mps - p)``.

    The raw value of the optional "low confidence" need component (``need.toml
    weights.confidence``; 0, off, by default). *boroughs* maps ward code to borough code; a
    borough the survey lacks gets NaN.
    """
    latest = latest_survey(table, measure, as_of=as_of)
    shortfall = (latest["mps"] - latest["proportion"]).clip(lower=0)
    return boroughs.map(shortfall).astype(float).rename("confidence")
