"""Factories for tests: the shipped configuration and small settings, wards and registers.

Nothing here runs at import time: the configuration is loaded on first use and kept
(:func:`shipped_config`). Settings factories start from neutral values written here as test
data (a one-stage Webster allocation with the standing 2 + 1 team and no floor), or from the
shipped configuration, and take keyword changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from planner.config import (
    AllocationSettings,
    HarmSettings,
    HotSpotSettings,
    NeedSettings,
    PlannerConfig,
    load_config,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "config"
SHARED_DATA = REPO.parent / "shared" / "data"


@functools.cache
def shipped_config() -> PlannerConfig:
    """The repository's own configuration (loaded once, on first use)."""
    return load_config(CONFIG_DIR)


def allocation_settings(**changes: Any) -> AllocationSettings:
    """Webster top-up, baseline 2 DWO + 1 PCSO, no floor, no cap: changed by *changes*."""
    base = AllocationSettings(
        method="webster",
        policy="top_up",
        need_exponent=1.0,
        baseline_dwo=2,
        baseline_pcso=1,
        borough_floor_share=0.0,
    )
    return dataclasses.replace(base, **changes)


def need_settings(**changes: Any) -> NeedSettings:
    """The shipped need settings (config/need.toml), changed by *changes*."""
    return dataclasses.replace(shipped_config().need, **changes)


def harm_settings() -> HarmSettings:
    """The shipped harm settings (config/harm.toml)."""
    return shipped_config().harm


def hot_spot_settings(**changes: Any) -> HotSpotSettings:
    """The shipped hot-spot settings (config/hotspots.toml), changed by *changes*."""
    return dataclasses.replace(shipped_config().hotspots, **changes)


def register_at(url: str, **kwargs: Any) -> Any:
    """A plan register at *url* with the shipped store settings (busy timeout)."""
    from planner.register.store import PlanRegister

    settings = shipped_config().store
    if "busy_timeout_s" in kwargs:
        settings = dataclasses.replace(settings, busy_timeout_s=kwargs.pop("busy_timeout_s"))
    return PlanRegister(settings, url=url, borough_names=shipped_config().borough_names, **kwargs)


def config_copy(tmp_path: Path, **files: str) -> Path:
    """A copy of the shipped config folder in *tmp_path*, with some files' text replaced.

    ``config_copy(tmp, need=text)`` writes *text* as ``need.toml``.
    """
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    for stem, text in files.items():
        (target / f"{stem}.toml").write_text(text, encoding="utf-8")
    return target


