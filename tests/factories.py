"""Factories for tests: the shipped configuration and small settings, wards and registers.

Nothing here runs at import time: the configuration is loaded on first use and kept
(:func:`shipped_config`). Settings factories start from neutral values written here as test
data (a one-stage Webster allocation with the standing 2 + 1 team and no floor), or from the
shipped configuration, and take keyword changes.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from planner.config import (
    AllocationSettings,
    HarmSettings,
    HotSpotSettings,
    NeedSettings,
    PlannerConfig,
    load_config,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "config"
SHARED_DATA = REPO.parent / "shared" / "data"


@functools.cache
def shipped_config() -> PlannerConfig:
    """The repository's own configuration (loaded once, on first use)."""
    return load_config(CONFIG_DIR)


def allocation_settings(**changes: Any) -> AllocationSettings:
    """Webster, baseline 2 DWO + 1 PCSO, no borough floor, no cap: changed by *changes*."""
    base = AllocationSettings(
        method="webster", baseline_dwo=2, baseline_pcso=1, borough_floor_share=0.0
    )
    return dataclasses.replace(base, **changes)


def need_settings(**changes: Any) -> NeedSettings:
    """The shipped need settings (config/need.toml), changed by *changes*."""
    return dataclasses.replace(shipped_config().need, **changes)


def harm_settings() -> HarmSettings:
    """The shipped harm settings (config/harm.toml)."""
    return shipped_config().harm


def hot_spot_settings(**changes: Any) -> HotSpotSettings:
    """The shipped hot-spot settings (config/hotspots.toml), changed by *changes*."""
    return dataclasses.replace(shipped_config().hotspots, **changes)


def register_at(url: str, **kwargs: Any) -> Any:
    """A plan register at *url* with the shipped store settings (busy timeout)."""
    from planner.register.store import PlanRegister

    settings = shipped_config().store
    if "busy_timeout_s" in kwargs:
        settings = dataclasses.replace(settings, busy_timeout_s=kwargs.pop("busy_timeout_s"))
    return PlanRegister(settings, url=url, borough_names=shipped_config().borough_names, **kwargs)


def config_copy(tmp_path: Path, **files: str) -> Path:
    """A copy of the shipped config folder in *tmp_path*, with some files' text replaced.

    ``config_copy(tmp, need=text)`` writes *text* as ``need.toml``.
    """
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    for stem, text in files.items():
        (target / f"{stem}.toml").write_text(text, encoding="utf-8")
    return target


def grid_wards(
    rows: int = 2, cols: int = 2, *, size: float = 1000.0, boroughs: int = 1
) -> gpd.GeoDataFrame:
    """A grid of square wards in British National Grid (in London), codes E05000001...

    Columns ward_name, borough_code, borough_name; wards are split between *boroughs*
    boroughs (E09000001...) by row.
    """
    records = []
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c + 1
            b = min(r * boroughs // rows, boroughs - 1) + 2
            records.append(
                {
                    "ward_code": f"E05{k:06d}",
                    "ward_name": f"Ward {k}",
                    "borough_code": f"E09{b:06d}",
                    "borough_name": f"Borough {b}",
                    "geometry": shapely.box(
                        530_000 + c * size, 180_000 + r * size,
                        530_000 + (c + 1) * size, 180_000 + (r + 1) * size,
                    ),
                }
            )  # fmt: skip
    frame = pd.DataFrame(records).set_index("ward_code")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:27700")


def run_manifest(**changes: Any) -> Any:
    """A RunManifest of a synthetic run (every field filled), changed by *changes*."""
    from planner.results import RunManifest
    from planner.scenario import Scenario

    base = RunManifest(
        planner_version="0.1.0",
        created="2026-01-31T09:00:00+00:00",
        dataset="synthetic",
        window_start="2025-02",
        window_end="2026-01",
        scenario=Scenario.from_config(shipped_config()).to_dict(),
        harm_index="cchi",
        weights_used={"harm": 1.0},
        absent_components=[],
        scales={},
        forecast=None,
        forecast_note="off",
        notes=[],
        wards_scored=0,
        data=[],
        ward_counts_cache="",
    )
    return dataclasses.replace(base, **changes)
