"""The IMD workbook is parsed once and then read from the ingest cache, until it changes."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from planner.config.yardsticks import DeprivationSettings
from planner.errors import DataError
from planner.ingest.sources import deprivation


def _settings() -> DeprivationSettings:
    return DeprivationSettings(
        imd="imd.xlsx",
        sheet="IMD2019",
        lsoa_column="LSOA code (2011)",
        decile_column="IMD Decile",
        population_lsoa11="LSOA11CD",
        population_residents11="residents_2011",
    )


def _workbook(path, deciles: list[int]) -> None:
    table = pd.DataFrame(
        {"LSOA code (2011)": [f"E0100000{i}" for i in range(len(deciles))], "IMD Decile": deciles}
    )
    table.to_excel(path, sheet_name="IMD2019", index=False)


def test_the_workbook_is_read_once_then_from_the_cache(tmp_path, monkeypatch):
    book, cache = tmp_path / "imd.xlsx", tmp_path / "cache"
    _workbook(book, [1, 5, 10])
    first = deprivation._cached_imd(cache, book, _settings())
    assert list(first) == [1, 5, 10] and first.index[0] == "E01000000"
    assert len(list((cache / "yardsticks").glob("imd_*.csv"))) == 1

    def no_workbook(*args, **kwargs):
        raise AssertionError("the workbook was parsed again")

    monkeypatch.setattr(deprivation, "read_imd", no_workbook)
    again = deprivation._cached_imd(cache, book, _settings())
    assert again.equals(first)


def test_a_changed_workbook_is_read_again(tmp_path):
    book, cache = tmp_path / "imd.xlsx", tmp_path / "cache"
    _workbook(book, [1, 5, 10])
    deprivation._cached_imd(cache, book, _settings())
    _workbook(book, [2, 2, 2, 3])
    stat = book.stat()
    os.utime(book, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert list(deprivation._cached_imd(cache, book, _settings())) == [2, 2, 2, 3]


def test_a_damaged_cache_file_is_read_from_the_workbook_again(tmp_path):
    book, cache = tmp_path / "imd.xlsx", tmp_path / "cache"
    _workbook(book, [1, 5, 10])
    deprivation._cached_imd(cache, book, _settings())
    (entry,) = (cache / "yardsticks").glob("imd_*.csv")
    entry.write_text("lsoa11,decile\nE01000000,99\n", encoding="utf-8")
    assert list(deprivation._cached_imd(cache, book, _settings())) == [1, 5, 10]


def test_a_bad_decile_in_the_workbook_is_still_an_error(tmp_path):
    book = tmp_path / "imd.xlsx"
    _workbook(book, [1, 11])
    with pytest.raises(DataError, match="decile is not a whole number 1-10"):
        deprivation._cached_imd(tmp_path / "cache", book, _settings())
