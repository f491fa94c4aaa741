"""planner.ingest.fetch: the source list, downloads from a local HTTP server, local imports.

No test touches the internet: every URL points at 127.0.0.1.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import socket
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from planner.config import PlannerConfig, load_config
from planner.errors import ConfigError, FetchError
from planner.ingest.fetch import fetch
from planner.ingest.mirror import import_local
from planner.ingest.transfer import MANIFEST_NAME
from tests.factories import config_copy


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- fixtures --------------------------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus /arcgis/query: 5 features served 2 per page like ArcGIS."""

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/arcgis/query":
            return super().do_GET()
        offset = int(parse_qs(parts.query).get("resultOffset", ["0"])[0])
        feats = [
            {"type": "Feature", "geometry": None, "properties": {"WD22CD": f"E0500000{i}", "n": i}}
            for i in range(offset, min(offset + 2, 5))
        ]
        body = json.dumps(
            {"type": "FeatureCollection", "features": feats}
            | ({"properties": {"exceededTransferLimit": True}} if offset + 2 < 5 else {})
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A local HTTP server on 127.0.0.1 serving a temporary folder: (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=www))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def config_with_sources(tmp_path: Path, sources_toml: str) -> PlannerConfig:
    """The repository's configuration, with its own sources.toml, in a temporary folder."""
    return load_config(config_copy(tmp_path, sources=sources_toml)).with_data_dir(tmp_path / "data")


def sources_problems(tmp_path: Path, sources_toml: str) -> tuple[Path, str]:
    """(the sources.toml written, the ConfigError message load_config raises for it)."""
    cdir = config_copy(tmp_path, sources=sources_toml)
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    return cdir / "sources.toml", str(info.value)


def source(name: str, url: str, dest: str | None = None, **extra: object) -> str:
    lines = ["[[source]]", f'name = "{name}"', f'url = "{url}"']
    if dest is not None:
        lines.append(f'dest = "{dest}"')
    lines += ['publisher = "Test"', 'licence = "OGL v3.0"', 'description = "test file"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]  # JSON values are TOML
    return "\n".join(lines) + "\n"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the source list -------------------------------------------------------------------------


def test_repository_source_list_is_valid(config: PlannerConfig) -> None:
    items = config.sources.items
    names = [i.name for i in items]
    assert len(names) == len(set(names)) >= 15
    assert {"mps_ward_24m", "wards_2022_bgc_london", "statistical_gis_boundaries_london"} <= set(
        names
    )
    for item in items:
        assert item.url.startswith("https://"), item.name
        assert item.licence == "OGL v3.0", item.name
        assert item.targets, item.name
    ward = next(i for i in items if i.name == "mps_ward_24m")
    assert ward.dest == "ward_crime/MPS Ward Level Crime (most recent 24 months).csv"


@pytest.mark.integration
def test_repository_archive_targets_follow_the_mirror_layout(
    config: PlannerConfig, shared_data: Path
) -> None:
    """Where a fetched file is the same thing as the mirror's, it lands on the same path."""
    items = config.sources.items
    gis = next(i for i in items if i.name == "statistical_gis_boundaries_london")
    for rule in gis.extract:
        assert (shared_data / rule.to).is_dir(), rule.to
    imd = next(i for i in items if i.name == "imd2019_file1")
    assert (shared_data / imd.dest).is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"colour": "red"}, "unknown key 'colour'", id="unknown-key"),
        pytest.param({"archive": "zip"}, "needs 'extract' rules", id="archive-without-extract"),
        pytest.param({"archive": "tar"}, "not supported", id="unknown-archive"),
        pytest.param({"sha256": "abc"}, "64 lower-case hex", id="bad-sha"),
        pytest.param({"api": "https://x.test/api"}, "'api' and 'resource' go together", id="api"),
        pytest.param({"query": "arcgis"}, "f=geojson", id="arcgis-without-geojson"),
    ],
)
def test_source_list_rejects_bad_entries(tmp_path: Path, extra: dict, message: str) -> None:
    """load_config names the file, the entry and the key of a bad [[source]]."""
    text = source("a", "https://x.test/a.csv", "x/a.csv", **extra)
    path, error = sources_problems(tmp_path, text)
    entry = re.escape(f"{path} [[source]] #1 ('a')")
    assert re.search(rf"{entry}: [^\n]*{re.escape(message)}", error), error


