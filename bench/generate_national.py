"""Synthetic national police.uk street CSVs and ward polygons, for the national-scale benchmark.

Writes, under ``--out`` (default ``/tmp/national/<rows>``; never inside the repository):

- ``data/incidents/police_uk_street/YYYY-MM/YYYY-MM-<force>-street.csv``: the data.police.uk
  archive layout, one folder per month and one file per force, with the 12 published columns
  in their published order (``Crime ID, Month, Reported by, Falls within, Longitude, Latitude,
  Location, LSOA code, LSOA name, Crime type, Last outcome category, Context``), LF line ends,
  no quoting (as the published files). ASB rows have no Crime ID and no outcome; about 3 % of
  rows have no coordinates ("No Location", no LSOA); about 0.1 % of crimes are published twice
  in the same file (same Crime ID, as seen in the Met's files). Locations are anonymised map
  points: each force has a fixed pool of points (one per ``--per-point`` records, default 30),
  reused month after month with uneven popularity, as on police.uk;
- ``data/wards/national_wards.gpkg``: about ``--wards`` (default 7,000) ward polygons covering
  a rectangle of England and Wales in EPSG:27700 (E 135-620 km, N 15-655 km: every point
  inside the planner's Great Britain bounds), a grid of cells nested in local authorities
  (blocks of 5 x 4 wards) nested in the 43 territorial forces (contiguous runs of local
  authorities). Columns ``WD24CD, WD24NM, LAD24CD, LAD24NM, PFA24NM`` (ONS names, so that the
  planner's column detection finds them; borough = local authority). Codes are synthetic
  (E05900000..., E06900000...), never real ONS codes;
- ``config/``: a copy of the repository's configuration whose ``planner.toml`` declares one
  dataset, ``national`` (the ward file above and the street CSV folder as a police_uk_csv
  source), with ``data_dir`` and ``cache_dir`` under ``--out``. Ingest it with
  ``planner --config OUT/config ingest --no-cache``;
- ``truth.json``: what was written (rows, rows without coordinates, ASB rows, duplicates,
  distinct points, files) for the benchmark and the smoke test.

The figures are random but fixed by ``--seed``. Sizes: ``--rows 1M``, ``5M``, ``20M`` (or a
number). Usage::

    python bench/generate_national.py --rows 20M [--forces 43] [--months 36] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from pyproj import Transformer

REPO = Path(__file__).resolve().parents[1]
COLUMNS = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
    "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
)  # fmt: skip
FORCES = (
    ("avon-and-somerset", "Avon and Somerset Constabulary"),
    ("bedfordshire", "Bedfordshire Police"),
    ("cambridgeshire", "Cambridgeshire Constabulary"),
    ("cheshire", "Cheshire Constabulary"),
    ("city-of-london", "City of London Police"),
    ("cleveland", "Cleveland Police"),
    ("cumbria", "Cumbria Constabulary"),
    ("derbyshire", "Derbyshire Constabulary"),
    ("devon-and-cornwall", "Devon & Cornwall Police"),
    ("dorset", "Dorset Police"),
    ("durham", "Durham Constabulary"),
    ("dyfed-powys", "Dyfed-Powys Police"),
    ("essex", "Essex Police"),
    ("gloucestershire", "Gloucestershire Constabulary"),
    ("greater-manchester", "Greater Manchester Police"),
    ("gwent", "Gwent Police"),
    ("hampshire", "Hampshire Constabulary"),
    ("hertfordshire", "Hertfordshire Constabulary"),
    ("humberside", "Humberside Police"),
    ("kent", "Kent Police"),
    ("lancashire", "Lancashire Constabulary"),
    ("leicestershire", "Leicestershire Police"),
    ("lincolnshire", "Lincolnshire Police"),
    ("merseyside", "Merseyside Police"),
    ("metropolitan", "Metropolitan Police Service"),
    ("norfolk", "Norfolk Constabulary"),
    ("north-wales", "North Wales Police"),
    ("north-yorkshire", "North Yorkshire Police"),
    ("northamptonshire", "Northamptonshire Police"),
    ("northumbria", "Northumbria Police"),
    ("nottinghamshire", "Nottinghamshire Police"),
    ("south-wales", "South Wales Police"),
    ("south-yorkshire", "South Yorkshire Police"),
    ("staffordshire", "Staffordshire Police"),
    ("suffolk", "Suffolk Constabulary"),
    ("surrey", "Surrey Police"),
    ("sussex", "Sussex Police"),
    ("thames-valley", "Thames Valley Police"),
    ("warwickshire", "Warwickshire Police"),
    ("west-mercia", "West Mercia Police"),
    ("west-midlands", "West Midlands Police"),
    ("west-yorkshire", "West Yorkshire Police"),
    ("wiltshire", "Wiltshire Police"),
)
ASB = "Anti-social behaviour"
CATEGORY_SHARES = {  # roughly the national mix of police.uk street records
    ASB: 0.22,
    "Violence and sexual offences": 0.30,
    "Public order": 0.08,
    "Criminal damage and arson": 0.07,
    "Shoplifting": 0.06,
    "Other theft": 0.06,
    "Vehicle crime": 0.05,
    "Burglary": 0.035,
    "Drugs": 0.025,
    "Other crime": 0.017,
    "Theft from the person": 0.015,
    "Robbery": 0.01,
    "Bicycle theft": 0.01,
    "Possession of weapons": 0.008,
}
OUTCOMES = (
    "Investigation complete; no suspect identified",
    "Unable to prosecute suspect",
    "Under investigation",
    "Status update unavailable",
    "Court result unavailable",
    "Local resolution",
    "Offender given a caution",
    "Awaiting court outcome",
    "Action to be taken by another organisation",
    "Further investigation is not in the public interest",
)
EXTENT = (135_000.0, 15_000.0, 620_000.0, 655_000.0)  # EPSG:27700; inside the GB lon/lat bounds
LA_BLOCK = (5, 4)  # wards per local authority: 5 columns x 4 rows of cells
MARGIN_M = 20.0  # points are this far inside their cell: 6-decimal rounding never moves them out
SIZES = {"1M": 1_000_000, "5M": 5_000_000, "20M": 20_000_000}
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


@dataclass(frozen=True)
class Settings:
    """What to generate."""

    rows: int
    forces: int = 43
    months: int = 36
    first_month: str = "2022-01"
    wards: int = 7000
    per_point: int = 30
    no_coordinates: float = 0.03
    duplicates: float = 0.001
    seed: int = 12


def parse_rows(text: str) -> int:
    """``1M``, ``5M``, ``20M``, ``250k`` or a plain number -> rows."""
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"--rows {text!r}: expected e.g. 1M, 5M, 20M or 250000")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


# --- wards -------------------------------------------------------------------------------------


def make_wards(settings: Settings) -> gpd.GeoDataFrame:
    """A grid of ward cells nested in local authorities nested in forces (EPSG:27700)."""
    x0, y0, x1, y1 = EXTENT
    side = np.sqrt((x1 - x0) * (y1 - y0) / settings.wards)
    cols = max(1, round((x1 - x0) / side))
    rows = -(-settings.wards // cols)
    dx, dy = (x1 - x0) / cols, (y1 - y0) / rows
    i = np.arange(settings.wards)
    col, row = i % cols, i // cols
    geoms = shapely.box(x0 + col * dx, y0 + row * dy, x0 + (col + 1) * dx, y0 + (row + 1) * dy)
    bx, by = LA_BLOCK
    la_cols = -(-cols // bx)
    block_row, block_col = row // by, col // bx
    serpentine = np.where(block_row % 2 == 0, block_col, la_cols - 1 - block_col)
    la_key = block_row * la_cols + serpentine  # runs of local authorities are contiguous
    la_ids, la = np.unique(la_key, return_inverse=True)
    force_of_la = np.zeros(len(la_ids), dtype=np.int64)
    for f, part in enumerate(np.array_split(np.arange(len(la_ids)), settings.forces)):
        force_of_la[part] = f
    force = force_of_la[la]
    names = [FORCES[f][1].split(" Police")[0].split(" Constabulary")[0] for f in range(43)]
    la_number = la - np.array([np.flatnonzero(force_of_la == force_of_la[k])[0] for k in la])
    return gpd.GeoDataFrame(
        {
            "WD24CD": [f"E05{900000 + k:06d}" for k in i],
            "WD24NM": [f"Synthetic Ward {k + 1:05d}" for k in i],
            "LAD24CD": [f"E06{900000 + k:06d}" for k in la],
            "LAD24NM": [f"{names[f]} {n + 1:02d}" for f, n in zip(force, la_number, strict=True)],
            "PFA24NM": [FORCES[f][1] for f in force],
            "force": force,
        },
        geometry=geoms,
        crs="EPSG:27700",
    )


# --- incidents ---------------------------------------------------------------------------------


@dataclass
class PointPool:
    """A force's anonymised map points: text columns ready to index, and their popularity."""

    lon: np.ndarray
    lat: np.ndarray
    location: np.ndarray
    lsoa_code: np.ndarray
    lsoa_name: np.ndarray
    weight: np.ndarray


