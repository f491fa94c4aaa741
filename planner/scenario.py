"""A scenario: every choice that turns a dataset into a plan, in one frozen, typed object.

Both front ends build a :class:`Scenario` and nothing else: the command line from its options
(:func:`Scenario.from_config` then :meth:`Scenario.changed`), the app from its sidebar. It is
written in one shape (:meth:`Scenario.to_dict`) into the plan register and every manifest, and
read back from them with :meth:`Scenario.from_dict` through the same checks as the
configuration files, so a saved plan names exactly the scenario that made it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from planner.config import AllocationSettings, NeedSettings, PlannerConfig
from planner.config.build import Checked, Problems, build
from planner.errors import ConfigError
from planner.plan.overrides import Override

__all__ = ["CurrentTeam", "Scenario"]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class CurrentTeam(Checked):
    """One ward's team now: Dedicated Ward Officers and PCSOs (for damping and the table)."""

    ward_code: str
    dwo: int
    pcso: int

    def _problems(self) -> list[str]:
        if self.dwo < 0 or self.pcso < 0:
            return [f"{self.ward_code}: officers must be >= 0, found {self.dwo}, {self.pcso}"]
        return []


@dataclass(frozen=True)
class Scenario(Checked):
    """What a plan is made from, besides the data.

    Attributes
    ----------
    dataset
        A dataset of ``config/planner.toml``.
    window_end
        The last month of the scoring window (``YYYY-MM``); None for the newest in the data.
    use_forecast
        Fit the forecast and backtest it (it enters the index only if it beat its baselines).
    need
        The need index: weights, harm index, window length, scale, trend prior.
    allocation
        Method, baseline team, borough floor, per-ward cap, exclusions, damping.
    pool
        Extra officers to allocate.
    current
        Each ward's team now, where known (needed for damping).
    overrides
        Commanders' overrides applied after the allocation, in order.
    """

    dataset: str
    window_end: str | None
    use_forecast: bool
    need: NeedSettings
    allocation: AllocationSettings
    pool: int
    current: tuple[CurrentTeam, ...] = ()
    overrides: tuple[Override, ...] = ()

    def _problems(self) -> list[str]:
        found = []
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 0:
            found.append(f"pool must be a whole number of officers >= 0, found {self.pool!r}")
        if self.window_end is not None and not _MONTH.match(str(self.window_end)):
            found.append(f"window_end must be 'YYYY-MM', found {self.window_end!r}")
        codes = [t.ward_code for t in self.current]
        if len(set(codes)) < len(codes):
            found.append("current staffing lists a ward twice")
        if self.allocation.max_change is not None and not self.current:
            found.append(
                f"max_change {self.allocation.max_change} needs each ward's current team; "
                "give current staffing (planner plan --current FILE) or unset max_change"
            )
        return found

    # -- making one --

    @classmethod
    def from_config(cls, config: PlannerConfig, dataset: str | None = None) -> Scenario:
        """The configuration's own scenario for *dataset* (default: the default dataset)."""
        return cls(
            dataset=config.dataset(dataset).name,
            window_end=None,
            use_forecast=config.use_forecast,
            need=config.need,
            allocation=config.allocation,
            pool=config.pool,
        )

    def changed(self, **changes: Any) -> Scenario:
        """A copy with some choices changed; None values leave a choice as it is.

        Keys are :class:`Scenario` fields, or fields of its need settings (``harm_index``,
        ``weights``...) or allocation settings (``method``, ``borough_floor_share``,
        ``max_extra_per_ward``...). ``max_extra_per_ward=0`` is a cap of 0; pass
        ``no_cap=True`` to remove a cap.

        Raises
        ------
        ConfigError
            An unknown choice, or a value its checks refuse.
        """
        no_cap = changes.pop("no_cap", False)
        changes = {k: v for k, v in changes.items() if v is not None}
        need_fields = {f.name for f in dataclasses.fields(NeedSettings)}
        alloc_fields = {f.name for f in dataclasses.fields(AllocationSettings)}
        own = {f.name for f in dataclasses.fields(Scenario)}
        unknown = sorted(set(changes) - need_fields - alloc_fields - own)
        if unknown:
            raise ConfigError(f"unknown scenario choice(s) {unknown}")
        need = {k: v for k, v in changes.items() if k in need_fields}
        alloc = {k: v for k, v in changes.items() if k in alloc_fields and k not in need}
        if no_cap:
            alloc["max_extra_per_ward"] = None
        top = {k: v for k, v in changes.items() if k in own}
        if need:
            top["need"] = dataclasses.replace(top.get("need", self.need), **need)
        if alloc:
            top["allocation"] = dataclasses.replace(top.get("allocation", self.allocation), **alloc)
        return dataclasses.replace(self, **top)

    # -- what the stages need --

    def allocation_settings(self) -> AllocationSettings:
        """The allocation settings, with each ward's current extras where staffing is known."""
        if not self.current:
            return self.allocation
        extra = pd.Series(
            {t.ward_code: max(t.dwo - self.allocation.baseline_dwo, 0) for t in self.current},
            name="current_extra",
        )
        return dataclasses.replace(self.allocation, current_extra=extra)

    def current_table(self) -> pd.DataFrame | None:
        """Each ward's team now (``dwo``, ``pcso``) by ward code; None when not given."""
        if not self.current:
            return None
        rows = [(t.ward_code, t.dwo, t.pcso) for t in self.current]
        return pd.DataFrame(rows, columns=["ward_code", "dwo", "pcso"]).set_index("ward_code")

    # -- one shape in the register and the manifests --

    def to_dict(self) -> dict[str, Any]:
        """The scenario as JSON-ready data (the shape :meth:`from_dict` reads)."""
        alloc = {
            f.name: getattr(self.allocation, f.name)
            for f in dataclasses.fields(self.allocation)
            if f.metadata.get("config", True)
        }
        alloc["excluded"] = sorted(self.allocation.excluded)
        alloc["special"] = [dataclasses.asdict(w) for w in self.allocation.special]
        need = dataclasses.asdict(self.need)
        need["weights"] = dict(self.need.weights)
        need["exclude_boroughs"] = list(self.need.exclude_boroughs)
        need["trend"]["exclude"] = list(self.need.trend.exclude)
        return {
            "dataset": self.dataset,
            "window_end": self.window_end,
            "use_forecast": self.use_forecast,
            "pool": self.pool,
            "need": need,
            "allocation": alloc,
            "current": [dataclasses.asdict(t) for t in self.current],
            "overrides": [dataclasses.asdict(o) for o in self.overrides],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "scenario") -> Scenario:
        """A scenario from :meth:`to_dict`'s shape, checked like the configuration.

        Raises
        ------
        ConfigError
            Every problem, each naming its key.
        """
        problems = Problems()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a scenario table, found {data!r}")
        table = dict(data)
        need = build(NeedSettings, table.pop("need", None), f"{where} [need]", problems)
        raw_alloc = table.pop("allocation", None)
        alloc = build(AllocationSettings, raw_alloc, f"{where} [allocation]", problems)
        current = [
            build(CurrentTeam, t, f"{where} [current]", problems) for t in table.pop("current", [])
        ]
        overrides = [
            build(Override, o, f"{where} [overrides]", problems) for o in table.pop("overrides", [])
        ]
        window_end = table.pop("window_end", None)
        extra = {
            "need": need,
            "allocation": alloc,
            "current": tuple(current),
            "overrides": tuple(overrides),
            "window_end": window_end,
        }
        problems.raise_if_any(where)
        scenario = build(cls, table, where, problems, extra=extra)
        problems.raise_if_any(where)
        assert scenario is not None
        return scenario

    def key(self) -> str:
        """A short stable hash of the scenario (12 hex digits): names exports and caches."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
