"""Settings of the need model: the index, harm weights, hot spots and the forecast.

From ``config/need.toml``, ``harm.toml``, ``hotspots.toml`` and ``forecast.toml`` (parsed by
:mod:`planner.config.load`). Every object checks itself when made, so a scenario built from
sliders or command-line options is checked by the same rules as the files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import pandas as pd

from planner import schema as s
from planner.config.build import Checked
from planner.errors import ConfigError

__all__ = [
    "COMPONENTS",
    "PROACTIVE_MODES",
    "BacktestSettings",
    "ForecastModelSettings",
    "ForecastSettings",
    "HarmIndex",
    "HarmSettings",
    "HotSpotSettings",
    "NeedSettings",
    "ProactiveMode",
    "SensitivitySettings",
    "TrendSettings",
    "VerdictSettings",
]

COMPONENTS: tuple[str, ...] = ("harm", "asb", "forecast", "trend", "rate", "confidence")
"""The need index's components, in the order they are shown."""

ProactiveMode = Literal["include", "downweight", "exclude"]
PROACTIVE_MODES: tuple[str, ...] = get_args(ProactiveMode)


# --- the need index --------------------------------------------------------------------------


@dataclass(frozen=True)
class SensitivitySettings(Checked):
    """``need.toml [sensitivity]``: how the ranking's stability is measured."""

    draws: int
    perturbation: float
    top_n: int
    unstable_margin: int
    seed: int

    def _problems(self) -> list[str]:
        found = []
        if self.draws < 1 or self.top_n < 1 or self.unstable_margin < 0:
            found.append("draws and top_n must be >= 1 and unstable_margin >= 0")
        if not 0 <= self.perturbation < 1:
            found.append(f"perturbation must be in [0, 1), found {self.perturbation}")
        return found


@dataclass(frozen=True)
class TrendSettings(Checked):
    """``need.toml [trend]``: when a ward's rise in harm counts as clear, and on what.

    A ward's rise is tested against the variance of its harm (a weighted Poisson sum:
    ``Var = sum of w² n`` over both windows), one-sided, and the p-values of all scored wards
    are corrected for testing them at once (Benjamini-Hochberg); only rises clear at
    ``fdr`` count. ``exclude`` lists categories or ``"Category | subcategory"`` left out of
    the harm the trend is measured on.
    """

    fdr: float
    exclude: tuple[str, ...]

    def _problems(self) -> list[str]:
        found = []
        if not 0 < self.fdr < 1:
            found.append(f"fdr must be a false discovery rate in (0, 1), found {self.fdr}")
        known = {c.casefold() for c in s.CRIME_CATEGORIES}
        for item in self.exclude:
            if item.partition("|")[0].strip().casefold() not in known:
                found.append(
                    f"exclude: {item!r} should read 'Crime category' or "
                    "'Crime category | subcategory'"
                )
        return found


@dataclass(frozen=True)
class NeedSettings(Checked):
    """Weights and options of the need index (``config/need.toml``)."""

    harm_index: str
    window_months: int
    scale_quantile: float
    component_cap: float
    exclude_boroughs: tuple[str, ...]
    min_borough_coverage: float
    weights: Mapping[str, float]
    trend: TrendSettings
    sensitivity: SensitivitySettings

    def _problems(self) -> list[str]:
        found = []
        unknown = sorted(set(self.weights) - set(COMPONENTS))
        if unknown:
            found.append(
                f"weights: unknown component(s) {', '.join(unknown)}; use {', '.join(COMPONENTS)}"
            )
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            found.append(
                "weights must be >= 0 and not all zero, found "
                + ", ".join(f"{k} {v:g}" for k, v in self.weights.items())
            )
        if not 0 < self.scale_quantile <= 1:
            found.append(f"scale_quantile must be in (0, 1], found {self.scale_quantile}")
        if self.window_months < 1:
            found.append(f"window_months must be >= 1, found {self.window_months}")
        if self.component_cap < 1:
            found.append(
                f"component_cap must be >= 1 (in units of the scale-quantile ward), found "
                f"{self.component_cap}"
            )
        if not 0 <= self.min_borough_coverage <= 1:
            found.append(
                f"min_borough_coverage must be in [0, 1], found {self.min_borough_coverage}"
            )
        return found

    def with_weights(self, **weights: float) -> NeedSettings:
        """A copy with some component weights changed (the app's sliders)."""
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ConfigError(f"unknown need component(s) {sorted(unknown)}; use {COMPONENTS}")
        return dataclasses.replace(self, weights={**self.weights, **weights})


# --- harm ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HarmIndex:
    """One set of harm weights (e.g. the Cambridge Crime Harm Index), with its citation."""

    key: str
    name: str
    unit: str
    source: str
    categories: Mapping[str, float]
    subcategories: Mapping[tuple[str, str], float]  # (category, subcategory casefolded) -> weight


