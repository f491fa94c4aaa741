"""Empty inputs are data, not errors, and never zeros (issue 11, item 1).

The police.uk API answers some ward-months with an empty body, and collections of its answers
hold empty files. They are counted in the quality report (per source and month, with their
names) and their ward-months are "no data" in the coverage table, distinct from a true zero
(an answer of ``[]``). A truncated or corrupt archive is still an error, naming the archive and
the member, with advice that fits the cause.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zlib

import pandas as pd
import pytest

from planner import schema as s
from planner.config import SourceSpec
from planner.errors import DataError
from planner.ingest import ingest
from planner.ingest.coverage import ward_month_status
from planner.ingest.quality import format_quality
from planner.ingest.sources.police_uk import read_street_csv
from planner.ingest.sources.police_uk_api import read_api_json
from tests.factories import api_archive, api_crime, grid_dataset, ward_centre_lonlat

WARD_1, WARD_2, WARD_3, WARD_4 = (f"E05{k:06d}" for k in range(1, 5))
STREET_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,"
    "LSOA code,LSOA name,Crime type,Last outcome category,Context"
)


def at(code: str) -> tuple[float, float]:
    return ward_centre_lonlat(code)


def answers(month: str, ids: range) -> dict[str, object]:
    """One month of per-ward API answers: ward 1 empty (0 bytes), ward 2 a true zero ``[]``,
    wards 3 and 4 with records."""
    tag = month.replace("-", "_")
    return {
        f"crime_month_{tag}_area_{WARD_1}_0.json": b"",
        f"crime_month_{tag}_area_{WARD_2}_0.json": [],
        f"crime_month_{tag}_area_{WARD_3}_0.json": [
            api_crime(i, month, lonlat=at(WARD_3)) for i in ids
        ],
        f"crime_month_{tag}_area_{WARD_4}_0.json": [
            api_crime(1000 + i, month, lonlat=at(WARD_4)) for i in ids
        ],
    }


@pytest.fixture
def api_folder(tmp_path):
    folder = tmp_path / "data" / "api"
    folder.mkdir(parents=True)
    api_archive(folder / "london_month_2017_01.tar.gz", answers("2017-01", range(1, 6)))
    api_archive(folder / "london_month_2017_02.tar.gz", answers("2017-02", range(10, 13)))
    return folder


def test_an_empty_member_in_a_tar_gz_is_no_data_for_its_ward_month(tmp_path, api_folder):
    config = grid_dataset(tmp_path, [SourceSpec(kind="police_uk_api", path="api")])
    result = ingest(config, use_cache=False)
    (src,) = result.quality["sources"]
    empty = src["empty_files"]
    assert empty["count"] == 2
    assert sorted(empty["by_month"]) == ["2017-01", "2017-02"]
    assert empty["by_month"]["2017-01"] == [
        f"{api_folder}/london_month_2017_01.tar.gz:london_month_2017_01/"
        f"crime_month_2017_01_area_{WARD_1}_0.json"
    ]
    status = ward_month_status(result.coverage, s.PART_CRIME)
    assert not status.loc[WARD_1].any()  # the empty answer: no data, both months
    assert status.loc[[WARD_2, WARD_3, WARD_4]].all().all()  # [] is a true zero: data
    counts = result.ward_counts.astype({s.WARD_CODE: str})
    assert WARD_2 not in set(counts[s.WARD_CODE])  # ... with no row in ward_counts
    assert result.quality["conservation_ok"]
    by_month = pd.DataFrame(result.quality["by_month"])
    assert by_month.set_index(s.MONTH)["empty_files"].to_dict() == {"2017-01": 1, "2017-02": 1}
    text = format_quality(result.quality)
    assert "2 empty files (no data, not zero): 2017-01: 1 (" in text
    assert f"crime_month_2017_01_area_{WARD_1}_0.json" in text


def test_an_empty_file_in_a_folder_is_counted_not_passed_over(tmp_path):
    folder = tmp_path / "data" / "json"
    folder.mkdir(parents=True)
    (folder / f"crime_month_2017_03_area_{WARD_1}_0.json").write_bytes(b"")
    (folder / f"crime_month_2017_03_area_{WARD_2}_0.json").write_text(
        json.dumps([api_crime(1, "2017-03", lonlat=at(WARD_2))])
    )
    (folder / f"crime_month_2017_03_area_{WARD_3}_0.json").write_text("  \n")  # blank: empty
    config = grid_dataset(tmp_path, [SourceSpec(kind="police_uk_api", path="json")])
    result = ingest(config, use_cache=False)
    (src,) = result.quality["sources"]
    assert src["empty_files"]["count"] == 2
    assert {n.rsplit("/", 1)[-1] for n in src["empty_files"]["by_month"]["2017-03"]} == {
        f"crime_month_2017_03_area_{WARD_1}_0.json",
        f"crime_month_2017_03_area_{WARD_3}_0.json",
    }
    status = ward_month_status(result.coverage, s.PART_CRIME)["2017-03"]
    assert status.to_dict() == {WARD_1: False, WARD_2: True, WARD_3: False, WARD_4: True}


def test_an_empty_street_csv_is_a_month_without_data(tmp_path):
    folder = tmp_path / "data" / "street"
    folder.mkdir(parents=True)
    lon, lat = at(WARD_1)
    rows = [f"c{i},2024-01,Met,Met,{lon},{lat},X,E01,L,Burglary,," for i in range(3)]
    (folder / "2024-01-metropolitan-street.csv").write_text("\n".join([STREET_HEADER, *rows]))
    (folder / "2024-02-metropolitan-street.csv").write_text("")
    config = grid_dataset(tmp_path, [SourceSpec(kind="police_uk_csv", path="street")])
    result = ingest(config, use_cache=False)
    (src,) = result.quality["sources"]
    assert src["empty_files"]["by_month"] == {
        "2024-02": [str(folder / "2024-02-metropolitan-street.csv")]
    }
    assert src["months_without_data"] == ["2024-02"]
    status = ward_month_status(result.coverage, s.PART_CRIME)
    assert status["2024-01"].all() and not status["2024-02"].any()
    line = pd.DataFrame(result.quality["by_month"]).set_index(s.MONTH).loc["2024-02"]
    assert line["read"] == 0 and line["empty_files"] == 1 and line["balance"] == 0


def test_a_source_with_only_empty_files_is_an_error(tmp_path):
    folder = tmp_path / "street"
    folder.mkdir()
    (folder / "a.csv").write_text("")
    (folder / "b.csv").write_text("\n")
    config = grid_dataset(tmp_path, [])
    with pytest.raises(DataError, match=r"a\.csv: the file is empty .*and so are the other 1"):
        read_street_csv(folder, categories=config.categories, checks=config.coordinates)


def _big_archive(path, n=4000):
    records = [api_crime(i, lonlat=at(WARD_3)) for i in range(n)]
    return api_archive(path, {"first.json": records, "second.json": records})


def test_a_truncated_archive_names_archive_member_and_the_fix(tmp_path):
    data = _big_archive(tmp_path / "full.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    config = grid_dataset(tmp_path, [])
    with pytest.raises(DataError) as info:
        read_api_json(cut, categories=config.categories, checks=config.coordinates)
    message = str(info.value)
    assert f"{cut}: the archive is truncated or damaged after member " in message
    assert "it ends early: the file was cut short" in message
    assert "download it again" in message


def test_a_corrupt_archive_says_the_bytes_changed(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = json.dumps([api_crime(1)]).encode()
        info = tarfile.TarInfo("m/a.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    packed = bytearray(gzip.compress(raw.getvalue()))
    packed[-8] ^= 0xFF  # the CRC of the gzip trailer
    bad = tmp_path / "crc.tar.gz"
    bad.write_bytes(bytes(packed))
    config = grid_dataset(tmp_path, [])
    with pytest.raises(DataError) as info:
        read_api_json(bad, categories=config.categories, checks=config.coordinates)
    message = str(info.value)
    assert f"{bad}: the archive is truncated or damaged after member m/a.json" in message
    assert "compressed data are corrupt" in message and "re-create the archive" in message


def test_an_archive_member_that_is_a_web_page_says_so(tmp_path):
    archive = api_archive(
        tmp_path / "london_month_2017_01.tar.gz",
        {"ok.json": [api_crime(1)], "error.json": b"<!DOCTYPE html><html>Service unavailable"},
    )
    config = grid_dataset(tmp_path, [])
    with pytest.raises(
        DataError, match=r"error\.json: expected a JSON array of crimes .*a web page"
    ):
        read_api_json(archive, categories=config.categories, checks=config.coordinates)


def test_an_empty_archive_file_is_a_download_that_never_arrived(tmp_path):
    (tmp_path / "none.tar.gz").write_bytes(b"")
    config = grid_dataset(tmp_path, [])
    with pytest.raises(DataError, match=r"none\.tar\.gz: the archive is empty \(0 bytes\)"):
        read_api_json(
            tmp_path / "none.tar.gz", categories=config.categories, checks=config.coordinates
        )


def test_zlib_errors_are_not_swallowed_as_empty(tmp_path):
    """A member that is not gzip inside a .tar.gz name is neither empty nor silently skipped."""
    (tmp_path / "plain.tar.gz").write_bytes(zlib.compress(b"[]"))
    config = grid_dataset(tmp_path, [])
    with pytest.raises(DataError, match=r"plain\.tar\.gz: expected a \.tar\.gz archive"):
        read_api_json(
            tmp_path / "plain.tar.gz", categories=config.categories, checks=config.coordinates
        )
