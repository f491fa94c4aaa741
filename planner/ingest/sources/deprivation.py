"""Residents of each ward by IMD 2019 decile: the deprivation yardstick of the equity report.

The English Indices of Deprivation 2019 rank every LSOA 2011 of England; decile 1 is the most
deprived tenth. A ward's residents are split by the decile of the small areas they live in:

1. Census 2021 residents by LSOA 2021 and the best-fit LSOA 2021 -> ward lookup, the same
   files and columns as the ward population (``config/population.toml [lookup]``);
2. each LSOA 2021 takes the decile of its LSOA 2011 through the GLA's LSOA 2011 x 2021 file
   (the population file itself: one row per pair). Where several 2011 areas merged into one
   2021 area, the decile of the one with most residents in 2011 is used, and counted in the
   report.

Only wards the lookup knows get a split (the May 2022 wards); for other vintages
:func:`ward_deciles` says why there is none rather than guessing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner.config import PlannerConfig
from planner.config.yardsticks import DeprivationSettings
from planner.errors import DataError
from planner.files import atomic_path

__all__ = ["DECILES", "WardDeciles", "read_imd", "ward_deciles"]

DECILES = tuple(range(1, 11))
"""IMD deciles, 1 = most deprived."""


@dataclass(frozen=True)
class WardDeciles:
    """Residents per ward (rows, ``ward_code``) and IMD decile (columns 1-10), or why not.

    ``residents`` is None when the split cannot be made; ``note`` then says why. ``report``
    counts the areas used, merged and unmatched.
    """

    residents: pd.DataFrame | None
    note: str = ""
    report: dict[str, Any] = field(default_factory=dict)


def read_imd(path: Path, *, sheet: str, lsoa_column: str, decile_column: str) -> pd.Series:
    """IMD 2019 decile by LSOA 2011 code from File 1 of the English Indices of Deprivation.

    Raises
    ------
    DataError
        The file, sheet or a column is missing, or a decile is not a whole number 1-10.
    """
    if not path.is_file():
        raise DataError(f"{path} not found; run `planner fetch` (source imd2019_file1)")
    try:
        table = pd.read_excel(path, sheet_name=sheet)
    except ValueError as exc:  # a missing sheet, or not a workbook
        raise DataError(
            f"{path}: cannot read sheet {sheet!r} ({exc}); set [deprivation] sheet in "
            "config/yardsticks.toml"
        ) from None
    lacking = [c for c in (lsoa_column, decile_column) if c not in table.columns]
    if lacking:
        raise DataError(
            f"{path} sheet {sheet}: column(s) {lacking} not found (columns: "
            f"{list(table.columns)[:8]}); fix [deprivation] in config/yardsticks.toml"
        )
    decile = pd.to_numeric(table[decile_column], errors="coerce")
    bad = ~decile.isin(DECILES)
    if bad.any():
        rows = (table.index[bad] + 2).tolist()[:5]  # spreadsheet rows: header is row 1
        raise DataError(f"{path} sheet {sheet}: rows {rows}: decile is not a whole number 1-10")
    codes = table[lsoa_column].astype(str).str.strip()
    return pd.Series(decile.astype(int).to_numpy(), index=pd.Index(codes, name="lsoa11"))


def ward_deciles(config: PlannerConfig, wards: pd.Index) -> WardDeciles:
    """Residents of each of *wards* by IMD decile (see the module docstring).

    A missing IMD file, or wards the lookup does not know, give ``residents=None`` with the
    reason in ``note`` (the equity report then shows "no data"); other problems raise.

    Raises
    ------
    DataError
        A file exists but cannot be read as configured.
    """
    dep, src = config.yardsticks.deprivation, config.population.lookup
    imd_path = config.resolve(dep.imd)
    if not imd_path.is_file():
        return WardDeciles(None, f"no IMD 2019 file ({imd_path}); run `planner fetch`")
    lookup_path = config.resolve(src.lookup)
    lookup = _csv(lookup_path, [src.lookup_code, src.lookup_ward])
    known = wards.isin(set(lookup[src.lookup_ward].astype(str)))
    if known.mean() < config.population.auto_min_share:
        return WardDeciles(
            None,
            f"these wards are not the vintage of {lookup_path.name} ({known.sum()} of "
            f"{len(wards)} known): no small-area lookup to split their residents by decile",
        )
    imd = _cached_imd(config.cache_dir, imd_path, dep)
    pop_path = config.resolve(src.population)
    cols = [dep.population_lsoa11, src.population_code, dep.population_residents11]
    pairs = _csv(
        pop_path,
        [*cols, src.population_value],
        numbers=(dep.population_residents11, src.population_value),
    )
    pairs["decile"] = pairs[dep.population_lsoa11].map(imd)
    # one decile per 2021 area: that of its 2011 parent with most residents in 2011
    pairs = pairs.sort_values(dep.population_residents11, ascending=False, kind="stable")
    merged = int(pairs[src.population_code].duplicated().sum())
    areas = pairs.drop_duplicates(src.population_code)
    areas = areas.merge(lookup, left_on=src.population_code, right_on=src.lookup_code, how="inner")
    areas = areas[areas[src.lookup_ward].astype(str).isin(set(wards))]
    no_decile = int(areas["decile"].isna().sum())
    table = (
        areas.dropna(subset=["decile"])
        .astype({"decile": int})
        .pivot_table(
            index=src.lookup_ward, columns="decile", values=src.population_value, aggfunc="sum"
        )
        .reindex(index=wards, columns=list(DECILES))
        .fillna(0.0)
    )
    table.index.name, table.columns.name = "ward_code", "imd_decile"
    report = {
        "imd": str(imd_path),
        "areas": len(areas),
        "areas_merged_2011_to_2021": merged,
        "areas_without_decile": no_decile,
        "wards_without_residents": int((table.sum(axis=1) == 0).sum()),
    }
    return WardDeciles(table, "", report)


def _cached_imd(cache_dir: Path, path: Path, dep: DeprivationSettings) -> pd.Series:
    """:func:`read_imd`, kept as a two-column CSV in the ingest cache after the first read.

    The workbook takes seconds to parse (openpyxl reads every cell of its 33k rows) and is
    read on every start of the app; the cache is keyed on the file (path, size, modification
    time) and the configured sheet and columns, so a new file or setting reads the workbook.
    """
    stat = path.stat()
    key = json.dumps(
        [str(path.resolve()), stat.st_size, stat.st_mtime_ns, dep.sheet, dep.lsoa_column,
         dep.decile_column]
    )  # fmt: skip
    cache = cache_dir / "yardsticks" / f"imd_{hashlib.sha256(key.encode()).hexdigest()[:16]}.csv"
    if cache.is_file():
        with contextlib.suppress(ValueError, OSError, KeyError):
            table = pd.read_csv(cache, dtype={"lsoa11": str, "decile": int})
            if table["decile"].isin(DECILES).all():
                return pd.Series(
                    table["decile"].to_numpy(), index=pd.Index(table["lsoa11"], name="lsoa11")
                )
    imd = read_imd(
        path, sheet=dep.sheet, lsoa_column=dep.lsoa_column, decile_column=dep.decile_column
    )
    with contextlib.suppress(OSError):  # a read-only cache folder: read the workbook each time
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            imd.rename("decile").reset_index().to_csv(tmp, index=False)
    return imd


def _csv(path: Path, columns: list[str], *, numbers: tuple[str, ...] = ()) -> pd.DataFrame:
    """*columns* of a CSV, codes as text and *numbers* as numbers."""
    if not path.is_file():
        raise DataError(f"{path} not found; run `planner fetch --from ../shared/data` or set it")
    header = pd.read_csv(path, nrows=0).columns
    lacking = [c for c in columns if c not in header]
    if lacking:
        raise DataError(
            f"{path}: column(s) {lacking} not found (columns: {list(header)[:12]}); fix "
            "config/population.toml [lookup] or config/yardsticks.toml [deprivation]"
        )
    return pd.read_csv(path, usecols=columns, dtype={c: str for c in columns if c not in numbers})