def test_source_list_collects_every_problem(tmp_path: Path) -> None:
    text = (
        source("a", "https://x.test/a.csv", "../outside.csv")
        + source("a", "ftp://x.test/b.csv", "x/b.csv")
        + "[extra]\nkey = 1\n"
    )
    path, error = sources_problems(tmp_path, text)
    assert "3 problem(s)" in error
    assert f"{path}: unknown key 'extra'" in error
    assert f"{path} [[source]] #1 ('a'): 'dest' '../outside.csv'" in error
    assert f"{path} [[source]] #2 ('a'): 'url' should be an http(s) address" in error


def test_source_list_rejects_duplicate_names(tmp_path: Path) -> None:
    text = source("a", "https://x.test/a.csv", "x/a.csv") + source(
        "a", "https://x.test/b.csv", "x/b.csv"
    )
    path, error = sources_problems(tmp_path, text)
    assert f"{path}: two [[source]] entries are called 'a'" in error


def test_source_list_names_the_missing_file(tmp_path: Path) -> None:
    cdir = config_copy(tmp_path)
    (cdir / "sources.toml").unlink()
    with pytest.raises(ConfigError, match=rf"{re.escape(str(cdir / 'sources.toml'))}: not found"):
        load_config(cdir)


# --- fetch from a local server ---------------------------------------------------------------


def test_fetch_downloads_and_records_checksums(tmp_path, server, no_proxy_opener) -> None:
    www, base = server
    (www / "a.csv").write_bytes(b"x,y\n1,2\n")
    (www / "b.csv").write_bytes(b"b" * 50_000)
    text = source("a", f"{base}/a.csv", "ward_crime/a.csv") + source(
        "b", f"{base}/b.csv", "lookups/b.csv"
    )
    cfg = config_with_sources(tmp_path, text)
    report = fetch(cfg, progress=False, timeout=5, opener=no_proxy_opener)

    data = tmp_path / "data"
    assert [(f.path, f.status, f.size) for f in report.files] == [
        ("ward_crime/a.csv", "downloaded", 8),
        ("lookups/b.csv", "downloaded", 50_000),
    ]
    assert report.files[0].sha256 == sha(b"x,y\n1,2\n")
    assert (data / "lookups/b.csv").read_bytes() == b"b" * 50_000
    assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")]

    again = fetch(cfg, progress=False, timeout=5, opener=no_proxy_opener)
    assert {f.status for f in again.files} == {"unchanged"}

    manifest = json.loads(again.write_manifest().read_text())
    assert manifest["mode"] == "fetch"
    assert manifest["files"][0] | {"source": ""} == {
        "path": "ward_crime/a.csv",
        "bytes": 8,
        "sha256": sha(b"x,y\n1,2\n"),
        "status": "unchanged",
        "source": "",
        "name": "a",
    }


def test_fetch_sha_mismatch_raises_and_keeps_the_old_file(
    tmp_path, server, no_proxy_opener
) -> None:
    www, base = server
    (www / "a.csv").write_bytes(b"new release\n")
    cfg = config_with_sources(tmp_path, source("a", f"{base}/a.csv", "x/a.csv", sha256="0" * 64))
    old = tmp_path / "data" / "x" / "a.csv"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old release\n")
    with pytest.raises(FetchError, match=r"sha256 is \w+, but sources\.toml expects 0000"):
        fetch(cfg, progress=False, timeout=5, opener=no_proxy_opener)
    assert old.read_bytes() == b"old release\n"
    assert [p.name for p in old.parent.iterdir()] == ["a.csv"]


def test_fetch_known_sha_skips_the_download(tmp_path, server, no_proxy_opener) -> None:
    www, base = server
    (www / "a.csv").write_bytes(b"content\n")
    text = source("a", f"{base}/a.csv", "x/a.csv", sha256=sha(b"content\n"))
    cfg = config_with_sources(tmp_path, text)
    assert fetch(cfg, progress=False, opener=no_proxy_opener).files[0].status == "downloaded"
    (www / "a.csv").unlink()  # a second download would now fail
    assert fetch(cfg, progress=False, opener=no_proxy_opener).files[0].status == "unchanged"


def test_fetch_http_404_fails_that_source_only(tmp_path, server, no_proxy_opener) -> None:
    www, base = server
    (www / "b.csv").write_bytes(b"b\n")
    text = source("gone", f"{base}/gone.csv", "x/gone.csv", page="https://example.test/page")
    cfg = config_with_sources(tmp_path, text + source("b", f"{base}/b.csv", "x/b.csv"))
    report = fetch(cfg, progress=False, timeout=5, opener=no_proxy_opener)
    assert [f.status for f in report.files] == ["failed", "downloaded"]
    assert not report.ok
    error = report.failed[0].error
    assert "HTTP 404" in error and "https://example.test/page" in error and "--from" in error


