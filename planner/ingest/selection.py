"""What a dataset takes from each source, and when a source's names or codes are wrong as a whole.

- :func:`take`: a source's ``categories`` (or ``exclude``) and ``months`` settings: records it
  does not take are set aside as rejects with their reason (``category_not_taken_from_source``,
  ``month_outside_selected_range``), so that ``read = counted + rejected + duplicates`` holds;
- :func:`check_unknown_names`: a source with more unknown category names than
  ``max_unknown_share`` of its records is of another taxonomy: ingest stops, naming the
  commonest names and the line to add to ``config/categories.toml``;
- :func:`check_unknown_wards`: a Met ward file whose codes are mostly not the dataset's wards is
  of another ward vintage: ingest stops, naming the vintage's ward file where one in the data
  folder holds the codes, and the ``boundaries = ...`` line that re-bases it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio

from planner import schema as s
from planner.config import PlannerConfig, SourceSpec
from planner.errors import DataError
from planner.ingest.sources import vector  # noqa: F401  (GDAL hardened before pyogrio reads)
from planner.ingest.sources.base import SourceFrame, empty_rejects

__all__ = ["check_unknown_names", "check_unknown_wards", "take", "unknown_names"]

_TABLES = {  # source kind -> the categories.toml table its names go in, and a line to add
    "police_uk_csv": ("police_uk.csv", '{name} = "<one of the 14 police.uk categories>"'),
    "points_csv": ("police_uk.csv", '{name} = "<one of the 14 police.uk categories>"'),
    "police_uk_api": ("police_uk.api", '{name} = "<one of the 14 police.uk categories>"'),
    "mps_ward": ("mps.minor", '{name} = ["<police.uk category>", "<subcategory>"]'),
    "mps_dashboard": ("mps.dashboard", '{name} = "<measure name>"'),
}
_SHOWN = 5


def take(frame: SourceFrame, src: SourceSpec) -> SourceFrame:
    """*frame* with the records *src* does not take moved to its rejects.

    Point records are set aside one reject row per source file, month and category (``count``
    records each), not one per record: 900,000 crimes of an ASB-only source would otherwise
    be 900,000 reject rows.
    """
    if src.categories is None and src.exclude is None and src.months is None:
        return frame
    out: dict[str, pd.DataFrame] = {}
    parts = [frame.rejects]
    for name in ("incidents", "counts", "measures"):
        table = getattr(frame, name)
        if table.empty:
            out[name] = table
            continue
        keep, reason = _kept(table, src)
        out[name] = table.loc[keep].reset_index(drop=True)
        if (~keep).any():
            parts.append(_set_aside(table.loc[~keep], reason[~keep], frame.path, name))
    rejects = pd.concat(parts, ignore_index=True)
    points = frame.points if len(out["incidents"]) == len(frame.incidents) else None
    return dataclasses.replace(frame, rejects=rejects, points=points, **out)


def _kept(table: pd.DataFrame, src: SourceSpec) -> tuple[np.ndarray, np.ndarray]:
    """Which rows *src* takes, and for the others the reason."""
    n = len(table)
    reason = np.full(n, "", dtype=object)
    if s.CATEGORY in table and (src.categories is not None or src.exclude is not None):
        cats = table[s.CATEGORY].astype(str)
        known = cats.isin(s.CATEGORIES).to_numpy()
        taken = cats.map(lambda c: src.takes(c)).to_numpy(dtype=bool)
        reason[known & ~taken] = s.REASON_NOT_TAKEN
    if src.months is not None:
        month = table[s.MONTH].astype(str).to_numpy()
        first, last = src.months
        outside = (month < first) | (month > last)
        reason[(reason == "") & outside] = s.REASON_OUTSIDE_MONTHS
    return reason == "", reason


def _set_aside(table: pd.DataFrame, reason: np.ndarray, path: str, name: str) -> pd.DataFrame:
    label = s.CATEGORY if s.CATEGORY in table else s.MEASURE
    detail = {
        s.REASON_NOT_TAKEN: "not taken from this source (its categories / exclude setting "
        "in config/planner.toml)",
        s.REASON_OUTSIDE_MONTHS: "outside the months this source is taken for (its months "
        "setting in config/planner.toml)",
    }
    count = table[s.COUNT].to_numpy() if s.COUNT in table else np.ones(len(table), dtype="int64")
    rows = pd.DataFrame(
        {
            s.SOURCE: table[s.SOURCE].astype(str).to_numpy() if s.SOURCE in table else path,
            s.MONTH: table[s.MONTH].astype(str).to_numpy(),
            s.CATEGORY: table[label].astype(str).to_numpy(),
            s.REASON: reason,
            s.COUNT: count.astype("int64"),
        }
    )
    grouped = rows.groupby([s.SOURCE, s.MONTH, s.CATEGORY, s.REASON], observed=True)[s.COUNT]
    out = grouped.sum().reset_index()
    out[s.DETAIL] = out[s.REASON].map(detail)
    out[s.SOURCE_ROW] = 0
    out[s.INCIDENT_ID] = pd.NA
    return pd.concat([empty_rejects(), out[list(s.REJECT_COLUMNS)]], ignore_index=True)


def unknown_names(frame: SourceFrame) -> pd.Series:
    """Records per unknown category name of a source, most first."""
    rejects = frame.rejects
    mine = rejects[rejects[s.REASON] == s.REASON_UNKNOWN_CATEGORY]
    if mine.empty:
        return pd.Series(dtype="int64")
    counts = mine.groupby(mine[s.CATEGORY].astype(str))[s.COUNT].sum()
    return counts.sort_values(ascending=False, kind="stable").astype("int64")


def check_unknown_names(frame: SourceFrame, src: SourceSpec, config: PlannerConfig) -> None:
    """Stop when more than ``max_unknown_share`` of a source's records carry unknown names.

    Raises
    ------
    DataError
        Naming the source, the share, the commonest names with their records, and the line to
        add to ``config/categories.toml`` for each.
    """
    read = int(frame.read_by_month.sum())
    names = unknown_names(frame)
    unknown = int(names.sum())
    limit = config.categories.max_unknown_share
    if not read or unknown <= limit * read:
        return
    table, line = _TABLES[frame.kind]
    shown = "; ".join(f"{n!r} ({v:,} records)" for n, v in names.iloc[:_SHOWN].items())
    more = f" and {len(names) - _SHOWN} more names" if len(names) > _SHOWN else ""
    lines = "\n".join("    " + line.format(name=json.dumps(n)) for n in names.index[:_SHOWN])
    raise DataError(
        f"{src.path}: {unknown:,} of {read:,} records ({unknown / read:.1%}) carry category "
        f"names that config/categories.toml does not know, more than max_unknown_share "
        f"({limit:.1%}): the file uses another taxonomy. Unknown names: {shown}{more}. Add "
        f"them under [{table}] in {config.file('categories')}, for example:\n{lines}"
    )


def check_unknown_wards(
    frame: SourceFrame,
    src: SourceSpec,
    unknown: pd.DataFrame,
    config: PlannerConfig,
    wards_path: Path,
) -> None:
    """Stop when a Met ward file's codes are mostly not the dataset's wards (another vintage).

    Raises
    ------
    DataError
        Naming the records lost, example codes, the ward file of the data folder that holds
        them (where one does) and the ``boundaries`` line to add to the source.
    """
    if frame.kind != "mps_ward" or unknown.empty:
        return
    lost = int(unknown[s.COUNT].sum())
    read = int(frame.read_by_month.sum())
    limit = config.join.crosswalk.max_unknown_ward_share
    if not read or lost <= limit * read:
        return
    codes = sorted(set(unknown[s.WARD_CODE].astype(str)))
    if src.boundaries:
        raise DataError(
            f"{src.path}: {lost:,} of {read:,} records ({lost / read:.1%}) carry {len(codes)} "
            f"ward codes (e.g. {', '.join(codes[:4])}) that are neither wards of its declared "
            f"vintage {src.boundaries} nor of the dataset's boundary file {wards_path}: set "
            f"boundaries = ... on the source in {config.file('planner')} to the ward file whose "
            "codes the file uses"
        )
    vintage = _vintage_of(codes, config)
    hint = (
        f'boundaries = "{vintage}" (the ward file of that vintage: it holds these codes)'
        if vintage
        else 'boundaries = "wards/<the ward file of its vintage>"'
    )
    raise DataError(
        f"{src.path}: {lost:,} of {read:,} records ({lost / read:.1%}) carry {len(codes)} ward "
        f"codes that are not wards of the dataset's boundary file {wards_path} (e.g. "
        f"{', '.join(codes[:4])}): the file is on another ward vintage. Declare its vintage on "
        f"the source in {config.file('planner')} with {hint}; its counts are then re-based onto "
        "the dataset's wards (README, Ward vintages)"
    )


def _vintage_of(codes: list[str], config: PlannerConfig) -> str | None:
    """The ward file under the data folder's wards/ holding the most of *codes* (>= 95 %)."""
    root = config.data_dir / "wards"
    if not root.is_dir():
        return None
    best, best_share = None, 0.0
    wanted = set(codes)
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".shp", ".geojson", ".gpkg") or "Merged" in path.name:
            continue
        try:
            table = pyogrio.read_dataframe(path, read_geometry=False)
        except Exception:  # an unreadable candidate is not the one
            continue
        for col in table.columns:
            found = set(table[col].astype(str)) & wanted
            share = len(found) / len(wanted)
            if share > best_share:
                best, best_share = path, share
    if best is None or best_share < 0.95:
        return None
    return best.relative_to(config.data_dir).as_posix()