def point_pool(wards: gpd.GeoDataFrame, n: int, rng: np.random.Generator) -> PointPool:
    """*n* points spread over *wards* (uniform in a random ward, away from its edges)."""
    bounds = shapely.bounds(wards.geometry.to_numpy())
    k = rng.integers(0, len(wards), n)
    x = rng.uniform(bounds[k, 0] + MARGIN_M, bounds[k, 2] - MARGIN_M)
    y = rng.uniform(bounds[k, 1] + MARGIN_M, bounds[k, 3] - MARGIN_M)
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(x, y)
    lsoa = k * 4 + rng.integers(0, 4, n)
    codes = wards["WD24CD"].to_numpy()[k]
    las = wards["LAD24NM"].to_numpy()[k]
    street = rng.integers(1, 5000, n)
    return PointPool(
        lon=np.char.mod("%.6f", lon).astype(object),
        lat=np.char.mod("%.6f", lat).astype(object),
        location=np.array([f"On or near Street {s}" for s in street], dtype=object),
        lsoa_code=np.array([f"E01{900000 + v:06d}" for v in lsoa], dtype=object),
        lsoa_name=np.array(
            [f"{la} {c[-3:]}{'ABCD'[v % 4]}" for la, c, v in zip(las, codes, lsoa, strict=True)],
            dtype=object,
        ),
        weight=rng.lognormal(0.0, 1.0, n),
    )