def test_fetch_zip_extracts_the_named_members(tmp_path, server, no_proxy_opener) -> None:
    www, base = server
    with zipfile.ZipFile(www / "gis.zip", "w") as z:
        z.writestr("gis/ESRI/London_Ward.shp", b"shp")
        z.writestr("gis/ESRI/London_Ward.dbf", b"dbf")
        z.writestr("gis/ESRI/London_Ward_CityMerged.shp", b"merged")
        z.writestr("gis/MapInfo/London_Ward.tab", b"tab")
    extract = '[{ member = "*/ESRI/London_Ward.*", to = "wards/w2011/" }]'
    text = source("gis", f"{base}/gis.zip", archive="zip") + f"extract = {extract}\n"
    cfg = config_with_sources(tmp_path, text)
    report = fetch(cfg, progress=False, timeout=5, opener=no_proxy_opener)

    data = tmp_path / "data"
    assert sorted(f.path for f in report.files) == [
        "wards/w2011/London_Ward.dbf",
        "wards/w2011/London_Ward.shp",
    ]
    assert (data / "wards/w2011/London_Ward.shp").read_bytes() == b"shp"
    assert report.files[0].source.startswith(f"{base}/gis.zip#gis/ESRI/")
    assert sorted(p.name for p in data.iterdir()) == ["wards"]  # the zip itself is not kept


def test_fetch_zip_without_the_member_fails_with_the_pattern(
    tmp_path, server, no_proxy_opener
) -> None:
    www, base = server
    with zipfile.ZipFile(www / "gis.zip", "w") as z:
        z.writestr("other.txt", b"x")
    text = source("gis", f"{base}/gis.zip", archive="zip")
    text += 'extract = [{ member = "*/London_Ward.*", to = "wards/w/" }]\n'
    report = fetch(config_with_sources(tmp_path, text), progress=False, opener=no_proxy_opener)
    assert report.files[0].status == "failed"
    assert "'*/London_Ward.*'" in report.files[0].error and "other.txt" in report.files[0].error


def test_fetch_resolves_the_newest_datastore_resource(tmp_path, server, no_proxy_opener) -> None:
    www, base = server
    (www / "old.csv").write_bytes(b"old\n")
    (www / "new.csv").write_bytes(b"new\n")
    record = {
        "resources": {
            "r1": {
                "title": "Ward Crime (24).csv",
                "url": f"{base}/old.csv",
                "check_timestamp": "2025-01-01",
            },
            "r2": {
                "title": "Ward Crime (24).csv",
                "url": f"{base}/new.csv",
                "check_timestamp": "2025-06-01",
            },
            "r3": {
                "title": "Ward Crime (Historical).csv",
                "url": f"{base}/old.csv",
                "check_timestamp": "2025-09-01",
            },
        }
    }
    (www / "api.json").write_text(json.dumps(record))
    text = source(
        "w",
        f"{base}/stale.csv",
        "ward_crime/w.csv",
        api=f"{base}/api.json",
        resource="ward crime (24).csv",
    )
    report = fetch(config_with_sources(tmp_path, text), progress=False, opener=no_proxy_opener)
    assert report.files[0].status == "downloaded"
    assert report.files[0].source == f"{base}/new.csv"
    assert (tmp_path / "data/ward_crime/w.csv").read_bytes() == b"new\n"


def test_fetch_falls_back_to_url_when_the_record_is_missing(
    tmp_path, server, no_proxy_opener
) -> None:
    www, base = server
    (www / "a.csv").write_bytes(b"a\n")
    text = source("a", f"{base}/a.csv", "x/a.csv", api=f"{base}/no-api.json", resource="a.csv")
    report = fetch(config_with_sources(tmp_path, text), progress=False, opener=no_proxy_opener)
    assert (report.files[0].status, report.files[0].source) == ("downloaded", f"{base}/a.csv")


