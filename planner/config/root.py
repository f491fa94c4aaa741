"""The one configuration object: :class:`PlannerConfig`, everything ``config/`` says, typed.

It is immutable and passed explicitly to every stage; a scenario or a front end that needs
other settings makes a new object with :func:`dataclasses.replace` (every Streamlit session
shares the process, so nothing may mutate a shared one).
"""

from __future__ import annotations

import dataclasses
import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from planner.config.data import (
    CategoryMap,
    CoordinateChecks,
    DatasetSpec,
    JoinSettings,
    Paths,
    PopulationSettings,
    Sources,
    UploadLimits,
    WardDetection,
)
from planner.config.model import ForecastSettings, HarmSettings, HotSpotSettings, NeedSettings
from planner.config.plan import AllocationSettings, PrioritySettings
from planner.config.register import AccessSettings, StoreSettings
from planner.config.yardsticks import YardstickSettings
from planner.errors import ConfigError

__all__ = ["PlannerConfig"]


@dataclass(frozen=True)
class PlannerConfig:
    """Everything the planner reads from ``config/``, one field per file or table.

    ``pool`` and ``use_forecast`` are the scenario defaults of ``allocation.toml`` and
    ``forecast.toml``; :class:`planner.scenario.Scenario` starts from them.
    """

    config_dir: Path
    paths: Paths
    join: JoinSettings
    coordinates: CoordinateChecks
    datasets: Mapping[str, DatasetSpec]
    categories: CategoryMap
    ward_detection: WardDetection
    borough_names: Mapping[str, str]  # E09 code -> name
    borough_aliases: Mapping[str, str]  # other spelling -> ONS name
    need: NeedSettings
    harm: HarmSettings
    hotspots: HotSpotSettings
    forecast: ForecastSettings
    use_forecast: bool
    allocation: AllocationSettings
    pool: int
    priorities: PrioritySettings
    yardsticks: YardstickSettings
    population: PopulationSettings
    sources: Sources
    store: StoreSettings
    access: AccessSettings
    limits: UploadLimits = field(default_factory=UploadLimits)
    """``planner.toml [limits]``: what one upload may cost (the shipped limits if absent)."""

    @property
    def data_dir(self) -> Path:
        return Path(self.paths.data_dir)

    @property
    def cache_dir(self) -> Path:
        return Path(self.paths.cache_dir)

    @property
    def out_dir(self) -> Path:
        return Path(self.paths.out_dir)

    def file(self, stem: str) -> Path:
        """The path of configuration file *stem* (``"need"`` -> ``config/need.toml``)."""
        return self.config_dir / f"{stem}.toml"

    def dataset(self, name: str | None = None) -> DatasetSpec:
        """The dataset called *name*, or the default one.

        Raises
        ------
        ConfigError
            If no dataset has that name.
        """
        if name is None:
            defaults = [d for d in self.datasets.values() if d.default]
            return defaults[0] if defaults else next(iter(self.datasets.values()))
        if name not in self.datasets:
            raise ConfigError(
                f"no dataset called {name!r} in {self.file('planner')}; "
                f"known datasets: {', '.join(sorted(self.datasets))}"
            )
        return self.datasets[name]

    def resolve(self, path: str | Path) -> Path:
        """A path from the config, resolved against the data folder unless absolute.

        A glob pattern (``*``, ``?``, ``[...]``) resolves to its last match in name order,
        so ``MPS Ward Level Crime (most recent 24 months)*.csv`` finds the newest dated
        release as well as the undated file ``planner fetch`` writes.
        """
        p = Path(path).expanduser()
        full = p if p.is_absolute() else self.data_dir / p
        if glob.has_magic(str(p)):
            matches = sorted(Path(m) for m in glob.glob(str(full)))
            return matches[-1] if matches else full
        return full

    def borough_code(self, name: str) -> str | None:
        """The E09 code of a borough named *name* in any known spelling (case, spaces and
        ``&``/``and`` aside; ``boroughs.toml [aliases]``), or None."""

        def key(text: str) -> str:
            return " ".join(text.replace("&", " and ").split()).casefold()

        by_name = {key(n): c for c, n in self.borough_names.items()}
        for alias, official in self.borough_aliases.items():
            if key(official) in by_name:
                by_name.setdefault(key(alias), by_name[key(official)])
        text = str(name).strip()
        return text if text in self.borough_names else by_name.get(key(text))

    def with_data_dir(self, data_dir: str | Path) -> PlannerConfig:
        """A copy that reads data from *data_dir* (e.g. ``../shared/data``)."""
        return dataclasses.replace(
            self, paths=dataclasses.replace(self.paths, data_dir=str(data_dir))
        )

    def with_cache_dir(self, cache_dir: str | Path) -> PlannerConfig:
        """A copy that keeps its ingest cache in *cache_dir*."""
        return dataclasses.replace(
            self, paths=dataclasses.replace(self.paths, cache_dir=str(cache_dir))
        )
