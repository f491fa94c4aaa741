"""Files out: need tables and their manifest. Every file is written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from planner._files import atomic_path

__all__ = ["write_csv", "write_json", "write_need_tables"]


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write *frame* as UTF-8 CSV via a temporary file; returns the path."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index, encoding="utf-8", float_format="%.6g")
    return Path(path)


def write_json(data: Any, path: str | Path) -> Path:
    """Write *data* as indented JSON via a temporary file; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return Path(path)


def write_need_tables(result: Any, out_dir: str | Path) -> list[Path]:
    """Write a :class:`planner.pipeline.NeedResult` as CSV tables and a manifest.

    Files: ``scores.csv`` (score, ranks, contributions per component), ``components.csv``
    (raw component values), ``features.csv`` (every feature under the chosen harm index),
    ``sensitivity.csv`` (per-ward rank ranges), ``backtest.csv`` (forecast vs baselines,
    when run) and ``manifest.json`` (settings, data checksums, sensitivity summary,
    forecast verdict).
    """
    out = Path(out_dir)
    inputs = result.inputs
    written = [
        write_csv(result.scores.sort_values("rank_london"), out / "scores.csv"),
        write_csv(result.components, out / "components.csv"),
        write_csv(inputs.features[result.settings.harm_index], out / "features.csv"),
    ]
    if result.sensitivity is not None:
        written.append(write_csv(result.sensitivity, out / "sensitivity.csv"))
    if inputs.backtest is not None:
        written.append(write_csv(inputs.backtest, out / "backtest.csv", index=False))
    manifest = {**result.manifest, "sensitivity": result.sensitivity_summary}
    manifest["files"] = [p.name for p in written]
    written.append(write_json(manifest, out / "manifest.json"))
    return written
