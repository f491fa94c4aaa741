"""Settings of the outside yardsticks: deprivation and public confidence.

From ``config/yardsticks.toml`` (parsed by :mod:`planner.config.load`). The allocation is
judged against figures it was not made from: the English Indices of Deprivation 2019 by small
area, and the Public Attitude Survey's confidence measures by borough
(:mod:`planner.ingest.sources.deprivation`, :mod:`planner.ingest.sources.confidence`,
:mod:`planner.plan.yardsticks`).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.config.build import Checked

__all__ = ["ConfidenceSettings", "DeprivationSettings", "YardstickSettings"]


@dataclass(frozen=True)
class DeprivationSettings(Checked):
    """``yardsticks.toml [deprivation]``: the IMD 2019 file and its columns."""

    imd: str
    sheet: str
    lsoa_column: str
    decile_column: str
    population_lsoa11: str  # the LSOA 2011 code column of population.toml [lookup] population
    population_residents11: str  # its 2011 residents column (to choose a merged area's decile)

    def _problems(self) -> list[str]:
        return [f"{k} must not be empty" for k, v in vars(self).items() if not str(v).strip()]


@dataclass(frozen=True)
class ConfidenceSettings(Checked):
    """``yardsticks.toml [confidence]``: the PAS file, the measures shown and the gap rule."""

    pas: str
    measures: tuple[str, ...]
    low_confidence_measure: str
    equality_gap: float
    trend_quarters: int

    def _problems(self) -> list[str]:
        found = []
        if not self.measures:
            found.append("measures: list at least one PAS measure")
        if self.low_confidence_measure not in self.measures:
            found.append(
                f"low_confidence_measure {self.low_confidence_measure!r} should be one of "
                f"measures ({', '.join(self.measures)})"
            )
        if not 0 < self.equality_gap < 1:
            found.append(f"equality_gap must be a proportion in (0, 1), found {self.equality_gap}")
        if self.trend_quarters < 1:
            found.append(f"trend_quarters must be >= 1, found {self.trend_quarters}")
        return found


@dataclass(frozen=True)
class YardstickSettings(Checked):
    """``config/yardsticks.toml``: deprivation and public confidence."""

    deprivation: DeprivationSettings
    confidence: ConfidenceSettings