@dataclass(frozen=True)
class HarmSettings(Checked):
    """``config/harm.toml``: the harm indices, the one in use, the proactive rule."""

    indices: Mapping[str, HarmIndex]
    index: str
    proactive_categories: tuple[str, ...]
    proactive_mode: ProactiveMode
    proactive_factor: float

    def _problems(self) -> list[str]:
        found = []
        if self.index not in self.indices:
            found.append(f"index {self.index!r} is not one of {', '.join(self.indices)}")
        if self.proactive_mode not in PROACTIVE_MODES:
            found.append(
                f"proactive mode {self.proactive_mode!r} is not one of {', '.join(PROACTIVE_MODES)}"
            )
        f = self.proactive_factor
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0.0 <= f <= 1.0:
            found.append(f"proactive factor must be a number in [0, 1], found {f!r}")
        unknown = sorted(set(self.proactive_categories) - set(s.CRIME_CATEGORIES))
        if unknown:
            found.append(f"proactive categories {unknown} are not crime categories")
        return found

    @property
    def current(self) -> HarmIndex:
        return self.indices[self.index]

    def with_index(self, key: str) -> HarmSettings:
        """A copy that uses index *key* (ConfigError if unknown)."""
        return dataclasses.replace(self, index=key)

    def with_proactive(self, mode: ProactiveMode, factor: float | None = None) -> HarmSettings:
        """A copy with another proactive treatment (and factor, if given)."""
        factor = self.proactive_factor if factor is None else factor
        return dataclasses.replace(self, proactive_mode=mode, proactive_factor=factor)

    def multiplier(self, category: str) -> float:
        """What the proactive rule multiplies *category*'s weights by."""
        if category not in self.proactive_categories or self.proactive_mode == "include":
            return 1.0
        return self.proactive_factor if self.proactive_mode == "downweight" else 0.0

    def category_weights(self, index: str | None = None) -> pd.Series:
        """Effective category weights (proactive rule applied), for explanations."""
        idx = self.indices[index or self.index]
        return pd.Series(
            {c: idx.categories[c] * self.multiplier(c) for c in s.CRIME_CATEGORIES},
            name=f"{idx.key} ({idx.unit})",
        )


# --- hot spots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HotSpotSettings(Checked):
    """``config/hotspots.toml``: options of :func:`planner.model.hotspots.hot_spots`."""

    permutations: int
    alpha: float
    fdr: bool
    seed: int
    contiguity: Literal["queen", "rook"]
    snap_m: float
    island_k: int

    def _problems(self) -> list[str]:
        found = []
        for name in ("permutations", "island_k", "seed"):
            value = getattr(self, name)
            low = 0 if name == "seed" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                found.append(f"{name} must be a whole number >= {low}, found {value!r}")
        if not 0 < self.alpha < 1:
            found.append(f"alpha must be in (0, 1), found {self.alpha!r}")
        if self.contiguity not in ("queen", "rook"):
            found.append(f"contiguity must be 'queen' or 'rook', found {self.contiguity!r}")
        if self.snap_m < 0:
            found.append(f"snap_m must be a distance in metres >= 0, found {self.snap_m!r}")
        return found

    def options(self) -> dict[str, object]:
        """The settings as keyword arguments of :func:`planner.model.hotspots.hot_spots`."""
        return dataclasses.asdict(self)


# --- the forecast ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastModelSettings(Checked):
    """``forecast.toml [model]``: the parameters of the harm forecaster."""

    name: Literal["hgb_poisson", "poisson_glm"]
    lags: int
    horizon: int
    long_run: int
    weighting: Literal["equal", "harm"]
    anchor: Literal["london", "none"]
    max_iter: int
    learning_rate: float
    max_leaf_nodes: int
    min_samples_leaf: int
    l2_regularization: float
    max_rows: int
    random_state: int

    def _problems(self) -> list[str]:
        found = []
        if not 1 <= self.lags <= 24:
            found.append(f"lags must be in 1..24, found {self.lags}")
        if not 1 <= self.horizon <= 24:
            found.append(f"horizon must be in 1..24, found {self.horizon}")
        if not 12 <= self.long_run <= 120:
            found.append(f"long_run must be in 12..120, found {self.long_run}")
        if self.max_rows < 1000:
            found.append(f"max_rows must be at least 1000, found {self.max_rows}")
        return found

    def estimator_params(self) -> dict[str, object]:
        """Keyword arguments of :class:`planner.model.forecast.HarmForecaster`."""
        params = dataclasses.asdict(self)
        params["model"] = params.pop("name")
        return params


@dataclass(frozen=True)
class BacktestSettings(Checked):
    """``forecast.toml [backtest]``: the rolling origins the forecast is judged on, and the
    history of the London-anchored mean baseline (``mean_years``)."""

    n_origins: int
    step: int
    min_history: int
    mean_years: int

    def _problems(self) -> list[str]:
        if self.n_origins < 1 or self.step < 1 or self.min_history < 12:
            return ["n_origins and step must be >= 1 and min_history >= 12"]
        if not 1 <= self.mean_years <= 10:
            return [f"mean_years must be in 1..10, found {self.mean_years}"]
        if self.min_history < 12 * self.mean_years:
            return [
                f"min_history ({self.min_history} months) must be at least 12 x mean_years "
                f"({12 * self.mean_years}), so the earliest origin has the mean's history"
            ]
        return []


@dataclass(frozen=True)
class VerdictSettings(Checked):
    """``forecast.toml [verdict]``: how much better than every baseline the model must be.

    The model beats a baseline when its WAPE is lower by at least ``margin_pp`` percentage
    points at more than half the backtest origins; the need index uses the forecast only
    when it beats all of them.
    """

    margin_pp: float

    def _problems(self) -> list[str]:
        if not 0 <= self.margin_pp < 100:
            return [f"margin_pp must be percentage points in [0, 100), found {self.margin_pp}"]
        return []


@dataclass(frozen=True)
class ForecastSettings:
    """``config/forecast.toml``."""

    model: ForecastModelSettings
    backtest: BacktestSettings
    verdict: VerdictSettings