def crime_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """*n* random 64-hex-digit ids, as police.uk's (a sha256 per crime)."""
    raw = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    return _HEX[raw].view("S64").ravel().astype(str).astype(object)


def month_table(
    month: str, force: tuple[str, str], pool: PointPool, n: int, s: Settings, rng
) -> tuple[pa.Table, dict[str, int]]:
    """One force-month of street rows, with what it holds."""
    cats = np.array(list(CATEGORY_SHARES), dtype=object)
    share = np.array(list(CATEGORY_SHARES.values()))
    category = cats[rng.choice(len(cats), n, p=share / share.sum())]
    asb = category == ASB
    ids = np.where(asb, "", crime_ids(n, rng))
    outcome = np.where(asb, "", np.array(OUTCOMES, dtype=object)[rng.integers(0, len(OUTCOMES), n)])
    point = rng.choice(len(pool.weight), n, p=pool.weight / pool.weight.sum())
    located = rng.random(n) >= s.no_coordinates
    cols = {
        "Crime ID": ids,
        "Month": np.full(n, month, dtype=object),
        "Reported by": np.full(n, force[1], dtype=object),
        "Falls within": np.full(n, force[1], dtype=object),
        "Longitude": np.where(located, pool.lon[point], ""),
        "Latitude": np.where(located, pool.lat[point], ""),
        "Location": np.where(located, pool.location[point], "No Location"),
        "LSOA code": np.where(located, pool.lsoa_code[point], ""),
        "LSOA name": np.where(located, pool.lsoa_name[point], ""),
        "Crime type": category,
        "Last outcome category": outcome,
        "Context": np.full(n, "", dtype=object),
    }
    crimes = np.flatnonzero(~asb)
    dup = crimes[rng.random(len(crimes)) < s.duplicates]  # published twice: same row again
    order = np.sort(np.concatenate([np.arange(n), dup]))
    table = pa.table({c: pa.array(v[order], pa.string()) for c, v in cols.items()})
    facts = {
        "rows": len(order),
        "no_coordinates": int((~located[order]).sum()),
        "asb": int(asb[order].sum()),
        "duplicates": len(dup),
    }
    return table, facts


def months(first: str, count: int) -> list[str]:
    """*count* months from *first*, as YYYY-MM."""
    y, m = map(int, first.split("-"))
    out = []
    for k in range(count):
        yy, mm = divmod(m - 1 + k, 12)
        out.append(f"{y + yy:04d}-{mm + 1:02d}")
    return out


