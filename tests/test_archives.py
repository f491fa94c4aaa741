"""Archives read within limits (issue 14, item 5): a decompression bomb is refused in time.

The bombs are built here: gzip members of zeros repeated (a gzip file may hold several
streams end to end), so that a 3 MB ``.tar.gz`` inflates to 2.5 GB. Each must be refused
while it inflates, long before the 2.5 GB, with a message naming the archive, the limit and
the setting that raises it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import tarfile
import time
from pathlib import Path

import pytest

from planner.errors import DataError
from planner.ingest.sources import police_uk_api
from planner.ingest.sources.archives import ARCHIVE_LIMITS, ArchiveLimits, members
from planner.ingest.sources.police_uk_api import read_api_json
from tests.factories import api_archive, api_crime, grid_dataset

CHUNK = 64 * 1024 * 1024  # zeros per gzip stream
SETTING = "ARCHIVE_LIMITS in planner/ingest/sources/archives.py"


def _zeros_gz(n: int, made: dict[int, bytes] = {}) -> bytes:  # noqa: B006 - a cache
    if n not in made:
        made[n] = gzip.compress(bytes(n), compresslevel=9)
    return made[n]


def bomb(path: Path, *, members_of: int, total: int) -> Path:
    """A ``.tar.gz`` whose members (each *members_of* bytes of zeros) inflate to *total*."""
    zeros = _zeros_gz(CHUNK)
    with path.open("wb") as out:
        written = 0
        k = 0
        while written < total:
            info = tarfile.TarInfo(f"bomb/crime_{k}.json")
            info.size = min(members_of, total - written)
            out.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
            for _ in range(info.size // CHUNK):
                out.write(zeros)
            out.write(_zeros_gz(info.size % CHUNK + -info.size % 512))
            written += info.size
            k += 1
        out.write(gzip.compress(bytes(1024)))  # the tar end
    return path


def _config(tmp_path: Path):
    return grid_dataset(tmp_path, [])


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("members_of", "limit"),
    [
        pytest.param(2_500_000_000, "max_member_bytes", id="one-2.5GB-member"),
        pytest.param(100_000_000, "max_ratio", id="25-members-of-100MB"),
    ],
)
def test_a_3mb_archive_inflating_to_2_5gb_is_refused_within_its_limit(
    tmp_path: Path, members_of: int, limit: str
) -> None:
    path = bomb(
        tmp_path / "london_month_2017_01.tar.gz", members_of=members_of, total=2_500_000_000
    )
    assert path.stat().st_size < 4_000_000  # a 3 MB download
    before, started = _peak_mib(), time.perf_counter()
    config = _config(tmp_path)
    with pytest.raises(DataError) as info:
        read_api_json(path, categories=config.categories, checks=config.coordinates)
    message = str(info.value)
    assert message.startswith(f"{path}: refused: ")
    assert f"{limit} = " in message and SETTING in message
    assert "decompression bomb" in message
    # refused while inflating: seconds and megabytes, not the 2.5 GB
    assert time.perf_counter() - started < 10
    assert _peak_mib() - before < 200


def test_the_archive_limit_is_judged_while_inflating(tmp_path: Path) -> None:
    records = [api_crime(i) for i in range(20_000)]
    path = api_archive(tmp_path / "month.tar.gz", {f"w{k}.json": records for k in range(4)})
    small = ArchiveLimits(max_archive_bytes=4 * 1024 * 1024, max_ratio=1e9)
    with pytest.raises(
        DataError,
        match=r"month\.tar\.gz: refused: the archive inflates to more "
        r"than the limit of 4\.0 MiB \(max_archive_bytes = 4,194,304 bytes",
    ):
        list(members(path, suffix=".json", limits=small))
    assert len(list(members(path, suffix=".json"))) == 4  # within the shipped limits


def test_a_member_declaring_more_than_the_member_limit_is_refused_before_it_is_read(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = json.dumps([api_crime(1)] * 2000).encode()
        info = tarfile.TarInfo("m/big.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    plain = tmp_path / "answers.tar"
    plain.write_bytes(raw.getvalue())
    tight = ArchiveLimits(max_member_bytes=1000)
    with pytest.raises(
        DataError,
        match=r"answers\.tar: refused: member m/big\.json inflates .*"
        r"max_member_bytes = 1,000 bytes; member m/big\.json declares",
    ):
        list(members(plain, suffix=".json", limits=tight))


def test_a_small_archive_is_not_judged_by_its_ratio(tmp_path: Path) -> None:
    """Tar padding compresses a thousand times: a tiny archive must not look like a bomb."""
    path = api_archive(tmp_path / "tiny.tar.gz", {"a.json": [api_crime(1)], "b.json": b""})
    assert ARCHIVE_LIMITS.ratio_after_bytes > 10 * 1024
    names = [name for name, _ in members(path, suffix=".json")]
    assert names == ["tiny/a.json", "tiny/b.json"]


def test_the_process_pool_reads_as_this_process_does(tmp_path: Path, monkeypatch) -> None:
    """Archives read by worker processes give the same frame; a worker's error names its file."""
    folder = tmp_path / "api"
    folder.mkdir()
    for k, month in enumerate(["2017_01", "2017_02", "2017_03"]):
        records = [api_crime(100 * k + i, month.replace("_", "-")) for i in range(50)]
        records.append(api_crime(1, month.replace("_", "-")))  # in every month: a duplicate
        api_archive(folder / f"london_month_{month}.tar.gz", {"a.json": records, "b.json": b""})
    config = _config(tmp_path)

    def read(workers: int):
        return read_api_json(
            folder, categories=config.categories, checks=config.coordinates, workers=workers
        )

    alone = read(1)
    monkeypatch.setattr(police_uk_api, "_POOL_MIN_BYTES", 0)
    pooled = read(2)
    assert alone.incidents.equals(pooled.incidents)
    assert alone.duplicates_by_month.to_dict() == pooled.duplicates_by_month.to_dict() != {}
    assert [e.name for e in alone.empty_files] == [e.name for e in pooled.empty_files]
    (folder / "london_month_2017_02.tar.gz").write_bytes(b"<html>Service unavailable</html>")
    with pytest.raises(DataError, match=r"london_month_2017_02\.tar\.gz: expected a \.tar\.gz"):
        read(2)


