"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data in ../shared/data; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (see shared/data/SOURCES.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_config(shared_data, tmp_path_factory):
    """The shipped configuration reading ../shared/data, with one cache for the whole session
    (ingesting the Met's 16 years of ward files takes ~10 s; later tests load the cache)."""
    import dataclasses

    from planner.config import load_config

    config = load_config().with_data_dir(shared_data)
    cache = tmp_path_factory.mktemp("shared-cache")
    return dataclasses.replace(
        config, paths=dataclasses.replace(config.paths, cache_dir=str(cache))
    )
