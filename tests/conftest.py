"""Shared fixtures; plain factories are in tests/factories.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.config import PlannerConfig
from tests.factories import SHARED_DATA, shipped_config


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data in ../shared/data; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (see shared/data/SOURCES.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def config() -> PlannerConfig:
    """The shipped configuration (reading data from the repository's data folder)."""
    return shipped_config()


@pytest.fixture(scope="session")
def real_config(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> PlannerConfig:
    """The shipped configuration reading ../shared/data, with one cache for the whole session
    (ingesting the Met's 16 years of ward files takes ~10 s; later tests load the cache)."""
    cache = tmp_path_factory.mktemp("shared-cache")
    return shipped_config().with_data_dir(shared_data).with_cache_dir(cache)


@pytest.fixture(scope="session")
def met_inputs(real_config: PlannerConfig):
    """The default dataset (met-2022) prepared without the forecast, once per session."""
    from planner import api
    from planner.scenario import Scenario

    scenario = Scenario.from_config(real_config).changed(use_forecast=False)
    return api.prepare(real_config, scenario)