_PARENT = os.getpid()
_READ = police_uk_api._read_batch


def _dies_in_a_worker(task):
    """As the reader's worker function, but a worker reading 2017-02 is killed."""
    if os.getpid() != _PARENT and task[0].endswith("2017_02.tar.gz"):
        os._exit(9)
    return _READ(task)


def test_a_killed_worker_leaves_the_rest_read_in_this_process(tmp_path: Path, monkeypatch):
    folder = tmp_path / "api"
    folder.mkdir()
    for k, month in enumerate(["2017_01", "2017_02", "2017_03"]):
        records = [api_crime(100 * k + i, month.replace("_", "-")) for i in range(20)]
        api_archive(folder / f"london_month_{month}.tar.gz", {"a.json": records})
    config = _config(tmp_path)
    monkeypatch.setattr(police_uk_api, "_POOL_MIN_BYTES", 0)
    monkeypatch.setattr(police_uk_api, "_read_batch", _dies_in_a_worker)
    frame = read_api_json(folder, categories=config.categories, checks=config.coordinates)
    assert frame.read_by_month.to_dict() == {"2017-01": 20, "2017-02": 20, "2017-03": 20}


def test_the_limits_set_in_planner_toml_apply_to_ingest(tmp_path):
    """``[limits] max_archive_mb`` reaches ingest, and its refusal names that key."""
    import dataclasses

    from planner.config import SourceSpec, UploadLimits
    from planner.ingest import ingest
    from tests.factories import ward_centre_lonlat

    config = grid_dataset(tmp_path, [SourceSpec(kind="police_uk_api", path="api")])
    folder = Path(config.data_dir) / "api"
    folder.mkdir()
    records = [api_crime(k, lonlat=ward_centre_lonlat("E05000001")) for k in range(200)]
    api_archive(folder / "month.tar.gz", {"a.json": records})
    assert ingest(config, use_cache=False).ward_counts["count"].sum() == 200
    tight = dataclasses.replace(config, limits=UploadLimits(max_archive_mb=0.01))
    with pytest.raises(
        DataError,
        match=r"max_archive_mb = 0\.01; .*raise max_archive_mb in planner\.toml \[limits\]",
    ):
        ingest(tight, use_cache=False)


def test_the_archives_decode_while_the_wards_are_read_and_stop_on_a_ward_error(
    tmp_path, monkeypatch
):
    """Ingest starts the API pool before reading the wards (the two overlap); when the ward
    file turns out unusable, the pool is stopped: no worker process is left behind."""
    import multiprocessing

    from planner.config import SourceSpec
    from planner.ingest import ingest
    from planner.ingest.sources import wards as wards_module
    from tests.factories import ward_centre_lonlat

    config = grid_dataset(tmp_path, [SourceSpec(kind="police_uk_api", path="api")])
    folder = Path(config.data_dir) / "api"
    folder.mkdir()
    where = ward_centre_lonlat("E05000001")
    for month in ("2017_01", "2017_02", "2017_03"):
        records = [api_crime(int(month[-2:]) * 1000 + k, lonlat=where) for k in range(50)]
        api_archive(folder / f"london_month_{month}.tar.gz", {"a.json": records})
    monkeypatch.setattr(police_uk_api, "_POOL_MIN_BYTES", 0)
    read_wards = wards_module.read_dataset_wards
    seen: list[int] = []

    def wards_read_with_the_pool_running(*args, **kwargs):
        seen.append(len(multiprocessing.active_children()))
        return read_wards(*args, **kwargs)

    monkeypatch.setattr(wards_module, "read_dataset_wards", wards_read_with_the_pool_running)
    assert ingest(config, use_cache=False).ward_counts["count"].sum() == 150
    assert seen == [2]  # both decoders were at work while the wards were read

    def broken(*args, **kwargs):
        raise DataError("wards/grid.geojson: the ward file is damaged")

    monkeypatch.setattr(wards_module, "read_dataset_wards", broken)
    with pytest.raises(DataError, match="the ward file is damaged"):
        ingest(config, use_cache=False)
    assert multiprocessing.active_children() == []
