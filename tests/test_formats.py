"""Formats named from their bytes (issue 11, item 6).

A reader of CSV (or JSON) given gzip, zip, xlsx, parquet, R data or UTF-16 content says what it
found, from the bytes whatever the file is called, and how to get what it needs, instead of
"re-save as UTF-8" or a column-count message.
"""

from __future__ import annotations

import gzip
import io
import zipfile

import pandas as pd
import pytest

from planner.errors import DataError
from planner.ingest.sources.mps import read_mps_ward
from planner.ingest.sources.police_uk import read_street_csv
from planner.ingest.sources.police_uk_api import read_api_json
from planner.ingest.sources.sniff import describe
from tests.factories import met_ward_csv

STREET = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context\n"
    "c1,2024-01,Met,Met,-0.1276,51.5080,On or near X,E01000001,L,Burglary,,\n"
)
MET = met_ward_csv([("BURGLARY", "BURGLARY BUSINESS AND COMMUNITY", "E05000001", [1])], ["202401"])
RDS = b"X\n\x00\x00\x00\x03\x00\x04\x02\x01\x00\x03\x05\x00" + b"\x00" * 40  # serialize() header


def _xlsx() -> bytes:
    out = io.BytesIO()
    pd.DataFrame({"a": [1, 2]}).to_excel(out, index=False)
    return out.getvalue()


def _parquet() -> bytes:
    out = io.BytesIO()
    pd.read_csv(io.StringIO(MET)).to_parquet(out, index=False)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("2024-01/2024-01-metropolitan-street.csv", STREET)
    return out.getvalue()


CASES = {
    "gzip": (lambda: gzip.compress(STREET.encode()), r"gzip-compressed data \(a \.gz file\)",
             r"decompress it \(gunzip FILE\)"),
    "rds": (lambda: gzip.compress(RDS), r"gzip-compressed R data \(an \.rds or \.RData file\)",
            r"readRDS\(\"FILE\.rds\"\)"),
    "zip": (_zip, r"a zip archive \(2024-01/2024-01-metropolitan-street\.csv\)",
            r"read zips whose name ends in \.zip"),
    "xlsx": (_xlsx, r"an Excel workbook \(\.xlsx\)", r"Save As > CSV UTF-8"),
    "parquet": (_parquet, r"a Parquet file", r"pandas\.read_parquet"),
    "utf16-no-bom": (lambda: STREET.encode("utf-16-le"),
                     r"UTF-16 text without a byte-order mark \(little-endian\)",
                     r"iconv -f UTF-16LE -t UTF-8"),
    "utf16-be-no-bom": (lambda: STREET.encode("utf-16-be"),
                        r"UTF-16 text without a byte-order mark \(big-endian\)",
                        r"iconv -f UTF-16BE -t UTF-8"),
    "utf16-bom": (lambda: STREET.encode("utf-16"), r"UTF-16 text \(little-endian, with a byte-order mark\)",
                  r"iconv -f UTF-16 -t UTF-8"),
}  # fmt: skip


@pytest.mark.parametrize(("make", "found", "fix"), CASES.values(), ids=CASES.keys())
def test_a_street_csv_that_is_something_else_is_named_from_its_bytes(
    tmp_path, config, make, found, fix
):
    path = tmp_path / "2024-01-metropolitan-street.csv"  # named as a CSV, whatever it holds
    path.write_bytes(make())
    with pytest.raises(DataError, match=rf"street\.csv: this is {found}, not a CSV text file; "):
        read_street_csv(path, categories=config.categories, checks=config.coordinates)
    with pytest.raises(DataError, match=fix):
        read_street_csv(path, categories=config.categories, checks=config.coordinates)


@pytest.mark.parametrize(
    ("make", "found", "fix"),
    [
        (CASES["rds"][0], CASES["rds"][1], r"write\.csv\(readRDS"),
        (CASES["utf16-no-bom"][0], CASES["utf16-no-bom"][1], r"UTF-16LE"),
        (_xlsx, CASES["xlsx"][1], r"Save As > CSV UTF-8"),
    ],
    ids=["rds", "utf16-no-bom", "xlsx"],
)
def test_a_met_ward_csv_that_is_something_else_is_named(tmp_path, config, make, found, fix):
    path = tmp_path / "MPS Ward Level Crime.csv"
    path.write_bytes(make())
    with pytest.raises(DataError, match=rf"Crime\.csv: this is {found}, not a CSV text file; "):
        read_mps_ward(path, categories=config.categories)
    with pytest.raises(DataError, match=fix):
        read_mps_ward(path, categories=config.categories)


def test_a_met_ward_file_of_parquet_bytes_named_csv_is_read_as_parquet(tmp_path, config):
    path = tmp_path / "MPS Ward Level Crime.csv"
    path.write_bytes(_parquet())
    frame = read_met_ward(path, config)
    assert int(frame.counts["count"].sum()) == 1


def read_met_ward(path, config):
    return read_mps_ward(path, categories=config.categories)


def test_an_rds_file_is_not_told_to_re_save_as_utf8(tmp_path, config):
    path = tmp_path / "crime.csv"
    path.write_bytes(gzip.compress(RDS))
    with pytest.raises(DataError) as info:
        read_street_csv(path, categories=config.categories, checks=config.coordinates)
    assert "UTF-8" not in str(info.value) and "iconv" not in str(info.value)


def test_an_api_json_that_is_utf16_says_so(tmp_path, config):
    path = tmp_path / "crime_month_2017_01_area_E05000001_0.json"
    path.write_bytes('[{"category": "burglary"}]'.encode("utf-16-le"))
    with pytest.raises(DataError, match=r"UTF-16 text without a byte-order mark"):
        read_api_json(path, categories=config.categories, checks=config.coordinates)


def test_plain_text_is_not_flagged():
    assert describe(STREET.encode()) is None
    assert describe(("\ufeff" + STREET).encode()) is None  # a UTF-8 byte-order mark is fine
    assert describe("Crime ID,Lieu,Café\n".encode()) is None
