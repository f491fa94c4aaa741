"""Exports: allocation tables in CSV, Excel, GeoJSON and GeoPackage, scenario diffs, safety."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import __version__
from planner.errors import ConfigError, DataError
from planner.files import sha256_file
from planner.outputs.export import (
    ExportError,
    scenario_id,
    scenario_stem,
    write_allocation,
    write_csv,
    write_need_tables,
    write_scenario_diff,
)
from planner.outputs.safe import neutralise, safe_filename
from planner.plan.allocation import allocate_wards
from planner.scenario import Scenario
from tests.factories import allocation_settings, run_manifest, shipped_config

openpyxl = pytest.importorskip("openpyxl")

FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'
ODD_BOROUGH = "Kensington/Chelsea: [Royal]*? with a very long name indeed"
MANIFEST = {
    "dataset": "synthetic",
    "harm_index": "cchi",
    "weights_used": {"harm": 0.6, "asb": 0.2, "trend": 0.2},
    "data": [
        {"path": "wards.gpkg", "bytes": 10, "sha256": "a" * 64},
        {"path": "counts.csv", "bytes": 20, "sha256": "b" * 64},
    ],
    "settings": {"window_months": 12},
}


def _wards() -> gpd.GeoDataFrame:
    """8 square 1 km wards in a 4x2 grid: the left half in borough A, the right in B."""
    codes = [f"E0500000{i}" for i in range(1, 9)]
    boxes = [
        shapely.box(x * 1000, y * 1000, x * 1000 + 1000, y * 1000 + 1000)
        for y in (0, 1)
        for x in range(4)
    ]
    borough = ["E09000002" if i % 4 < 2 else "E09000003" for i in range(8)]
    names = [f"Ward {i}" for i in range(1, 9)]
    names[2] = FORMULA_NAME
    borough_names = ["Barking" if b == "E09000002" else ODD_BOROUGH for b in borough]
    frame = gpd.GeoDataFrame(
        {"ward_name": names, "borough_code": borough, "borough_name": borough_names},
        geometry=boxes,
        index=pd.Index(codes, name="ward_code"),
        crs="EPSG:27700",
    )
    # shift so the squares sit in London (BNG)
    return frame.set_geometry(frame.geometry.translate(530_000, 180_000))


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    return _wards()


@pytest.fixture(scope="module")
def result(wards):
    need = pd.Series(np.random.default_rng(7).uniform(1, 100, len(wards)), index=wards.index)
    return allocate_wards(need, wards["borough_code"], pool=13, settings=allocation_settings())


@pytest.fixture(scope="module")
def scores(result) -> pd.DataFrame:
    need = result.wards["need"]
    return pd.DataFrame(
        {
            "need_score": need / need.max(),
            "rank_london": need.rank(ascending=False).astype(int),
            "rank_borough": need.groupby(result.wards["borough_code"])
            .rank(ascending=False)
            .astype(int),
            "unrelated": 1,
        }
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory, result, wards, scores) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("export")
    paths = write_allocation(result, wards, out, manifest=MANIFEST, scores=scores)
    return {p.name: p for p in paths}


def test_files_written(written):
    assert sorted(written) == sorted(
        [
            "allocation.csv",
            "allocation_boroughs.csv",
            "allocation.xlsx",
            "allocation.geojson",
            "allocation.gpkg",
            "allocation_manifest.json",
        ]
    )
    assert list(written)[-1] == "allocation_manifest.json"
    folder = next(iter(written.values())).parent
    assert not [p for p in folder.iterdir() if p.name not in written]  # no temporary left


def test_csv_round_trip(written, result, wards, scores):
    back = pd.read_csv(written["allocation.csv"], index_col="ward_code")
    assert list(back.index) == list(result.wards.index)
    assert list(back.columns[:6]) == [
        "ward_name",
        "borough_code",
        "borough_name",
        "need_score",
        "rank_london",
        "rank_borough",
    ]
    assert "unrelated" not in back
    expected_names = wards.loc[back.index, "ward_name"].where(
        lambda n: n != FORMULA_NAME, "'" + FORMULA_NAME
    )
    assert list(back["ward_name"]) == list(expected_names)
    for column in ["extra", "total_dwo", "baseline_dwo", "rank_london"]:
        assert back[column].tolist() == result.wards.get(column, scores.get(column)).tolist()
    for column in ["need", "need_share", "quota", "share_gap", "target_ratio"]:
        np.testing.assert_allclose(back[column], result.wards[column], rtol=1e-5, atol=1e-12)
    assert (back["share_gap"] < 0).any() and back["share_gap"].dtype == float
    boroughs = pd.read_csv(written["allocation_boroughs.csv"], index_col="borough_code")
    assert boroughs["extra"].sum() == result.pool
    assert boroughs.loc["E09000002", "borough_name"] == "Barking"


def test_excel_sheets_and_cells(written, result):
    book = openpyxl.load_workbook(written["allocation.xlsx"])
    names = book.sheetnames
    assert names[:2] == ["Scenario", "London"] and names[-2:] == ["Methodology", "Manifest"]
    borough_sheets = names[2:-2]
    assert borough_sheets[0] == "Barking"
    odd = borough_sheets[1]
    assert (
        len(odd) <= 31 and not set(odd) & set("[]:*?/\\") and odd.startswith("Kensington_Chelsea")
    )
    # the borough sheets hold their wards, under readable headers, code and name frozen
    barking = book["Barking"]
    header = [c.value for c in barking[1]]
    assert header[:4] == ["Ward code", "Ward", "Borough code", "Borough"]
    assert "ward_code" not in header and not [h for h in header if "_" in str(h)]
    assert barking.max_row - 1 == 4 and barking.freeze_panes == "C2"
    assert all(c.font.bold for c in barking[1])
    cells = [c for sheet in borough_sheets for row in book[sheet].iter_rows(min_row=2) for c in row]
    formula = [c for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert (
        len(formula) == 1 and formula[0].value == "'" + FORMULA_NAME and formula[0].data_type == "s"
    )
    gap = header.index("Officer share − need share")
    gaps = [row[gap].value for sheet in borough_sheets for row in book[sheet].iter_rows(min_row=2)]
    assert all(isinstance(v, float) for v in gaps) and min(gaps) < 0  # the full value is kept
    # London: the borough table, then the equity measures in words
    london = book["London"]
    assert [c.value for c in london[1]][:3] == ["Borough code", "Borough", "Wards"]
    assert london["A2"].value == "E09000002" and london.freeze_panes == "C2"
    column_a = [c.value for c in london["A"]]
    equity_at = column_a.index("Equity measure")
    labels = column_a[equity_at + 1 :]
    assert "Officers placed by whole-officer rounding" in labels
    assert "Worst-served ward" in labels and not [k for k in result.equity if k in labels]
    assert london.column_dimensions["B"].width >= len("Barking")


def test_excel_number_formats(written):
    """Every number a reader sees has a format: no General cells with 16-digit floats."""
    book = openpyxl.load_workbook(written["allocation.xlsx"])
    sheet = book["Barking"]
    header = [c.value for c in sheet[1]]
    formats = {h: sheet.cell(row=2, column=i + 1).number_format for i, h in enumerate(header)}
    assert formats["Share of London's need"] == "0.00%"
    assert formats["Need score"] == "0.000"
    assert formats["Extra DWOs"] == "#,##0"
    assert formats["Policy's extras before rounding"] == "0.00"
    floats = [
        (h, c.number_format)
        for s in book.sheetnames[1:-2]
        for row in book[s].iter_rows(min_row=2)
        for h, c in zip([x.value for x in book[s][1]], row, strict=True)
        if isinstance(c.value, float)
    ]
    assert floats and not [f for f in floats if f[1] == "General"], floats[:5]


def test_excel_names_the_worst_served_ward(written, result, wards):
    book = openpyxl.load_workbook(written["allocation.xlsx"])
    scenario = dict(book["Scenario"].iter_rows(values_only=True))
    code = result.equity["worst_served_ward"]
    assert scenario["Worst-served ward"].startswith(f"{wards.loc[code, 'ward_name']} ({code}) in ")
    london = dict(
        (r[0], r[1]) for r in book["London"].iter_rows(values_only=True) if r[0] is not None
    )
    assert london["Worst-served ward"] == f"{wards.loc[code, 'ward_name']} ({code})"


def test_excel_methodology_and_manifest(written, result):
    book = openpyxl.load_workbook(written["allocation.xlsx"])
    method = dict(book["Methodology"].iter_rows(values_only=True))
    assert method["extra officers (pool)"] == result.pool
    assert method["method"].startswith("Webster")
    assert method["baseline Dedicated Ward Officers per ward"] == 2
    assert method["harm index"] == "cchi" and method["weight: harm"] == 0.6
    assert method["data sha256: counts.csv"] == "b" * 64
    assert "how the numbers are made" in method
    text = " ".join(str(c.value) for c in book["Methodology"]["B"] if c.value)
    assert "divisor" in text and "share_gap" in text
    manifest = dict(book["Manifest"].iter_rows(values_only=True))
    assert manifest["planner_version"] == __version__
    assert manifest["allocation.pool"] == result.pool
    assert manifest["allocation.settings.method"] == "webster"
    assert manifest["data[1].sha256"] == "b" * 64
    assert manifest["settings.window_months"] == 12
    assert book["Manifest"].freeze_panes == "A2"


def test_geojson_round_trip(written, wards, result):
    back = gpd.read_file(written["allocation.geojson"])
    assert back.crs.to_epsg() == 4326
    assert back["ward_code"].tolist() == list(result.wards.index)
    assert back["extra"].tolist() == result.wards["extra"].tolist()
    assert back["ward_name"].tolist()[2] == FORMULA_NAME  # not a spreadsheet: raw text
    assert "manifest" not in back
    area = back.to_crs(27700).set_index("ward_code").area
    np.testing.assert_allclose(area, wards.area.loc[area.index], rtol=1e-6)
    assert all(len(g.exterior.coords) == 5 for g in back.geometry)  # not simplified


def test_gpkg_round_trip(written, wards, result):
    import pyogrio

    assert [layer[0] for layer in pyogrio.list_layers(written["allocation.gpkg"])] == ["allocation"]
    back = gpd.read_file(written["allocation.gpkg"], layer="allocation").set_index("ward_code")
    assert back.crs.to_epsg() == 27700
    assert list(back.index) == list(result.wards.index)
    assert back.geometry.geom_equals_exact(wards.geometry.loc[back.index], tolerance=1e-6).all()
    np.testing.assert_allclose(back["share_gap"], result.wards["share_gap"])


def test_sibling_manifest(written, result):
    info = json.loads(written["allocation_manifest.json"].read_text(encoding="utf-8"))
    assert info["planner_version"] == __version__ and info["created"]
    assert info["dataset"] == "synthetic" and info["data"] == MANIFEST["data"]
    assert info["allocation"]["pool"] == result.pool
    assert info["allocation"]["settings"]["baseline_dwo"] == 2
    assert info["allocation"]["settings"]["excluded"] == []
    assert set(info["allocation"]["equity"]) == set(result.equity)
    files = {f["name"]: f["sha256"] for f in info["files"]}
    assert set(files) == set(written) - {"allocation_manifest.json"}
    assert all(files[name] == sha256_file(written[name]) for name in files)


# --- exports that identify themselves (issue 13 item 6) -------------------------------------


@pytest.fixture(scope="module")
def scenario_manifest():
    """A run's manifest whose scenario is a real Scenario's (pool 13, a 50 % floor, cap 4)."""
    scenario = Scenario.from_config(shipped_config()).changed(
        pool=13, borough_floor_share=0.5, max_extra_per_ward=4, harm_index="css"
    )
    manifest = run_manifest(
        scenario=scenario.to_dict(), harm_index="css", weights_used={"harm": 0.64, "rate": 0.36}
    )
    return scenario, manifest


@pytest.fixture(scope="module")
def identified(tmp_path_factory, result, wards, scores, scenario_manifest):
    _, manifest = scenario_manifest
    out = tmp_path_factory.mktemp("identified")
    stem = scenario_stem(manifest, result)
    paths = write_allocation(
        result, wards, out, manifest=manifest, scores=scores, stem=stem,
        formats=["zip", "xlsx", "geojson", "gpkg"],
    )  # fmt: skip
    return stem, {p.suffix: p for p in paths}


def test_scenario_id_is_the_scenario_key(scenario_manifest):
    scenario, manifest = scenario_manifest
    assert scenario_id(manifest.scenario) == scenario.key()
    other = scenario.changed(pool=14)
    assert scenario_id(other.to_dict()) != scenario.key()


def test_file_name_names_the_scenario(scenario_manifest, result):
    scenario, manifest = scenario_manifest
    stem = scenario_stem(manifest, result)
    assert stem == (
        f"allocation_synthetic_2026-01_css_webster_pool13_floor0_nocap_harm64-rate36_"
        f"{scenario.key()}"
    )  # pool, floor and cap are the allocation's own: the result was made with its settings
    changed = scenario_stem(dataclasses.replace(manifest, window_end="2025-12"), result)
    assert changed != stem and "2025-12" in changed
    assert safe_filename(stem) == stem


def test_zip_holds_plain_csvs_with_the_manifest_and_the_scenario(identified, result):
    import zipfile

    stem, paths = identified
    assert paths[".zip"].name == f"{stem}.zip"
    with zipfile.ZipFile(paths[".zip"]) as z:
        names = z.namelist()
        assert names == [
            f"{stem}.csv",
            f"{stem}_boroughs.csv",
            f"{stem}_scenario.txt",
            f"{stem}_manifest.json",
        ]
        wards_csv = pd.read_csv(z.open(f"{stem}.csv"), index_col="ward_code")  # plain CSV
        info = json.loads(z.read(f"{stem}_manifest.json"))
        text = z.read(f"{stem}_scenario.txt").decode("utf-8")
    assert list(wards_csv.index) == list(result.wards.index)
    assert wards_csv["extra"].tolist() == result.wards["extra"].tolist()
    assert info["scenario_id"] == stem.rsplit("_", 1)[1]
    assert {f["name"] for f in info["files"]} == set(names) - {f"{stem}_manifest.json"}
    assert "Harm index: CSS" in text and "Extra officers (London pool): 13" in text
    assert f"Scenario id: {info['scenario_id']}" in text


def test_excel_starts_with_the_scenario(identified, scenario_manifest):
    scenario, _ = scenario_manifest
    book = openpyxl.load_workbook(identified[1][".xlsx"])
    assert book.sheetnames[0] == "Scenario" and book["Scenario"].freeze_panes == "A2"
    facts = dict(book["Scenario"].iter_rows(values_only=True))
    assert facts["Dataset"] == "synthetic" and facts["Data window"] == "2025-02 to 2026-01"
    assert facts["Method"].startswith("Webster / Sainte-Laguë: each ward's share")
    assert facts["Need weights used"] == "Harm 0.64, Harm per 1,000 0.36"
    assert facts["Scenario id"].startswith(scenario.key())


def test_geojson_and_geopackage_carry_the_scenario(identified, result, scenario_manifest):
    import pyogrio

    scenario, _ = scenario_manifest
    _, paths = identified
    raw = json.loads(paths[".geojson"].read_text(encoding="utf-8"))
    assert raw["type"] == "FeatureCollection" and len(raw["features"]) == len(result.wards)
    meta = raw["metadata"]
    assert meta["scenario_id"] == scenario.key() and meta["harm_index"] == "css"
    assert meta["scenario"]["pool"] == 13 and meta["scenario_text"]["Dataset"] == "synthetic"
    back = gpd.read_file(paths[".geojson"])  # still an ordinary GeoJSON to GIS readers
    assert back["extra"].tolist() == result.wards["extra"].tolist()
    layer = pyogrio.read_info(paths[".gpkg"], layer="allocation")["layer_metadata"]
    assert json.loads(layer["planner"])["scenario_id"] == scenario.key()


def test_formats_subset_and_order(tmp_path, result, wards):
    paths = write_allocation(
        result, wards, tmp_path, manifest={}, formats=("gpkg", "csv"), stem="b"
    )
    assert [p.name for p in paths] == ["b.gpkg", "b.csv", "b_boroughs.csv", "b_manifest.json"]
    back = pd.read_csv(tmp_path / "b.csv")
    assert "need_score" not in back  # no scores given


def test_unknown_format(tmp_path, result, wards):
    with pytest.raises(ConfigError, match="'shp'.*choose from csv"):
        write_allocation(result, wards, tmp_path, manifest={}, formats=("csv", "shp"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w.drop(index="E05000003"), "1 allocated ward.*E05000003"),
        (lambda w: w.drop(columns="borough_name"), "no column 'borough_name'"),
        (lambda w: w.set_crs(None, allow_override=True), "no CRS"),
    ],
    ids=["missing-ward", "no-borough-name", "no-crs"],
)
def test_bad_wards(tmp_path, result, wards, change, message):
    with pytest.raises(DataError, match=message):
        write_allocation(result, change(wards), tmp_path, manifest={})
    assert not list(tmp_path.iterdir())


def test_wards_with_code_column(tmp_path, result, wards):
    paths = write_allocation(result, wards.reset_index(), tmp_path, manifest={}, formats=("csv",))
    assert pd.read_csv(paths[0])["ward_code"].tolist() == list(result.wards.index)


def test_path_traversal_stays_inside(tmp_path, result, wards):
    out = tmp_path / "a" / "b"
    paths = write_allocation(
        result, wards, out, manifest={}, formats=("csv", "xlsx"), stem="../../evil"
    )
    assert all(p.resolve().parent == out.resolve() for p in paths)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        p.name for p in paths
    )


def test_symlink_out_of_folder_refused(tmp_path, result, wards):
    out = tmp_path / "out"
    out.mkdir()
    (out / "evil_manifest.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(DataError, match="'evil_manifest.json'.*outside the output folder"):
        write_allocation(result, wards, out, manifest={}, formats=("csv",), stem="evil")
    assert [p.name for p in out.iterdir()] == ["evil_manifest.json"]  # checked before writing
    assert not (tmp_path / "outside.json").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("../../evil", "_._evil"),
        ("a/b\\c", "a_b_c"),
        ("Scenario 1 - more officers.v2", "Scenario 1 - more officers.v2"),
        ("..", "export"),
        ("", "export"),
        ("CON", "_CON"),
        ("x" * 300, "x" * 100),
        ("a:b*?<>|\"'\n", "a_b" + "_" * 8),
        ("Westminster ", "Westminster"),
    ],
    ids=[
        "traversal",
        "separators",
        "kept",
        "dots",
        "empty",
        "device",
        "long",
        "specials",
        "trailing",
    ],
)
def test_safe_filename(text, expected):
    assert safe_filename(text) == expected


def test_neutralise():
    frame = pd.DataFrame(
        {
            "text": ["=1+1", "+44", "-2", "@sum", "\tx", "\ry", "plain", None],
            "number": [-1.5, -2, 0, 1, 2, 3, 4, np.nan],
            "category": pd.Categorical(["=a", "b"] * 4),
        },
        index=pd.Index(["=i", "j", "k", "l", "m", "n", "o", "p"], name="=key"),
    )
    out = neutralise(frame)
    assert out["text"].tolist()[:7] == ["'=1+1", "'+44", "'-2", "'@sum", "'\tx", "'\ry", "plain"]
    assert pd.isna(out["text"].iloc[7])
    assert out["number"].dtype == float and out["number"].iloc[0] == -1.5
    assert out["category"].tolist()[:2] == ["'=a", "b"]
    assert out.index[0] == "'=i" and out.index.name == "=key"
    assert frame["text"].iloc[0] == "=1+1"  # the input is not changed


def test_write_csv_neutralises(tmp_path):
    path = write_csv(
        pd.DataFrame({"a": ["=cmd|'/c calc'!A1", "ok"], "b": [-1, 2]}),
        tmp_path / "t.csv",
        index=False,
    )
    back = pd.read_csv(path)
    assert back["a"].tolist() == ["'=cmd|'/c calc'!A1", "ok"] and back["b"].tolist() == [-1, 2]


def test_failure_leaves_no_partial_file(tmp_path, result, wards, monkeypatch):
    (tmp_path / "allocation.xlsx").write_bytes(b"previous")

    def broken_save(self, filename):
        Path(filename).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", broken_save)
    with pytest.raises(ExportError, match="disk full") as info:
        write_allocation(result, wards, tmp_path, manifest={})
    assert isinstance(info.value, OSError)  # callers catching OSError still do
    assert f"cannot write {tmp_path / 'allocation.xlsx'} (disk full)" in str(info.value)
    assert (tmp_path / "allocation.xlsx").read_bytes() == b"previous"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["allocation.xlsx"]  # all or nothing: no CSV, no temp, no manifest


def test_scenario_diff(tmp_path):
    wards = pd.DataFrame(
        {"ward_name": ["=A", "B"], "extra_a": [1, 2], "extra_b": [2, 0], "change": [1, -2]},
        index=pd.Index(["E05000001", "E05000002"], name="ward_code"),
    )
    boroughs = pd.DataFrame({"borough_code": ["E09000002"], "change": [-1]})
    paths = write_scenario_diff(
        wards, boroughs, tmp_path, manifest={"scenarios": ["a", "b"]}, stem="a vs b"
    )
    assert [p.name for p in paths] == [
        "a vs b_wards.csv",
        "a vs b_boroughs.csv",
        "a vs b.xlsx",
        "a vs b_manifest.json",
    ]
    back = pd.read_csv(paths[0], index_col="ward_code")
    assert back["ward_name"].tolist() == ["'=A", "B"] and back["change"].tolist() == [1, -2]
    assert pd.read_csv(paths[1]).columns.tolist() == [
        "borough_code",
        "change",
    ]  # no RangeIndex column
    book = openpyxl.load_workbook(paths[2])
    assert book.sheetnames == ["Wards", "Boroughs"]
    rows = list(book["Wards"].iter_rows(values_only=True))
    assert rows[0] == ("Ward code", "Ward", "extra a", "extra b", "Change in DWOs")
    assert rows[1] == ("E05000001", "'=A", 1, 2, 1) and rows[2][-1] == -2
    assert list(book["Boroughs"].iter_rows(values_only=True))[1] == ("E09000002", -1)
    info = json.loads(paths[3].read_text(encoding="utf-8"))
    assert info["scenarios"] == ["a", "b"] and len(info["files"]) == 3


def test_write_need_tables_still_works(tmp_path):
    index = pd.Index(["E05000001", "E05000002"], name="ward_code")
    fake = SimpleNamespace(
        scores=pd.DataFrame({"need_score": [1.0, 2.0], "rank_london": [2, 1]}, index=index),
        components=pd.DataFrame({"harm": [1.0, 2.0]}, index=index),
        settings=SimpleNamespace(harm_index="cchi"),
        inputs=SimpleNamespace(
            features={"cchi": pd.DataFrame({"harm": [3.0, 4.0]}, index=index)}, backtest=None
        ),
        sensitivity=None,
        sensitivity_summary=None,
    )
    paths = write_need_tables(fake, run_manifest(), tmp_path)
    assert [p.name for p in paths] == [
        "scores.csv",
        "components.csv",
        "features.csv",
        "manifest.json",
    ]
    assert pd.read_csv(paths[0], index_col="ward_code").index.tolist() == ["E05000002", "E05000001"]
    info = json.loads(paths[-1].read_text())
    assert info["files"] == ["scores.csv", "components.csv", "features.csv"]
    assert info["dataset"] == "synthetic" and info["scenario"]["pool"] == 600


@pytest.mark.filterwarnings("error")
def test_missing_and_infinite_values(tmp_path, result, wards):
    table = result.wards.copy()
    table.loc["E05000004", "target_ratio"] = np.inf
    odd = dataclasses.replace(result, wards=table)
    scores = pd.DataFrame({"rank_london": [1]}, index=pd.Index(["E05000001"], name="ward_code"))
    written = write_allocation(odd, wards, tmp_path, manifest={}, scores=scores)
    paths = {p.suffix: p for p in reversed(written)}  # allocation.csv before the boroughs'
    csv = pd.read_csv(paths[".csv"], index_col="ward_code")
    assert csv.loc["E05000004", "target_ratio"] == np.inf and csv["rank_london"].isna().sum() == 7
    geojson = gpd.read_file(paths[".geojson"]).set_index("ward_code")
    assert np.isnan(geojson.loc["E05000004", "target_ratio"])  # JSON has no infinity: null
    assert (
        gpd.read_file(paths[".gpkg"]).set_index("ward_code").loc["E05000004", "target_ratio"]
        == np.inf
    )
    book = openpyxl.load_workbook(paths[".xlsx"])
    rows = [
        row for sheet in book.sheetnames[2:-2] for row in book[sheet].iter_rows(values_only=True)
    ]
    header = rows[0]
    by_code = {row[0]: dict(zip(header, row, strict=True)) for row in rows if row[0] != "Ward code"}
    assert by_code["E05000004"]["Extras ÷ quota"] == "inf"
    assert by_code["E05000002"]["Rank in London"] is None
    assert by_code["E05000001"]["Rank in London"] == 1


# --- faults: a set of files is written whole or not at all (issue 14 item 7) ----------------

_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
import numpy as np, pandas as pd
from planner.outputs.export import ExportError, write_allocation
from planner.plan.allocation import allocate_wards
from tests.factories import allocation_settings
from tests.test_export import _wards

wards = _wards()
need = pd.Series(np.random.default_rng(7).uniform(1, 100, len(wards)), index=wards.index)
result = allocate_wards(need, wards["borough_code"], pool=13, settings=allocation_settings())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
try:
    write_allocation(result, wards, Path(sys.argv[1]), manifest={"run": 2})
except ExportError as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.mark.skipif(not hasattr(os, "setpgid"), reason="needs POSIX file size limits")
def test_a_full_disk_leaves_the_previous_set_whole(tmp_path, result, wards):
    first = write_allocation(result, wards, tmp_path, manifest={"run": 1})
    before = {p.name: sha256_file(p) for p in first}
    sizes = sorted(p.stat().st_size for p in first)
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(tmp_path), str(sizes[0] + 1)],
        capture_output=True, text=True, cwd=root, timeout=120,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr[-2000:]
    message = run.stdout.strip()
    assert "File too large" in message and "Nothing was written to" in message
    assert "free space on that disk" in message and ".planner-export-" not in message
    assert {p.name: sha256_file(p) for p in tmp_path.iterdir()} == before  # untouched
    manifest = json.loads((tmp_path / "allocation_manifest.json").read_text(encoding="utf-8"))
    assert manifest["run"] == 1


def test_a_read_only_output_folder_is_a_planner_error(tmp_path, result, wards, monkeypatch):
    import planner.outputs.export as export

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path))

    monkeypatch.setattr(export.tempfile, "mkdtemp", read_only)
    with pytest.raises(ExportError, match=r"Read-only file system.*--out DIR") as info:
        write_allocation(result, wards, tmp_path, manifest={})
    assert str(tmp_path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_move_into_place_restores_the_previous_set(tmp_path, result, wards, monkeypatch):
    first = write_allocation(result, wards, tmp_path, manifest={"run": 1})
    before = {p.name: sha256_file(p) for p in first}
    real_replace, failed = os.replace, []

    def failing(src, dst):  # the new GeoPackage cannot be moved into place, once
        if Path(dst) == tmp_path / "allocation.gpkg" and not failed:
            failed.append(src)
            raise OSError(errno.EIO, "Input/output error", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(ExportError, match=r"allocation\.gpkg \(Input/output error\)"):
        write_allocation(result, wards, tmp_path, manifest={"run": 2})
    assert {p.name: sha256_file(p) for p in tmp_path.iterdir()} == before
