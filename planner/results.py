"""Typed results of the application layer: a plan, and the manifest that makes it reproducible.

:class:`PlanResult` is what :func:`planner.api.plan` returns: the need scores, the
whole-officer allocation, the scenario that made them, and the :class:`RunManifest`. Readers
take fields from these objects; nothing travels in ``DataFrame.attrs`` or in dicts whose
shape a reader has to guess. :meth:`RunManifest.to_dict` is the one JSON shape written beside
every export and into the plan register.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from planner import __version__
from planner import schema as s
from planner.model.need import NeedInputs, NeedResult
from planner.plan.allocation import AllocationResult, borough_table, ward_table
from planner.scenario import Scenario

__all__ = ["DataFile", "PlanResult", "RunManifest", "jsonable"]


@dataclass(frozen=True)
class DataFile:
    """One input file of a run: its path, size and sha256."""

    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class RunManifest:
    """Everything needed to reproduce a run and to read its numbers.

    Attributes
    ----------
    planner_version, created
        The code and the time of the run.
    dataset, window_start, window_end
        The data set and the scoring window.
    scenario
        :meth:`planner.scenario.Scenario.to_dict` of the scenario.
    harm_index
        The harm index scored on.
    weights_used
        The need weights after absent components dropped out (they sum to 1).
    absent_components
        Components the data cannot provide.
    scales
        Each component's London scale (its value at the scale quantile).
    forecast
        The backtest verdict (:class:`planner.model.backtest.Verdict` as a dict), or None.
    forecast_note
        Why the forecast is not in the index, when it is not ("" when it is).
    notes
        The data's and the scoring's notes.
    wards_scored
        Wards in the index.
    data
        The input files with their checksums.
    ward_counts_cache
        Where the ingested data are cached.
    equity
        The allocation's equity measures, for a plan (None for scores only).
    """

    planner_version: str
    created: str
    dataset: str
    window_start: str
    window_end: str
    scenario: dict[str, Any]
    harm_index: str
    weights_used: dict[str, float]
    absent_components: list[str]
    scales: dict[str, float]
    forecast: dict[str, Any] | None
    forecast_note: str
    notes: list[str]
    wards_scored: int
    data: list[DataFile]
    ward_counts_cache: str
    equity: dict[str, Any] | None = None

    @classmethod
    def build(
        cls,
        need: NeedResult,
        scenario: Scenario,
        *,
        allocation: AllocationResult | None = None,
    ) -> RunManifest:
        """The manifest of scoring *need* (and allocating, when *allocation* is given)."""
        inputs: NeedInputs = need.inputs
        files = inputs.ingest.manifest.get("inputs", [])
        return cls(
            planner_version=__version__,
            created=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            dataset=inputs.dataset,
            window_start=inputs.window.start,
            window_end=inputs.window.end,
            scenario=scenario.to_dict(),
            harm_index=need.settings.harm_index,
            weights_used=dict(need.weights_used),
            absent_components=list(need.absent),
            scales={k: float(v) for k, v in need.scales.items()},
            forecast=inputs.verdict.to_dict() if inputs.verdict is not None else None,
            forecast_note=inputs.forecast_note,
            notes=list(need.notes),
            wards_scored=len(need.scores),
            data=[DataFile(str(f["path"]), int(f["bytes"]), str(f["sha256"])) for f in files],
            ward_counts_cache=str(inputs.ingest.cache_dir),
            equity=jsonable(allocation.equity) if allocation is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        data: dict[str, Any] = jsonable(dataclasses.asdict(self))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunManifest:
        """A manifest read back from :meth:`to_dict`'s shape."""
        values: dict[str, Any] = {f.name: data.get(f.name) for f in dataclasses.fields(cls)}
        values["data"] = [DataFile(**d) for d in data.get("data") or []]
        return cls(**values)


@dataclass
class PlanResult:
    """Need scores, the whole-officer allocation built on them, and how they were made.

    ``skipped_overrides`` lists recorded overrides that did not fit this scenario (id and
    why), when the plan was made with the register's overrides.
    """

    need: NeedResult
    allocation: AllocationResult
    scenario: Scenario
    manifest: RunManifest
    skipped_overrides: list[dict[str, Any]] = field(default_factory=list)

    @property
    def inputs(self) -> NeedInputs:
        return self.need.inputs

    def ward_table(self) -> pd.DataFrame:
        """One row per allocated ward: names, need score and ranks, then the allocation."""
        current = self.scenario.current_table()
        return ward_table(self.allocation, self.inputs.wards, self.need.scores, current)

    def borough_table(self) -> pd.DataFrame:
        """One row per borough, ``borough_name`` first."""
        return borough_table(self.allocation, self.inputs.wards)

    def borough_names(self) -> pd.Series:
        """Borough name by code for the scored boroughs, in name order."""
        wards = self.inputs.wards
        names = wards.groupby(s.BOROUGH_CODE, sort=False)[s.BOROUGH_NAME].first()
        return names.sort_values(kind="stable")


def jsonable(value: Any) -> Any:
    """JSON-ready data: numpy scalars as Python, NaN and infinity as None, sets as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        value = sorted(value, key=str)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
