"""Configuration: every file in ``config/`` parsed once, at load, into typed frozen settings.

:func:`load_config` reads the folder and returns one immutable :class:`PlannerConfig`; every
stage takes the config (or the part of it it needs) it is given and never reads TOML itself.
Problems are collected and raised together, each naming the file, table and key, what was
expected and the fix (:mod:`planner.config.build`).

- :mod:`~planner.config.data`: folders, datasets, categories, wards, population, downloads;
- :mod:`~planner.config.model`: the need index, harm weights, hot spots, the forecast;
- :mod:`~planner.config.plan`: the allocation and the borough priorities;
- :mod:`~planner.config.yardsticks`: deprivation and public confidence, the outside yardsticks;
- :mod:`~planner.config.register`: the register's database, roles and sign-in;
- :mod:`~planner.config.load` and :mod:`~planner.config.parse`: reading the files.
"""

from planner.config.build import Checked, Problems, SettingsError, build
from planner.config.data import (
    SOURCE_KINDS,
    CategoryMap,
    CentroidSource,
    CoordinateChecks,
    DatasetSpec,
    ExtractRule,
    FetchItem,
    JoinSettings,
    LookupSource,
    MirrorOnly,
    Paths,
    PointColumns,
    PopulationSettings,
    SourceKind,
    Sources,
    SourceSpec,
    UploadLimits,
    WardColumns,
    WardDetection,
    WardsSpec,
)
from planner.config.load import FILES, default_config_dir, load_config
from planner.config.model import (
    COMPONENTS,
    PROACTIVE_MODES,
    BacktestSettings,
    ForecastModelSettings,
    ForecastSettings,
    HarmIndex,
    HarmSettings,
    HotSpotSettings,
    NeedSettings,
    ProactiveMode,
    SensitivitySettings,
    TrendSettings,
    VerdictSettings,
)
from planner.config.parse import normalise_name
from planner.config.plan import (
    DIVISOR_METHODS,
    METHODS,
    POLICIES,
    AllocationSettings,
    BasketItem,
    Candidate,
    FootfallSettings,
    Method,
    Policy,
    PriorityScore,
    PrioritySettings,
    PriorityTrendTest,
    SpecialWard,
    normalise_text,
)
from planner.config.register import AccessSettings, StoreSettings, UserEntry
from planner.config.root import PlannerConfig
from planner.config.yardsticks import ConfidenceSettings, DeprivationSettings, YardstickSettings

__all__ = [
    "COMPONENTS",
    "DIVISOR_METHODS",
    "FILES",
    "METHODS",
    "POLICIES",
    "PROACTIVE_MODES",
    "SOURCE_KINDS",
    "AccessSettings",
    "AllocationSettings",
    "BacktestSettings",
    "BasketItem",
    "Candidate",
    "CategoryMap",
    "CentroidSource",
    "Checked",
    "ConfidenceSettings",
    "CoordinateChecks",
    "DatasetSpec",
    "DeprivationSettings",
    "ExtractRule",
    "FetchItem",
    "FootfallSettings",
    "ForecastModelSettings",
    "ForecastSettings",
    "HarmIndex",
    "HarmSettings",
    "HotSpotSettings",
    "JoinSettings",
    "LookupSource",
    "Method",
    "MirrorOnly",
    "NeedSettings",
    "Paths",
    "PlannerConfig",
    "PointColumns",
    "Policy",
    "PopulationSettings",
    "PriorityScore",
    "PrioritySettings",
    "PriorityTrendTest",
    "ProactiveMode",
    "Problems",
    "SensitivitySettings",
    "SettingsError",
    "SourceKind",
    "SourceSpec",
    "Sources",
    "SpecialWard",
    "StoreSettings",
    "TrendSettings",
    "UploadLimits",
    "UserEntry",
    "VerdictSettings",
    "WardColumns",
    "WardDetection",
    "WardsSpec",
    "YardstickSettings",
    "build",
    "default_config_dir",
    "load_config",
    "normalise_name",
    "normalise_text",
]
