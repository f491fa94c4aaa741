"""The plain geopandas pipeline the ingest benchmark compares against.

What a careful analyst would write without the planner: json.load every file in
every archive, build a DataFrame, points_from_xy, to_crs, sjoin, groupby. It counts
records per ward, month and category (ASB included), de-duplicating ids as the
planner does, so the two produce the same table.

Usage: python bench/baseline_geopandas.py INCIDENTS_DIR WARD_FILE OUT.parquet
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import geopandas as gpd
import pandas as pd


def main(incidents: str, ward_file: str, out: str) -> None:
    records = []
    for archive in sorted(Path(incidents).glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(".json"):
                    records.extend(json.load(tar.extractfile(member)))
    df = pd.json_normalize(records)
    df = df.drop_duplicates("id")
    df = df[df["location.longitude"].notna()]
    points = gpd.GeoDataFrame(
        df[["id", "month", "category"]],
        geometry=gpd.points_from_xy(
            df["location.longitude"].astype(float), df["location.latitude"].astype(float)
        ),
        crs="EPSG:4326",
    ).to_crs("EPSG:27700")
    wards = gpd.read_file(ward_file).to_crs("EPSG:27700")[["GSS_CODE", "geometry"]]
    joined = gpd.sjoin(points, wards, how="inner", predicate="within")
    counts = joined.groupby(["GSS_CODE", "month", "category"]).size().rename("count").reset_index()
    counts.to_parquet(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
