"""Shared fixtures; plain factories are in tests/factories.py."""

from __future__ import annotations

import os
import time
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


# --- PostgreSQL (tests marked postgres) ------------------------------------------------------


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config):
    """A throwaway PostgreSQL server for the session (tests/factories.py PostgresServer).

    Skipped with the reason where no server can be started; under CI (``CI`` set), which
    installs and must run it (.ci/run), that is a failure instead. The test output says
    which server was started, and how many databases the tests used.
    """
    from tests.factories import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except (PostgresUnavailable, OSError, ImportError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL could not be started under CI: {exc}")
        pytest.skip(f"PostgreSQL cannot be started here: {exc}")
    say = _say(pytestconfig)
    say(
        f"\n[postgres] started PostgreSQL {server.version()} at 127.0.0.1:{server.port} "
        f"({server.data}, as {'the postgres account' if server.account else 'this user'})"
    )
    yield server
    used, started = server._databases, time.perf_counter()
    server.stop()
    say(
        f"\n[postgres] {used} databases used; server stopped and {server.folder} removed "
        f"({time.perf_counter() - started:.1f} s)"
    )


@pytest.fixture
def postgres_url(postgres) -> str:
    """The URL of a new, empty PostgreSQL database (the register role owns it)."""
    return postgres.database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> str:
    """The register's database engine: each test using it runs on SQLite and PostgreSQL."""
    return request.param


@pytest.fixture
def new_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path):
    """A callable giving the URL of a new, empty register database of :func:`engine`."""
    made = iter(range(1, 1000))

    def make() -> str:
        if engine == "sqlite":
            return f"sqlite:///{tmp_path / f'register-{next(made)}.sqlite'}"
        return request.getfixturevalue("postgres").database()

    return make


@pytest.fixture
def engine_url(new_url) -> str:
    """The URL of a new, empty register database, on SQLite and on PostgreSQL."""
    return new_url()


def _say(pytestconfig: pytest.Config):
    """A function writing one line to the test run's output, past output capturing."""
    report = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def say(text: str) -> None:
        if report is None or capture is None:
            print(text)
            return
        with capture.global_and_fixture_disabled():
            report.write_line(text)

    return say