def write_csv(table: pa.Table, path: Path) -> None:
    """The published layout: header unquoted, no quoting, LF line ends."""
    with path.open("wb") as f:
        f.write((",".join(COLUMNS) + "\n").encode())
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=False, quoting_style="none"))


# --- the whole set -----------------------------------------------------------------------------


def generate(settings: Settings, out: Path, *, log=print) -> dict:
    """Write wards, street CSVs, config and truth.json under *out*; returns the truth."""
    started = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    (data / "wards").mkdir(parents=True)
    wards = make_wards(settings)
    wards.drop(columns="force").to_file(data / "wards" / "national_wards.gpkg", driver="GPKG")
    forces = FORCES[: settings.forces]
    sizes = np.bincount(wards["force"], minlength=settings.forces).astype(float)
    weight = sizes * rng.lognormal(0.0, 0.4, settings.forces)
    per_force = rng.multinomial(settings.rows, weight / weight.sum())
    month_list = months(settings.first_month, settings.months)
    totals = {"rows": 0, "no_coordinates": 0, "asb": 0, "duplicates": 0}
    files = 0
    distinct = 0
    for f, force in enumerate(forces):
        mine = wards[wards["force"] == f]
        pool = point_pool(mine, max(1, round(per_force[f] / settings.per_point)), rng)
        split = rng.multinomial(per_force[f], np.full(settings.months, 1 / settings.months))
        for month, n in zip(month_list, split, strict=True):
            folder = data / "incidents" / "police_uk_street" / month
            folder.mkdir(parents=True, exist_ok=True)
            table, facts = month_table(month, force, pool, int(n), settings, rng)
            write_csv(table, folder / f"{month}-{force[0]}-street.csv")
            files += 1
            for k in totals:
                totals[k] += facts[k]
        distinct += len(pool.weight)
        log(f"{force[0]}: {per_force[f]:,} rows, {len(pool.weight):,} points")
    truth = {
        "settings": settings.__dict__,
        **totals,
        "files": files,
        "wards": len(wards),
        "local_authorities": int(wards["LAD24CD"].nunique()),
        "distinct_points": distinct,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_config(out, settings, truth)
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def write_config(out: Path, settings: Settings, truth: dict) -> Path:
    """A copy of config/ declaring the one dataset ``national`` on the generated files."""
    cfg = out / "config"
    if cfg.exists():
        shutil.rmtree(cfg)
    shutil.copytree(REPO / "config", cfg)
    text = (REPO / "config" / "planner.toml").read_text()
    text = text[: text.index("\n[datasets.")]
    text = re.sub(r'(?m)^data_dir = "[^"]*"', f'data_dir = "{(out / "data").resolve()}"', text)
    text = re.sub(r'(?m)^cache_dir = "[^"]*"', f'cache_dir = "{(out / "cache").resolve()}"', text)
    description = (
        f"Synthetic: {truth['rows']:,} police.uk street rows, {settings.forces} forces, "
        f"{settings.months} months from {settings.first_month}, {truth['wards']:,} grid wards "
        f"in {truth['local_authorities']} local authorities (bench/generate_national.py)."
    )
    text += f"""
[datasets.national]
description = "{description}"
default = true
[datasets.national.wards]
path = "wards/national_wards.gpkg"
[[datasets.national.sources]]
kind = "police_uk_csv"
path = "incidents/police_uk_street"
"""
    (cfg / "planner.toml").write_text(text)
    return cfg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=parse_rows, default=SIZES["1M"], help="1M, 5M, 20M or a number")
    p.add_argument("--forces", type=int, default=43, choices=range(1, 44), metavar="1..43")
    p.add_argument("--months", type=int, default=36)
    p.add_argument("--first-month", default="2022-01")
    p.add_argument("--wards", type=int, default=7000)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--out", type=Path, help="output folder (default /tmp/national/<rows>)")
    args = p.parse_args(argv)
    out = args.out or Path("/tmp/national") / f"{args.rows:,}".replace(",", "_")
    if out.resolve().is_relative_to(REPO):
        p.error(f"--out {out}: generated data goes outside the repository (e.g. /tmp/national)")
    settings = Settings(
        rows=args.rows, forces=args.forces, months=args.months, first_month=args.first_month,
        wards=args.wards, seed=args.seed,
    )  # fmt: skip
    truth = generate(settings, out)
    print(json.dumps(truth, indent=1))
    print(f"ingest with: planner --config {out / 'config'} ingest --no-cache")
    return 0


if __name__ == "__main__":
    sys.exit(main())