@pytest.mark.parametrize(
    ("dest", "check"),
    [
        pytest.param("wards/w.geojson", "geojson", id="geojson"),
        pytest.param("lookups/lu.csv", "csv", id="csv"),
    ],
)
def test_fetch_pages_through_an_arcgis_query(
    tmp_path, server, no_proxy_opener, dest: str, check: str
) -> None:
    _, base = server
    text = source("q", f"{base}/arcgis/query?where=1%3D1&f=geojson", dest, query="arcgis")
    report = fetch(config_with_sources(tmp_path, text), progress=False, opener=no_proxy_opener)
    assert report.files[0].status == "downloaded"
    written = (tmp_path / "data" / dest).read_bytes()
    assert report.files[0].sha256 == sha(written)
    if check == "geojson":
        codes = [f["properties"]["WD22CD"] for f in json.loads(written)["features"]]
        assert codes == [f"E0500000{i}" for i in range(5)]
    else:
        assert written.decode().splitlines() == ["WD22CD,n"] + [
            f"E0500000{i},{i}" for i in range(5)
        ]


def test_fetch_optional_sources_only_when_named(tmp_path, server, no_proxy_opener) -> None:
    www, base = server
    (www / "a.csv").write_bytes(b"a\n")
    (www / "big.csv").write_bytes(b"big\n")
    text = source("a", f"{base}/a.csv", "x/a.csv") + source(
        "big", f"{base}/big.csv", "x/big.csv", optional=True
    )
    cfg = config_with_sources(tmp_path, text)
    assert [f.name for f in fetch(cfg, progress=False, opener=no_proxy_opener).files] == ["a"]
    named = fetch(cfg, names=["big"], progress=False, opener=no_proxy_opener)
    assert [f.name for f in named.files] == ["big"]
    with pytest.raises(ConfigError, match=r"no source called 'nope' in .*; known: a, big"):
        fetch(cfg, names=["nope"], progress=False, opener=no_proxy_opener)


def test_fetch_skips_a_host_that_stopped_answering(tmp_path, server, no_proxy_opener) -> None:
    www, base = server
    (www / "a.csv").write_bytes(b"a\n")
    dead = f"http://localhost:{closed_port()}"
    text = source("a", f"{base}/a.csv", "x/a.csv") + source("b", f"{dead}/b.csv", "x/b.csv")
    text += source("c", f"{dead}/c.csv", "x/c.csv")
    report = fetch(config_with_sources(tmp_path, text), progress=False, opener=no_proxy_opener)
    assert [f.status for f in report.files] == ["downloaded", "failed", "failed"]
    assert "network error" in report.files[1].error and "--from" in report.files[1].error
    assert report.files[2].error.startswith("skipped: localhost:")


def test_fetch_offline_fails_fast_and_names_from(tmp_path, no_proxy_opener) -> None:
    port = closed_port()
    text = source("a", f"http://127.0.0.1:{port}/a.csv", "x/a.csv")
    cfg = config_with_sources(tmp_path, text)
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"cannot reach 127\.0\.0\.1 .*--from DIR"):
        fetch(cfg, progress=False, timeout=5, opener=no_proxy_opener)
    assert time.monotonic() - start < 5
    assert not (tmp_path / "data").exists()