def grid_wards(
    rows: int = 2, cols: int = 2, *, size: float = 1000.0, boroughs: int = 1
) -> gpd.GeoDataFrame:
    """A grid of square wards in British National Grid (in London), codes E05000001...

    Columns ward_name, borough_code, borough_name; wards are split between *boroughs*
    boroughs (E09000001...) by row.
    """
    records = []
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c + 1
            b = min(r * boroughs // rows, boroughs - 1) + 2
            records.append(
                {
                    "ward_code": f"E05{k:06d}",
                    "ward_name": f"Ward {k}",
                    "borough_code": f"E09{b:06d}",
                    "borough_name": f"Borough {b}",
                    "geometry": shapely.box(
                        530_000 + c * size, 180_000 + r * size,
                        530_000 + (c + 1) * size, 180_000 + (r + 1) * size,
                    ),
                }
            )  # fmt: skip
    frame = pd.DataFrame(records).set_index("ward_code")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:27700")


def run_manifest(**changes: Any) -> Any:
    """A RunManifest of a synthetic run (every field filled), changed by *changes*."""
    from planner.results import RunManifest
    from planner.scenario import Scenario

    base = RunManifest(
        planner_version="0.1.0",
        created="2026-01-31T09:00:00+00:00",
        dataset="synthetic",
        window_start="2025-02",
        window_end="2026-01",
        scenario=Scenario.from_config(shipped_config()).to_dict(),
        harm_index="cchi",
        weights_used={"harm": 1.0},
        absent_components=[],
        scales={},
        forecast=None,
        forecast_note="off",
        notes=[],
        wards_scored=0,
        data=[],
        ward_counts_cache="",
    )
    return dataclasses.replace(base, **changes)


# --- a throwaway PostgreSQL server (tests marked postgres) ---------------------------------


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why and what to install."""


class PostgresServer:
    """A throwaway PostgreSQL cluster: ``initdb`` into a temporary folder, ``pg_ctl start``
    on a free loopback port, one fresh database per :meth:`database`, :meth:`stop` at the end.

    The server binaries are found in ``$PLANNER_PG_BIN``, on the ``PATH`` or in Debian's
    ``/usr/lib/postgresql/<version>/bin`` (the ``postgresql`` package). PostgreSQL refuses to
    run as root, so as root the cluster belongs to an unprivileged account (``postgres``,
    made by Debian's package, or ``$PLANNER_PG_USER``) and its commands run as that account.
    The register connects as the role ``planner`` with a password, over TCP on 127.0.0.1;
    the superuser has its own password. fsync is off: the cluster is thrown away.
    """

    ROLE = "planner"

    def __init__(self) -> None:
        import secrets
        import tempfile

        self.bin = _postgres_bin()
        self.account = _postgres_account()
        self.password = secrets.token_urlsafe(16)  # the register role's
        self._superpass = secrets.token_urlsafe(16)
        # as root, the server's account must reach its folder: /tmp, not root's own TMPDIR
        where = "/tmp" if self.account is not None and Path("/tmp").is_dir() else None
        self.folder = Path(tempfile.mkdtemp(prefix="planner-pg-", dir=where))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = 0
        self._databases = 0
        self._started = False

    # -- lifecycle --

    def start(self, *, attempts: int = 3) -> PostgresServer:
        """initdb and start; raises :class:`PostgresUnavailable` with the server's log."""
        pwfile = self.folder / "superuser.pw"
        pwfile.write_text(self._superpass + "\n")
        self._own(self.folder, pwfile)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip
        pwfile.unlink()
        for attempt in range(attempts):
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.folder} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                          "-t", "60", "-o", options, "start")  # fmt: skip
                break
            except PostgresUnavailable:
                if attempt == attempts - 1:  # the port may have been taken meanwhile
                    raise
        self._started = True
        self._admin(
            f"CREATE ROLE {self.ROLE} LOGIN PASSWORD '{self.password}'",
        )
        return self

    def stop(self) -> None:
        """Stop the server (immediate shutdown: the cluster is thrown away) and remove its folder."""
        if self._started:
            with contextlib.suppress(PostgresUnavailable):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self._started = False
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- databases --

    def url(self, database: str, *, password: str | None = None) -> str:
        """The SQLAlchemy URL of *database* for the register role (psycopg 3 driver)."""
        secret = self.password if password is None else password
        return f"postgresql+psycopg://{self.ROLE}:{secret}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database owned by the register role; returns its URL."""
        self._databases += 1
        name = f"register_{self._databases}"
        create = f"CREATE DATABASE {name} OWNER {self.ROLE} TEMPLATE template0"
        try:
            self._admin(create + " STRATEGY FILE_COPY")  # PostgreSQL 15+: the faster copy
        except Exception:
            self._admin(create)
        return self.url(name)

    def version(self) -> str:
        """The server's version, e.g. ``"15.18 (Debian 15.18-0+deb12u1)"``."""
        return str(self._admin("SHOW server_version")[0][0])

    # -- helpers --

    def _admin(self, *statements: str) -> list[tuple[Any, ...]]:
        """Run *statements* as the superuser; the rows of the last one (if any)."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        rows: list[tuple[Any, ...]] = []
        with psycopg.connect(dsn, password=self._superpass, autocommit=True) as conn:
            for statement in statements:
                cur = conn.execute(statement)
                rows = list(cur.fetchall()) if cur.description else []
        return rows

    def _own(self, *paths: Path) -> None:
        if self.account is not None:
            for path in paths:
                os.chown(path, self.account[0], self.account[1])

    def _run(self, program: str, *args: str) -> None:
        extra: dict[str, Any] = {}
        if self.account is not None:
            extra = {"user": self.account[0], "group": self.account[1], "extra_groups": []}
        done = subprocess.run(
            [str(self.bin / program), *args], capture_output=True, text=True, timeout=120,
            cwd=self.folder, **extra,
        )  # fmt: skip
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            raise PostgresUnavailable(
                f"{program} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
                + (f"\nserver log:\n{log}" if log else "")
            )


def _postgres_bin() -> Path:
    """The folder of initdb and pg_ctl, or :class:`PostgresUnavailable` saying what to install."""
    given = os.environ.get("PLANNER_PG_BIN", "").strip()
    candidates = [Path(given)] if given else []
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found in $PLANNER_PG_BIN, on the PATH "
        "or in /usr/lib/postgresql/*/bin; install Debian's postgresql package "
        "(apt-get install postgresql) or set PLANNER_PG_BIN"
    )


def _postgres_account() -> tuple[int, int] | None:
    """(uid, gid) of the unprivileged account that runs the server as root, else None."""
    if os.geteuid() != 0:
        return None
    import pwd

    name = os.environ.get("PLANNER_PG_USER", "").strip() or "postgres"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses to run as root, but there is no "
            f"account {name!r} to run it as; install Debian's postgresql package (which makes "
            "'postgres'), create one (useradd --system postgres) or set PLANNER_PG_USER"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- small inputs for the ingest tests (issue 11: real data as it comes) ----------------------

TRAFALGAR_LONLAT = (-0.128, 51.508)


def api_crime(
    cid: int,
    month: str = "2017-01",
    slug: str = "burglary",
    lonlat: tuple[float, float] | None = TRAFALGAR_LONLAT,
) -> dict[str, Any]:
    """One record as the police.uk API ``crimes-street`` answers it."""
    loc = None if lonlat is None else {"latitude": str(lonlat[1]), "longitude": str(lonlat[0])}
    return {"category": slug, "location": loc, "month": month, "id": cid, "context": ""}


def api_archive(path: Path, members: dict[str, Any]) -> Path:
    """A ``.tar.gz`` of API answers: each member a list of records, or raw bytes as given."""
    import io
    import json
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            data = content if isinstance(content, bytes) else json.dumps(content).encode()
            info = tarfile.TarInfo(f"{path.name.split('.')[0]}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def met_ward_csv(rows: list[tuple[str, str, str, list[int]]], months: list[str]) -> str:
    """A Met ward-level file: rows of (major, minor, ward code, counts per month)."""
    header = ["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName", *months]
    lines = [",".join(header)]
    for major, minor, code, values in rows:
        cells = [f'"{major}"', f'"{minor}"', "Ward", code, "Westminster", *map(str, values)]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def grid_dataset(
    root: Path,
    sources: list[Any],
    *,
    rows: int = 2,
    cols: int = 2,
    boroughs: int = 1,
    name: str = "grid",
) -> PlannerConfig:
    """The shipped configuration with one dataset: :func:`grid_wards` written to ``root/data``
    and *sources* (``SourceSpec``\\ s, paths under ``root/data``)."""
    from planner.config import DatasetSpec, WardsSpec

    data = root / "data"
    (data / "wards").mkdir(parents=True, exist_ok=True)
    grid_wards(rows, cols, boroughs=boroughs).to_file(data / "wards" / "grid.geojson")
    spec = DatasetSpec(name, "test grid", WardsSpec(path="wards/grid.geojson"), tuple(sources))
    config = shipped_config().with_data_dir(data).with_cache_dir(root / "cache")
    return dataclasses.replace(config, datasets={name: spec})


@functools.cache  # tests place thousands of records at a handful of centres
def ward_centre_lonlat(code: str, *, rows: int = 2, cols: int = 2) -> tuple[float, float]:
    """WGS84 lon/lat of the centre of :func:`grid_wards` ward *code*."""
    from pyproj import Transformer

    centre = grid_wards(rows, cols).geometry.loc[code].centroid
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(centre.x, centre.y)
    return round(lon, 6), round(lat, 6)
