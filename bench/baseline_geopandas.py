"""The plain geopandas pipeline the ingest benchmark compares against (issue 12, item 1).

What a competent analyst writes without the planner, step by step as the issue spells it out:

- police.uk API archives: for each ``.tar.gz`` in sorted order, ``tarfile.open``; for each
  ``.json`` member, ``json.loads`` of its bytes (empty members skipped); one
  ``(id, month, category, longitude, latitude)`` tuple per record with coordinates;
- police.uk street CSVs: ``pd.read_csv`` of every ``*-street.csv`` file (``--csv``);

then ``pd.DataFrame(...).drop_duplicates("id")`` (street CSV rows without a Crime ID, the ASB
rows, are all kept), ``gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat),
crs=4326).to_crs(27700)``, ``gpd.read_file`` of the wards, ``gpd.sjoin(predicate="within")``,
``groupby([ward, month, category]).size()`` and Parquet out.

Usage: python bench/baseline_geopandas.py INCIDENTS_DIR WARD_FILE OUT.parquet [--csv]
       [--ward-code COLUMN] [--layer NAME] [--ward-crs CRS]

(``--layer`` and ``--ward-crs`` for the May 2022 TopoJSON wards, whose layer is ``ward`` and
which carry WGS84 coordinates without a CRS.)
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import geopandas as gpd
import pandas as pd


def api_records(incidents: Path) -> pd.DataFrame:
    """Every record with coordinates from every archive's JSON members."""
    rows = []
    for archive in sorted(incidents.glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar:
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                if not raw.strip():
                    continue
                for r in json.loads(raw):
                    loc = r.get("location") or {}
                    if loc.get("longitude") is None or loc.get("latitude") is None:
                        continue
                    rows.append(
                        (
                            r["id"],
                            r["month"],
                            r["category"],
                            float(loc["longitude"]),
                            float(loc["latitude"]),
                        )
                    )
    frame = pd.DataFrame(rows, columns=["id", "month", "category", "lon", "lat"])
    return frame.drop_duplicates("id")


def csv_records(incidents: Path) -> pd.DataFrame:
    """Every row with coordinates from every street CSV (Crime ID duplicates dropped)."""
    frames = [pd.read_csv(f) for f in sorted(incidents.rglob("*-street.csv"))]
    df = pd.concat(frames, ignore_index=True)
    df = df.rename(
        columns={
            "Crime ID": "id",
            "Month": "month",
            "Crime type": "category",
            "Longitude": "lon",
            "Latitude": "lat",
        }
    )[["id", "month", "category", "lon", "lat"]]
    df = df.dropna(subset=["lon", "lat"])
    with_id = df[df["id"].notna()].drop_duplicates("id")
    return pd.concat([with_id, df[df["id"].isna()]], ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("incidents", type=Path)
    parser.add_argument("ward_file")
    parser.add_argument("out")
    parser.add_argument("--csv", action="store_true", help="street CSVs, not API archives")
    parser.add_argument("--ward-code", default="GSS_CODE")
    parser.add_argument("--layer", default=None, help="layer of the ward file")
    parser.add_argument("--ward-crs", default=None, help="CRS of a ward file that has none")
    args = parser.parse_args(argv)
    df = csv_records(args.incidents) if args.csv else api_records(args.incidents)
    points = gpd.GeoDataFrame(
        df[["id", "month", "category"]],
        geometry=gpd.points_from_xy(df["lon"], df["lat"]),
        crs=4326,
    ).to_crs(27700)
    wards = gpd.read_file(args.ward_file, layer=args.layer)
    if wards.crs is None and args.ward_crs:
        wards = wards.set_crs(args.ward_crs)
    wards = wards.to_crs(27700)[[args.ward_code, "geometry"]]
    joined = gpd.sjoin(points, wards, how="inner", predicate="within")
    counts = joined.groupby([args.ward_code, "month", "category"]).size()
    counts.rename("count").reset_index().to_parquet(args.out)


if __name__ == "__main__":
    main()