# --- import from a local mirror --------------------------------------------------------------


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A tiny mirror laid out like ../shared/data, plus things that must not be imported."""
    src = tmp_path / "mirror"
    files = {
        "wards/london_wards_2018/London_Ward.shp": b"shp-bytes",
        "wards/london_wards_2018/London_Ward.dbf": b"dbf",
        "ward_crime/MPS Ward Level Crime (most recent 24 months).csv": b"MajorText,...\n",
        "incidents/street/2024-01-metropolitan-street.csv": b"Crime ID,Month\n",
        "SOURCES.md": b"# sources\n",
        "wards/README.md": b"a mirror's readme\n",
        "wards/.DS_Store": b"junk",
        "notes/private.txt": b"not part of the layout",
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    return src


IMPORTED = [
    "SOURCES.md",
    "incidents/street/2024-01-metropolitan-street.csv",
    "ward_crime/MPS Ward Level Crime (most recent 24 months).csv",
    "wards/london_wards_2018/London_Ward.dbf",
    "wards/london_wards_2018/London_Ward.shp",
]


def test_import_copies_the_layout_with_checksums(tmp_path: Path, mirror: Path) -> None:
    dest = tmp_path / "data"
    report = import_local(mirror, dest, progress=False)
    assert [f.path for f in report.files] == IMPORTED
    assert {f.status for f in report.files} == {"copied"}
    for row in report.files:
        data = (dest / row.path).read_bytes()
        assert data == (mirror / row.path).read_bytes()
        assert (row.sha256, row.size) == (sha(data), len(data))
    assert not (dest / "notes").exists() and not (dest / "wards" / "README.md").exists()

    manifest = json.loads(report.write_manifest().read_text())
    assert (dest / MANIFEST_NAME).is_file()
    assert manifest["mode"] == "import" and manifest["counts"] == {"copied": 5}


def test_import_second_run_is_unchanged_and_recopies_edits(tmp_path: Path, mirror: Path) -> None:
    dest = tmp_path / "data"
    import_local(mirror, dest, progress=False)
    assert {f.status for f in import_local(mirror, dest, progress=False).files} == {"unchanged"}

    (mirror / "wards/london_wards_2018/London_Ward.shp").write_bytes(b"shp-BYTES")  # same size
    statuses = {f.path: f.status for f in import_local(mirror, dest, progress=False).files}
    assert statuses["wards/london_wards_2018/London_Ward.shp"] == "copied"
    assert list(statuses.values()).count("unchanged") == 4
    assert (dest / "wards/london_wards_2018/London_Ward.shp").read_bytes() == b"shp-BYTES"


def test_import_link_shares_the_files(tmp_path: Path, mirror: Path) -> None:
    dest = tmp_path / "data"
    report = import_local(mirror, dest, progress=False, link=True)
    assert {f.status for f in report.files} == {"linked"}
    rel = "wards/london_wards_2018/London_Ward.shp"
    assert os.path.samefile(mirror / rel, dest / rel)
    assert report.files[-1].sha256 == sha(b"shp-bytes")


def test_import_takes_source_dest_paths_outside_the_known_folders(
    tmp_path: Path, mirror: Path
) -> None:
    (mirror / "extra").mkdir()
    (mirror / "extra/file.csv").write_bytes(b"1\n")
    cfg = config_with_sources(tmp_path, source("e", "https://x.test/f.csv", "extra/file.csv"))
    report = import_local(mirror, tmp_path / "data", progress=False, sources=cfg.sources.items)
    assert "extra/file.csv" in [f.path for f in report.files]


@pytest.mark.parametrize(
    ("src_name", "dest_name", "message"),
    [
        pytest.param("missing", "data", "missing: no such folder", id="missing"),
        pytest.param("empty", "data", "none of the expected folders", id="no-known-folder"),
        pytest.param("mirror", "mirror", "is the data folder itself", id="same-folder"),
        pytest.param("mirror", "mirror/data", "lies inside --from", id="dest-inside-src"),
    ],
)
def test_import_rejects_a_bad_source(
    tmp_path: Path, mirror: Path, src_name: str, dest_name: str, message: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/stray.txt").write_text("x")
    src = tmp_path / src_name
    with pytest.raises(FetchError, match=message) as info:
        import_local(src, tmp_path / dest_name, progress=False)
    assert str(src) in str(info.value)


@pytest.mark.integration
def test_import_from_the_shared_mirror_needs_no_network(tmp_path: Path, shared_data: Path) -> None:
    report = import_local(shared_data, tmp_path / "data", progress=False, link=True)
    assert report.ok and len(report.files) > 100
    assert (tmp_path / "data/wards/london_wards_2014/London_Ward.shp").is_file()


def test_fetch_months_keeps_only_the_newest_months_of_an_archive(
    tmp_path, server, no_proxy_opener
) -> None:
    """``planner fetch --months N`` (issue 11): of the police.uk archive's monthly street CSVs,
    only the newest N months are kept."""
    www, base = server
    with zipfile.ZipFile(www / "latest.zip", "w") as z:
        for month in ("2024-01", "2024-02", "2024-03"):
            z.writestr(f"{month}/{month}-metropolitan-street.csv", month.encode())
            z.writestr(f"{month}/{month}-kent-street.csv", b"not the Met")
    extract = '[{ member = "*/*-metropolitan-street.csv", to = "incidents/met/" }]'
    text = source("archive", f"{base}/latest.zip", archive="zip") + f"extract = {extract}\n"
    cfg = config_with_sources(tmp_path, text)
    report = fetch(cfg, progress=False, timeout=5, opener=no_proxy_opener, months=2)
    assert sorted(f.path for f in report.files) == [
        "incidents/met/2024-02-metropolitan-street.csv",
        "incidents/met/2024-03-metropolitan-street.csv",
    ]
    with pytest.raises(ConfigError, match=r"months should be a whole number of months >= 1"):
        fetch(cfg, progress=False, opener=no_proxy_opener, months=0)


def test_fetch_help_documents_the_archive_size_and_the_months_option(capsys) -> None:
    from planner.cli import main

    with pytest.raises(SystemExit):
        main(["fetch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "about 1.7 GB" in text and "--months N" in text
    assert "police_uk_archive_latest" in text
