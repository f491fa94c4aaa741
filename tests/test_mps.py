"""Tests of planner.ingest.sources.mps: Met ward-level files and the monthly crime dashboard."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from planner import schema as s
from planner.config import CategoryMap, PlannerConfig
from planner.errors import DataError
from planner.ingest.sources.base import SourceFrame, empty_counts, empty_measures, empty_rejects
from planner.ingest.sources.dashboard import read_mps_dashboard
from planner.ingest.sources.mps import combine_mps_ward, read_mps_ward

UPPER = ["MajorText", "MinorText", "WardName", "WardCode", "LookUp_BoroughName"]
LOWER = [c.lower() for c in UPPER]
WARD_A, WARD_B = "E05000001", "E05000002"
HOME = ("BURGLARY", "RES BURGLARY OF A HOME")
SHED = ("BURGLARY", "RES BURGLARY OF UNCONNECTED BUILDING")
BUSINESS = ("BURGLARY", "BURGLARY BUSINESS AND COMMUNITY")
FRAUD = ("FRAUD AND FORGERY", "FRAUD AND FORGERY")
NEW = ("THEFT", "SOMETHING NEW")


@pytest.fixture(scope="module")
def categories(config: PlannerConfig) -> CategoryMap:
    return config.categories


def ward_table(rows: list[tuple], months: list[str], *, lower: bool = False) -> pd.DataFrame:
    """rows: (major, minor, ward code, borough, counts...) -> a wide ward-level table."""
    records = [
        [major, minor, f"ward {code}", code, borough, *counts]
        for major, minor, code, borough, *counts in rows
    ]
    return pd.DataFrame(records, columns=[*(LOWER if lower else UPPER), *months])


def write(table: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def write_text(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def small_rows() -> list[tuple]:
    return [
        (*HOME, WARD_A, "Camden", 3, 0, 1),
        (*SHED, WARD_A, "Camden", 1, 0, 0),
        (*BUSINESS, WARD_B, "Camden", 0, 0, 2),
        (*FRAUD, WARD_B, "Camden", 4, 0, 0),
        (*NEW, WARD_B, "Camden", 0, 5, 0),
        ("THEFT", "SHOPLIFTING", s.HEATHROW_VILLAGES, "Aviation Security (SO18)", 7, 0, 0),
    ]


MONTHS = ["202401", "202402", "202403"]


def conserved(frame: SourceFrame) -> pd.Series:
    """read - counted - rejected - duplicates, per month (all zero when conserved)."""
    kept = frame.measures if frame.kind == "mps_dashboard" else frame.counts
    total = frame.duplicates_by_month.astype("int64")
    for part in (kept, frame.rejects):
        total = total.add(part.groupby(s.MONTH)[s.COUNT].sum(), fill_value=0)
    return frame.read_by_month.sub(total, fill_value=0)


# --- read_mps_ward ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "lower"),
    [(".csv", False), (".parquet", True), (".csv", True), (".parquet", False)],
    ids=["csv-camel", "parquet-lower", "csv-lower", "parquet-camel"],
)
def test_read_ward_maps_minor_categories(tmp_path, categories, suffix, lower):
    path = write(ward_table(small_rows(), MONTHS, lower=lower), tmp_path / f"w{suffix}")
    frame = read_mps_ward(path, categories=categories)
    assert frame.kind == "mps_ward"
    assert frame.files == [str(path)]
    assert list(frame.counts.columns) == [*s.WARD_COUNTS_COLUMNS, s.FALLBACK]
    assert frame.counts.dtypes.to_dict() == empty_counts().dtypes.to_dict()
    got = {tuple(r) for r in frame.counts[list(s.WARD_COUNTS_COLUMNS)].itertuples(index=False)}
    assert got == {
        (WARD_A, "2024-01", "Burglary", "residential", 4),  # home + unconnected building
        (WARD_A, "2024-03", "Burglary", "residential", 1),
        (WARD_B, "2024-03", "Burglary", "business and community", 2),
        (s.HEATHROW_VILLAGES, "2024-01", "Shoplifting", "shoplifting", 7),
    }
    assert frame.read_by_month.to_dict() == {"2024-01": 15, "2024-02": 5, "2024-03": 3}
    assert (conserved(frame) == 0).all()


def test_read_ward_rejects_unknown_and_excluded(tmp_path, categories):
    path = write(ward_table(small_rows(), MONTHS), tmp_path / "w.csv")
    rejects = read_mps_ward(path, categories=categories).rejects
    assert list(rejects.columns) == list(s.REJECT_COLUMNS)
    assert rejects.dtypes.to_dict() == empty_rejects().dtypes.to_dict()
    assert len(rejects) == 2  # zero cells of the same rows are not rejects
    fraud = rejects[rejects[s.REASON] == s.REASON_EXCLUDED_CATEGORY].iloc[0]
    assert (fraud[s.SOURCE_ROW], fraud[s.MONTH], fraud[s.COUNT]) == (4, "2024-01", 4)
    assert fraud[s.CATEGORY] == "FRAUD AND FORGERY | FRAUD AND FORGERY"
    assert fraud[s.SOURCE] == str(path)
    new = rejects[rejects[s.REASON] == s.REASON_UNKNOWN_CATEGORY].iloc[0]
    assert (new[s.SOURCE_ROW], new[s.MONTH], new[s.COUNT]) == (5, "2024-02", 5)
    assert new[s.CATEGORY] == "THEFT | SOMETHING NEW"
    assert new[s.DETAIL] == (
        "not in [mps.minor] of config/categories.toml: add it there as "
        "[category, subcategory] (an empty category excludes it)"
    )


def test_read_ward_normalises_keys(tmp_path, categories):
    rows = [("  burglary ", "res   burglary of a home", WARD_A, "Camden", 2)]
    path = write(ward_table(rows, ["202401"]), tmp_path / "w.csv")
    counts = read_mps_ward(path, categories=categories).counts
    assert counts[[s.CATEGORY, s.SUBCATEGORY, s.COUNT]].values.tolist() == [
        ["Burglary", "residential", 2]
    ]


def test_read_ward_all_zero_file(tmp_path, categories):
    path = write(ward_table([(*HOME, WARD_A, "Camden", 0)], ["202401"]), tmp_path / "w.csv")
    frame = read_mps_ward(path, categories=categories)
    assert frame.counts.empty and frame.rejects.empty
    assert frame.read_by_month.to_dict() == {"2024-01": 0}


# --- errors ------------------------------------------------------------------------------


def csv_text(header: str, *lines: str) -> str:
    return "\n".join([header, *lines]) + "\n"


HEADER = ",".join(UPPER)
ROW = "BURGLARY,RES BURGLARY OF A HOME,Ward A,E05000001,Camden"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"w\.csv: the file is empty"),
        (csv_text(f"{HEADER},202401"), r"header but no data rows"),
        (
            csv_text(
                "MajorText,MinorText,WardName,Ward Code,LookUp_BoroughName,202401", f"{ROW},1"
            ),
            r"missing required column\(s\) 'WardCode' \('Ward Code' looks like "
            r"it: rename it to 'WardCode'\).*Found: 'MajorText', 'MinorText', 'WardName', "
            r"'Ward Code', 'LookUp_BoroughName', 1 month columns \(202401\.\.202401\)",
        ),
        (csv_text(HEADER, ROW), r"no month columns; expected one column per month named YYYYMM"),
        (
            csv_text(f"{HEADER},Jan 2024", f"{ROW},1"),
            r"expected month columns named YYYYMM.*found: 'Jan 2024' is not YYYYMM",
        ),
        (
            csv_text(f"{HEADER},202413", f"{ROW},1"),
            r"'202413' is not a real month \(month 13 of year 2024\)",
        ),
        (
            csv_text(f"{HEADER},202401,202402", f"{ROW},1,2", f"{ROW},x3,4"),
            r"column '202401': expected a whole number >= 0, found row 2 \(line 3\): 'x3'",
        ),
        (
            csv_text(f"{HEADER},202401,202402", f"{ROW},1,-2"),
            r"column '202402': expected a whole number >= 0, found row 1 \(line 2\): -2;",
        ),
        (
            csv_text(f"{HEADER},202401", f"{ROW},1.5"),
            r"column '202401': expected a whole number >= 0, found row 1 \(line 2\): 1\.5;",
        ),
        (
            csv_text(f"{HEADER},202401", f"{ROW},"),
            r"column '202401': expected a whole number >= 0, found row 1 \(line 2\): a blank;",
        ),
        (
            csv_text(
                f"{HEADER},202401", f"{ROW},1", "BURGLARY,RES BURGLARY OF A HOME,Ward,,Camden,2"
            ),
            r"column 'WardCode': expected a ward code \(E05\.\.\.\), found row 2 \(line 3\): "
            r"a blank; fill in the ward code",
        ),
        (
            csv_text(f"{HEADER},202401,202401", f"{ROW},1,2"),
            r"line 1: column\(s\) '202401' appear more than once",
        ),
        (
            f"MajorText,MinorText,WardName,WardCode,LookUp_BoroughName,202401\n{ROW},1\n".encode()
            + "BURGLARY,X,Caf\u00e9,E05000002,Camden,1\n".encode("cp1252"),
            r"line 3 is not UTF-8 text.*Save As > CSV UTF-8",
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "renamed-column",
        "no-months",
        "month-not-yyyymm",
        "impossible-month",
        "non-numeric",
        "negative",
        "fractional",
        "blank-cell",
        "blank-ward-code",
        "duplicate-month",
        "not-utf8",
    ],
)
def test_read_ward_bad_input(tmp_path, categories, text, match):
    path = write_text(tmp_path / "w.csv", text)
    with pytest.raises(DataError, match=match):
        read_mps_ward(path, categories=categories)


def test_read_ward_collects_every_problem(tmp_path, categories):
    text = csv_text(f"{HEADER},202401,202402", f"{ROW},a,-1", "B,C,Ward,,Camden,1,1")
    with pytest.raises(DataError, match=r"(?s)'202401'.*'202402'.*'WardCode'") as info:
        read_mps_ward(write_text(tmp_path / "w.csv", text), categories=categories)
    assert str(tmp_path / "w.csv") in str(info.value)


def test_read_ward_parquet_problems_name_row(tmp_path, categories):
    table = ward_table([(*HOME, WARD_A, "Camden", 1), (*HOME, WARD_B, "Camden", -3)], ["202401"])
    path = write(table, tmp_path / "w.parquet")
    with pytest.raises(DataError, match=r"column '202401'.*found row 2: -3;"):
        read_mps_ward(path, categories=categories)


def test_read_ward_parquet_float_and_null_cells(tmp_path, categories):
    table = ward_table(
        [(*HOME, WARD_A, "Camden", 2.0), (*HOME, WARD_B, "Camden", None)], ["202401"]
    )
    path = write(table, tmp_path / "w.parquet")
    with pytest.raises(DataError, match=r"column '202401'.*found row 2: a blank;"):
        read_mps_ward(path, categories=categories)
    path = write(table.iloc[:1], tmp_path / "ok.parquet")
    assert read_mps_ward(path, categories=categories).counts[s.COUNT].tolist() == [2]


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("w.csv", f"{HEADER},202401\n{ROW},1\n{ROW},1,2,3\n", r"not a well-formed CSV.*line 3"),
        ("w.parquet", b"PAR1 not really", r"w\.parquet: not a readable Parquet file"),
    ],
    ids=["ragged-csv", "corrupt-parquet"],
)
def test_read_ward_unreadable(tmp_path, categories, name, content, match):
    with pytest.raises(DataError, match=match):
        read_mps_ward(write_text(tmp_path / name, content), categories=categories)


def test_read_ward_missing_file(tmp_path, categories):
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_mps_ward(tmp_path / "nope.csv", categories=categories)


# --- combine_mps_ward ---------------------------------------------------------------------


def test_combine_newest_file_wins(tmp_path, categories):
    old_rows = [(*HOME, WARD_A, "Camden", 1, 2, 3), (*FRAUD, WARD_A, "Camden", 0, 0, 9)]
    new_rows = [(*HOME, WARD_A, "Camden", 30, 40), (*FRAUD, WARD_A, "Camden", 0, 1)]
    old_path = write(ward_table(old_rows, MONTHS), tmp_path / "old.parquet")
    new_path = write(ward_table(new_rows, ["202403", "202404"]), tmp_path / "new.csv")
    new = read_mps_ward(new_path, categories=categories)
    old = read_mps_ward(old_path, categories=categories)
    out = combine_mps_ward([new, old])
    assert out[0] is new
    kept = out[1]
    assert kept.counts[s.MONTH].tolist() == ["2024-01", "2024-02"]
    assert kept.rejects.empty  # the fraud cell of 2024-03 went with its month
    assert kept.duplicates_by_month.to_dict() == {"2024-03": 12}
    assert kept.read_by_month.equals(old.read_by_month)
    assert len(kept.warnings) == 1
    assert all(text in kept.warnings[0] for text in (str(old_path), str(new_path), "2024-03"))
    assert old.duplicates_by_month.empty and len(old.counts) == 3  # input untouched
    for frame in out:
        assert (conserved(frame) == 0).all()
    again = combine_mps_ward(out)
    assert again[1].duplicates_by_month.equals(kept.duplicates_by_month)
    assert again[1].warnings == kept.warnings


def test_combine_tie_goes_to_later_file(tmp_path, categories):
    rows = [(*HOME, WARD_A, "Camden", 1, 2)]
    first = read_mps_ward(
        write(ward_table(rows, MONTHS[:2]), tmp_path / "a.csv"), categories=categories
    )
    second = read_mps_ward(
        write(ward_table(rows, MONTHS[:2]), tmp_path / "b.csv"), categories=categories
    )
    out = combine_mps_ward([first, second])
    assert out[0].counts.empty and out[0].duplicates_by_month.to_dict() == {
        "2024-01": 1,
        "2024-02": 2,
    }
    assert "2024-01..2024-02 (2 months)" in out[0].warnings[0]
    assert out[1] is second


def test_combine_leaves_other_kinds_and_disjoint_files(tmp_path, categories):
    a = read_mps_ward(
        write(ward_table([(*HOME, WARD_A, "Camden", 1)], ["202401"]), tmp_path / "a.csv"),
        categories=categories,
    )
    b = read_mps_ward(
        write(ward_table([(*HOME, WARD_A, "Camden", 1)], ["202402"]), tmp_path / "b.csv"),
        categories=categories,
    )
    other = SourceFrame(kind="police_uk_csv", path="x")
    assert combine_mps_ward([a, other, b]) == [a, other, b]
    assert combine_mps_ward([]) == []


# --- read_mps_dashboard -----------------------------------------------------------------------

SNT, BOROUGH = "Safer Neighbourhood Teams", "Borough"
DA, KNIFE, OFF = ("Domestic Abuse", "Domestic Abuse"), ("Knife Crime", "Knife Crime"), "Offences"


def dashboard_table() -> pd.DataFrame:
    """Rows: (month, area type, area code, crime type, subtype, measure, count); row 9 unknown."""
    rows = [
        ("2024-01-01", BOROUGH, "E09000007", *DA, OFF, 99),
        ("2024-01-01", SNT, WARD_A, *DA, OFF, 5),
        ("2024-01-01", SNT, WARD_A, *DA, "Positive Outcomes", 2),
        ("2024-01-01", SNT, s.HEATHROW_VILLAGES, *KNIFE, OFF, 1),  # as Aviation Security
        ("2024-01-01", SNT, s.HEATHROW_VILLAGES, *KNIFE, OFF, 3),  # as Hillingdon
        ("2024-02-01", SNT, WARD_B, "Hate crime", "Hate crime", OFF, 2),
        ("2024-02-01", SNT, "N/K", "Gun Crime", "Gun Crime", OFF, 1),
        ("2024-02-01", SNT, WARD_B, "Miscalleneous", "TNO Victim Based", OFF, 40),
        ("2024-02-01", SNT, WARD_B, "Knife Crime", "Something New", OFF, 6),
    ]
    columns = ["month_year", "area_type", "area_code", "crime_type", "crime_subtype"]
    table = pd.DataFrame(rows, columns=[*columns, "measure", "count"])
    table.insert(2, "area_name", "name of " + table["area_code"])
    table["month_year"] = pd.to_datetime(table["month_year"])
    return table


def excluding_tno(categories: CategoryMap) -> CategoryMap:
    """The shipped mapping, with one series mapped to "" (excluded by configuration)."""
    dashboard = {**categories.mps_dashboard, "miscalleneous | tno victim based": ""}
    return dataclasses.replace(categories, mps_dashboard=dashboard)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_read_dashboard(tmp_path, categories, suffix):
    path = write(dashboard_table(), tmp_path / f"d{suffix}")
    frame = read_mps_dashboard(path, categories=excluding_tno(categories))
    assert frame.kind == "mps_dashboard"
    assert list(frame.measures.columns) == list(s.WARD_MEASURES_COLUMNS)
    assert frame.measures.dtypes.to_dict() == empty_measures().dtypes.to_dict()
    assert {tuple(r) for r in frame.measures.itertuples(index=False)} == {
        (WARD_A, "2024-01", "domestic abuse", 5),
        (s.HEATHROW_VILLAGES, "2024-01", "knife crime", 4),  # both Heathrow rows
        (WARD_B, "2024-02", "hate crime", 2),
        ("N/K", "2024-02", "gun crime", 1),  # kept; ingest rejects it
    }
    assert frame.read_by_month.to_dict() == {"2024-01": 9, "2024-02": 49}
    rejects = frame.rejects.set_index(s.CATEGORY)
    assert rejects.loc["Miscalleneous | TNO Victim Based", s.REASON] == s.REASON_EXCLUDED_CATEGORY
    assert rejects.loc["Knife Crime | Something New", s.REASON] == s.REASON_UNKNOWN_CATEGORY
    assert rejects.loc["Knife Crime | Something New", s.SOURCE_ROW] == 9
    assert "[mps.dashboard]" in rejects.loc["Knife Crime | Something New", s.DETAIL]
    assert (conserved(frame) == 0).all()
    text = "\n".join(frame.warnings)
    assert "skipped 1 borough-level rows (count 99)" in text
    assert "skipped 1 ward-level rows of measure 'Positive Outcomes' (count 2)" in text
    assert "1 ward-level offence rows" in text and "'N/K'" in text


def test_read_dashboard_unmapped_series_unknown(tmp_path, categories):
    narrow = dataclasses.replace(
        categories, mps_dashboard={"domestic abuse | domestic abuse": "da"}
    )
    frame = read_mps_dashboard(write(dashboard_table(), tmp_path / "d.parquet"), categories=narrow)
    assert frame.measures[s.MEASURE].unique().tolist() == ["da"]
    assert set(frame.rejects[s.REASON]) == {s.REASON_UNKNOWN_CATEGORY}
    assert (conserved(frame) == 0).all()


def test_read_dashboard_without_ward_rows(tmp_path, categories):
    table = dashboard_table()
    path = write(table[table["area_type"] == BOROUGH], tmp_path / "d.parquet")
    frame = read_mps_dashboard(path, categories=categories)
    assert frame.measures.empty and frame.rejects.empty and frame.read_by_month.empty
    assert any("no ward-level offence rows" in w for w in frame.warnings)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda t: t.drop(columns="area_code"), r"missing required column\(s\) 'area_code'"),
        (lambda t: t.rename(columns={"count": "Count "}), None),  # case and spaces accepted
        (
            lambda t: t.assign(
                month_year=t["month_year"].astype(str).where(t.index != 1, "Jan-24")
            ),
            r"column 'month_year': expected a date such as 2024-01-01, "
            r"found row 2 \(line 3\): 'Jan-24'",
        ),
        (
            lambda t: t.assign(count=t["count"].astype(str).where(t.index != 5, "two")),
            r"column 'count': expected a whole number >= 0, found row 6 \(line 7\): 'two'",
        ),
    ],
    ids=["missing-column", "column-case", "bad-month", "bad-count"],
)
def test_read_dashboard_bad_input(tmp_path, categories, change, match):
    path = write(change(dashboard_table()), tmp_path / "d.csv")
    if match is None:
        assert len(read_mps_dashboard(path, categories=excluding_tno(categories)).measures) == 4
        return
    with pytest.raises(DataError, match=match):
        read_mps_dashboard(path, categories=categories)


# --- integration: the real files --------------------------------------------------------------

HISTORICAL = "MPS Ward Level Crime (Historical) 2010-04_to_2024-02_2022wards.parquet"
RECENT = "MPS Ward Level Crime (most recent 24 months) 2024-02_to_2026-01.csv"
DASHBOARD = "MPS Monthly Crime Dashboard (Other sheet) 2021-08_to_2025-07_ward_SNT.parquet"


@pytest.fixture(scope="module")
def real_ward(shared_data, categories) -> list[SourceFrame]:
    folder = shared_data / "ward_crime"
    return [read_mps_ward(folder / name, categories=categories) for name in (HISTORICAL, RECENT)]


@pytest.fixture(scope="module")
def real_dashboard(shared_data, categories) -> SourceFrame:
    return read_mps_dashboard(shared_data / "ward_crime" / DASHBOARD, categories=categories)


@pytest.mark.integration
def test_real_ward_files_load(real_ward):
    historical, recent = real_ward
    assert historical.read_by_month.index[[0, -1]].tolist() == ["2010-04", "2024-02"]
    assert recent.read_by_month.index[[0, -1]].tolist() == ["2024-02", "2026-01"]
    assert recent.counts[s.WARD_CODE].nunique() == 679
    assert historical.counts[s.WARD_CODE].nunique() == 679
    for frame in real_ward:
        assert frame.rejects[s.REASON].unique().tolist() == [s.REASON_EXCLUDED_CATEGORY]  # fraud
        assert frame.counts[s.WARD_CODE].eq(s.HEATHROW_VILLAGES).any()
    # the two files agree within 0.1 % on their shared month
    assert abs(historical.read_by_month["2024-02"] / recent.read_by_month["2024-02"] - 1) < 0.001


@pytest.mark.integration
def test_real_ward_2025_total(real_ward):
    counts = real_ward[1].counts
    total = counts.loc[counts[s.MONTH].str.startswith("2025"), s.COUNT].sum()
    assert 880_000 <= total <= 905_000  # 892,342 crimes in 2025 (+32 fraud rejected)


@pytest.mark.integration
def test_real_ward_burglary_subcategories(real_ward):
    for frame in real_ward:
        burglary = frame.counts[frame.counts[s.CATEGORY] == "Burglary"]
        assert set(burglary[s.SUBCATEGORY].unique()) == {"residential", "business and community"}


@pytest.mark.integration
def test_real_ward_combined_conservation(real_ward):
    historical, recent = combine_mps_ward(real_ward)
    assert historical.duplicates_by_month.index.tolist() == ["2024-02"]
    assert not historical.counts[s.MONTH].eq("2024-02").any()
    assert recent.duplicates_by_month.empty
    for frame in (historical, recent):
        assert (conserved(frame) == 0).all()


@pytest.mark.integration
def test_real_dashboard(real_dashboard, real_ward, shared_data):
    measures = real_dashboard.measures
    basket = {"domestic abuse", "hate crime", "knife crime", "gun crime"}
    assert basket <= set(measures[s.MEASURE].unique())
    assert not (real_dashboard.rejects[s.REASON] == s.REASON_UNKNOWN_CATEGORY).any()
    assert (conserved(real_dashboard) == 0).all()
    codes = measures[s.WARD_CODE]
    assert codes.str.match(r"E05\d{6}$").mean() > 0.99
    # every 2022 ward appears; the other E05 codes are retired wards marked "(NOT ACTIVE)"
    assert set(real_ward[1].counts[s.WARD_CODE].unique()) <= set(codes.unique())
    monthly = measures[measures[s.MEASURE] == "domestic abuse"].groupby(s.MONTH)[s.COUNT].sum()
    assert len(monthly) == 48
    assert monthly.between(6_000, 10_000).all()  # about 7,800 domestic abuse offences a month
    # the ward rows (unknown areas included) add up to the file's own borough totals
    raw = pd.read_parquet(shared_data / "ward_crime" / DASHBOARD)
    borough = raw[
        (raw["area_type"] == "Borough")
        & (raw["measure"] == "Offences")
        & (raw["crime_type"] == "Domestic Abuse")
        & (raw["crime_subtype"] == "Domestic Abuse")
    ]
    expected = borough.groupby(borough["month_year"].dt.strftime("%Y-%m"))["count"].sum()
    assert monthly.to_dict() == expected.to_dict()
