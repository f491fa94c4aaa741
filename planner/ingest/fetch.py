"""Fill the data folder: download the official files, or import a local copy.

Two ways in, one layout (the one ``../shared/data`` uses):

- :func:`fetch` downloads every ``[[source]]`` of ``config/sources.toml`` with urllib. It
  checks first, in seconds, that the network answers at all; offline it stops at once with
  a :class:`~planner.errors.FetchError` that points at ``planner fetch --from DIR``.
- :func:`import_local` copies a mirror (``planner fetch --from ../shared/data``).

Every file is written to a temporary name beside its target and renamed when complete, so a
failed or interrupted run never leaves half a file. Both return a :class:`FetchReport`: one
row per file with its size, sha256 and status, which :meth:`FetchReport.write_manifest`
records as ``fetch_manifest.json``.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import http.client
import io
import json
import logging
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from tqdm import tqdm

from planner.config import ExtractRule, FetchItem, PlannerConfig
from planner.errors import ConfigError, FetchError
from planner.files import atomic_path, sha256_file

__all__ = [
    "MANIFEST_NAME",
    "MIRROR_FOLDERS",
    "FetchReport",
    "FetchedFile",
    "fetch",
    "import_local",
]

logger = logging.getLogger(__name__)

SOURCES_FILE = "sources.toml"
MANIFEST_NAME = "fetch_manifest.json"
MIRROR_FOLDERS: tuple[str, ...] = (
    "wards",
    "boroughs",
    "incidents",
    "ward_crime",
    "borough_crime",
    "lsoa_crime",
    "lookups",
    "population",
    "deprivation",
    "pas",
    "small_areas",
)
"""Top-level folders of a data mirror; everything under them is imported."""
_MIRROR_FILES = ("SOURCES.md",)  # provenance notes at a mirror's top level, imported too
_SKIP_NAMES = ("README.md",)  # the project's own data/**/README.md are never overwritten

Status = Literal["downloaded", "copied", "linked", "unchanged", "failed"]
USER_AGENT = "london-ward-planner/0.1 (planner fetch; +https://www.python.org urllib)"
_CHUNK = 1 << 20
_MAX_PAGES = 500
_OFFLINE_HINT = (
    "no network? Import a local copy instead: planner fetch --from DIR (e.g. --from ../shared/data)"
)
_NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)


@dataclass(frozen=True)
class FetchedFile:
    """One row of a :class:`FetchReport`."""

    path: str  # relative to the data folder, with "/"
    size: int
    sha256: str
    status: Status
    source: str  # the URL (``#member`` for an archive member) or the copied file
    name: str = ""  # the [[source]] it came from; empty for a local import
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        row = {"path": self.path, "bytes": self.size, "sha256": self.sha256}
        row |= {"status": self.status, "source": self.source}
        return row | {k: v for k, v in (("name", self.name), ("error", self.error)) if v}


@dataclass
class FetchReport:
    """What a fetch or an import did, file by file."""

    dest: Path
    mode: Literal["fetch", "import"]
    source: str  # "network" or the mirror folder
    files: list[FetchedFile] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def failed(self) -> list[FetchedFile]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def ok(self) -> bool:
        """True if no file failed."""
        return not self.failed

    def counts(self) -> dict[str, int]:
        """Number of files per status."""
        out: dict[str, int] = {}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def summary(self) -> str:
        """One line for a log or a terminal, e.g. ``"12 copied, 3 unchanged, 0 failed"``."""
        counts = self.counts()
        parts = [f"{n} {s}" for s, n in counts.items() if s != "failed"]
        total = sum(f.size for f in self.files)
        return (
            f"{', '.join(parts) or 'nothing'}, {counts.get('failed', 0)} failed ({total:,} bytes)"
        )

    def write_manifest(self, path: str | Path | None = None) -> Path:
        """Write the report as JSON, atomically.

        Parameters
        ----------
        path
            Where to write; default ``<dest>/fetch_manifest.json``.

        Returns
        -------
        Path
            The file written.
        """
        target = Path(path) if path is not None else self.dest / MANIFEST_NAME
        payload = {
            "created": self.created,
            "mode": self.mode,
            "source": self.source,
            "dest": str(self.dest),
            "counts": self.counts(),
            "files": [f.to_dict() for f in self.files],
        }
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
        return target


# --- fetch -----------------------------------------------------------------------------------


def fetch(
    config: PlannerConfig,
    *,
    dest: Path | None = None,
    names: Sequence[str] | None = None,
    progress: bool = True,
    timeout: float = 10.0,
    opener: urllib.request.OpenerDirector | None = None,
) -> FetchReport:
    """Download the official files of ``config/sources.toml`` into the data folder.

    Parameters
    ----------
    config
        The planner configuration: the downloads are ``config.sources.items`` (``sources.toml``,
        checked by :func:`planner.config.load_config`).
    dest
        The data folder; default ``config.data_dir``.
    names
        The ``[[source]]`` names to fetch; default every source not marked ``optional``.
    progress
        Show tqdm progress bars on stderr (only when it is a terminal).
    timeout
        Seconds to wait for a connection or a read before giving up.
    opener
        The urllib opener to use; default :func:`urllib.request.build_opener`.

    Returns
    -------
    FetchReport
        One row per file. A source that could not be fetched (HTTP error, host that stopped
        answering, archive without the expected members) is a ``failed`` row with the reason,
        and the other sources are still fetched.

    Raises
    ------
    FetchError
        The first server cannot be reached (no network, DNS failure, refused or timed-out
        connection): raised within about ``timeout`` seconds, naming ``--from``. Also raised
        when a file's sha256 differs from the one in ``sources.toml``; nothing is replaced.
    ConfigError
        *names* has a name ``sources.toml`` does not define.
    """
    where = config.file("sources")
    items = _select(list(config.sources.items), names, where)
    root = Path(dest) if dest is not None else config.data_dir
    report = FetchReport(dest=root, mode="fetch", source="network")
    if not items:
        logger.warning("nothing to fetch: %s selects no source", where)
        return report
    session = _Session(opener or urllib.request.build_opener(), timeout, progress)
    _check_reachable(items[0].api or items[0].url, timeout, session.proxies)
    root.mkdir(parents=True, exist_ok=True)
    for item in items:
        rows = _fetch_item(item, root, session, where)
        for row in rows:
            log = logger.warning if row.status == "failed" else logger.info
            log("%s %s%s", row.status, row.path, f": {row.error}" if row.error else "")
        report.files.extend(rows)
    logger.info("fetch into %s: %s", root, report.summary())
    return report


def _select(items: list[FetchItem], names: Sequence[str] | None, where: Path) -> list[FetchItem]:
    if names is None:
        return [i for i in items if not i.optional]
    known = {i.name: i for i in items}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"no source called {', '.join(map(repr, unknown))} in {where}; "
            f"known: {', '.join(known)}"
        )
    return [known[n] for n in dict.fromkeys(names)]


class _Session:
    """The opener plus what a run learns: unreachable hosts, Datastore records already read."""

    def __init__(self, opener: urllib.request.OpenerDirector, timeout: float, progress: bool):
        self.opener, self.timeout, self.progress = opener, timeout, progress
        self.dead_hosts: dict[str, str] = {}
        self._records: dict[str, Any] = {}
        handlers = getattr(opener, "handlers", [])
        proxy = next((h for h in handlers if isinstance(h, urllib.request.ProxyHandler)), None)
        self.proxies: dict[str, str] = dict(getattr(proxy, "proxies", {}) or {})

    def open(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        return self.opener.open(request, timeout=self.timeout)

    def json(self, url: str, *, cache: bool = False) -> Any:
        if cache and url in self._records:
            return self._records[url]
        with self.open(url) as response:
            data = json.load(response)
        if cache:
            self._records[url] = data
        return data


def _check_reachable(url: str, timeout: float, proxies: Mapping[str, str]) -> None:
    """Resolve and connect to *url*'s host (or its proxy) once, within *timeout* seconds."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = proxies.get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "//" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname or "", proxy_parts.port or 80
    start = time.monotonic()
    try:
        _resolve(host, port, timeout)
        remaining = max(timeout - (time.monotonic() - start), 0.5)  # one deadline for both steps
        with socket.create_connection((host, port), timeout=remaining):
            pass
    except OSError as exc:
        raise FetchError(
            f"cannot reach {host} ({_reason(exc, timeout)}): {_OFFLINE_HINT}"
        ) from None


def _resolve(host: str, port: int, timeout: float) -> None:
    """getaddrinfo with a deadline: a resolver that never answers must not hang the run."""
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise TimeoutError(f"name lookup gave no answer within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def _reason(exc: BaseException, timeout: float) -> str:
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(inner, socket.gaierror):
        return f"name lookup failed: {inner.strerror or inner}"
    if isinstance(inner, TimeoutError):
        return str(inner) if str(inner) not in ("", "timed out") else f"no answer in {timeout:g} s"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    return str(inner) or type(inner).__name__


def _fetch_item(item: FetchItem, root: Path, session: _Session, where: Path) -> list[FetchedFile]:
    host = urlsplit(item.api or item.url).netloc
    if host in session.dead_hosts:
        reason = f"skipped: {host} stopped answering earlier ({session.dead_hosts[host]})"
        return [_failed(item, item.url, reason)]
    url = item.url
    try:
        url = _current_url(item, session)
        if item.query == "arcgis":
            return [_fetch_arcgis(item, url, root, session)]
        if item.archive:
            return _fetch_archive(item, url, root, session)
        return [_fetch_file(item, url, root, session)]
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        return [_failed(item, url, _http_message(item, url, exc, where))]
    except _NETWORK_ERRORS as exc:
        session.dead_hosts[host] = _reason(exc, session.timeout)
        reason = f"network error from {host}: {session.dead_hosts[host]}; {_OFFLINE_HINT}"
        return [_failed(item, url, reason)]
    except (OSError, ValueError, zipfile.BadZipFile, _SourceProblem) as exc:
        return [_failed(item, url, str(exc) or type(exc).__name__)]


class _SourceProblem(Exception):
    """A download arrived but is not what sources.toml describes."""


def _failed(item: FetchItem, url: str, reason: str) -> FetchedFile:
    path = item.dest or (item.extract[0].to if item.extract else item.name)
    return FetchedFile(path, 0, "", "failed", source=url, name=item.name, error=reason)


def _http_message(item: FetchItem, url: str, exc: urllib.error.HTTPError, where: Path) -> str:
    message = f"HTTP {exc.code} {exc.reason} from {url}"
    if exc.code in (404, 410):
        message += (
            f". The address may have changed (the London Datastore gives each re-published file "
            f"a new one): find the current link on {item.page or 'the publisher page'}, put it in "
            f"{where} (name = {item.name!r}), or import a local copy: planner fetch --from DIR"
        )
    return message


def _current_url(item: FetchItem, session: _Session) -> str:
    """The newest matching resource of a London Datastore record, else ``item.url``."""
    if not (item.api and item.resource):
        return item.url
    try:
        record = session.json(item.api, cache=True)
    except (urllib.error.HTTPError, ValueError) as exc:
        logger.warning("%s: cannot read %s (%s); using %s", item.name, item.api, exc, item.url)
        return item.url
    found = _newest_resource(record, item.resource)
    if found is None:
        logger.warning(
            "%s: no resource of %s has a file name containing %r; using %s",
            item.name, item.api, item.resource, item.url,
        )  # fmt: skip
        return item.url
    return urljoin(item.api, found)


def _newest_resource(record: Any, wanted: str) -> str | None:
    resources = record.get("resources") if isinstance(record, Mapping) else None
    values = resources.values() if isinstance(resources, Mapping) else resources or []
    wanted = wanted.casefold()
    matches = []
    for res in values:
        if not (isinstance(res, Mapping) and isinstance(res.get("url"), str)):
            continue
        file_name = unquote(urlsplit(res["url"]).path.rsplit("/", 1)[-1])
        names = (file_name, str(res.get("title") or ""), str(res.get("filename") or ""))
        if any(wanted in n.casefold() for n in names):
            matches.append(res)
    if not matches:
        return None

    def newest(res: Mapping[str, Any]) -> tuple[str, str]:
        to = res.get("temporal_coverage_to") or res.get("timeframeTo") or ""
        stamp = res.get("check_timestamp") or res.get("timestamp") or res.get("updatedAt") or ""
        return str(to), str(stamp)

    return str(max(matches, key=newest)["url"])


def _fetch_file(item: FetchItem, url: str, root: Path, session: _Session) -> FetchedFile:
    assert item.dest is not None  # checked when sources.toml is loaded
    target = root / item.dest
    before = sha256_file(target) if target.is_file() else None
    if item.sha256 and before == item.sha256:
        size = target.stat().st_size
        return FetchedFile(item.dest, size, before, "unchanged", source=url, name=item.name)
    with session.open(url) as response:
        size, digest = _save_response(response, target, item, url, session.progress)
    status: Status = "unchanged" if digest == before else "downloaded"
    return FetchedFile(item.dest, size, digest, status, source=url, name=item.name)


def _save_response(
    response: Any, target: Path, item: FetchItem, url: str, progress: bool
) -> tuple[int, str]:
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    with _bar(total, item.name, progress) as bar:
        return _stream_to(response, target, bar=bar, size=total, sha256=item.sha256, what=url)


def _stream_to(
    src: BinaryIO,
    target: Path,
    *,
    bar: tqdm,
    size: int | None = None,
    sha256: str | None = None,
    what: str = "",
) -> tuple[int, str]:
    """Copy *src* to *target* through a temporary file, hashing; check size and checksum."""
    digest = hashlib.sha256()
    written = 0
    with atomic_path(target) as tmp, tmp.open("wb") as out:
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            bar.update(len(chunk))
        if size is not None and written != size:
            raise _SourceProblem(f"{what}: transfer ended after {written:,} of {size:,} bytes")
        if sha256 and digest.hexdigest() != sha256:
            raise FetchError(
                f"{what}: sha256 is {digest.hexdigest()}, but {SOURCES_FILE} expects {sha256}; "
                f"{target} was left as it was. The publisher may have released a new version: "
                "check it, then update or remove that sha256"
            )
    return written, digest.hexdigest()


def _bar(total: int | None, desc: str, progress: bool, unit: str = "B") -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        disable=None if progress else True,
        leave=False,
    )


def _fetch_archive(item: FetchItem, url: str, root: Path, session: _Session) -> list[FetchedFile]:
    keep = item.dest is not None
    before = None
    if item.dest is not None:
        zip_path = root / item.dest
        before = sha256_file(zip_path) if zip_path.is_file() else None
    else:
        fd, name = tempfile.mkstemp(prefix=f".{item.name}.", suffix=".zip.tmp", dir=root)
        os.close(fd)
        zip_path = Path(name)
    try:
        with session.open(url) as response:
            size, digest = _save_response(response, zip_path, item, url, session.progress)
        rows = []
        if item.dest is not None:
            status: Status = "unchanged" if digest == before else "downloaded"
            rows.append(FetchedFile(item.dest, size, digest, status, url, item.name))
        return rows + _extract(item, zip_path, url, root, session.progress)
    finally:
        if not keep:
            zip_path.unlink(missing_ok=True)


def _extract(
    item: FetchItem, zip_path: Path, url: str, root: Path, progress: bool
) -> list[FetchedFile]:
    with zipfile.ZipFile(zip_path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        plan = [(rule, _members_for(rule, members, url)) for rule in item.extract]
        rows = []
        with _bar(sum(m.file_size for _, ms in plan for m in ms), item.name, progress) as bar:
            for rule, matched in plan:
                for member in matched:
                    name = PurePosixPath(member.filename).name
                    rel = rule.to + name if rule.to.endswith("/") else rule.to
                    target = root / rel
                    before = sha256_file(target) if target.is_file() else None
                    with archive.open(member) as src:
                        size, digest = _stream_to(src, target, bar=bar, size=member.file_size)
                    status: Status = "unchanged" if digest == before else "downloaded"
                    source = f"{url}#{member.filename}"
                    rows.append(FetchedFile(rel, size, digest, status, source, item.name))
    return rows


def _members_for(
    rule: ExtractRule, members: list[zipfile.ZipInfo], url: str
) -> list[zipfile.ZipInfo]:
    matched = [m for m in members if fnmatch.fnmatchcase(m.filename, rule.member)]
    if not matched:
        some = ", ".join(m.filename for m in members[:8])
        raise _SourceProblem(
            f"no member of {url} matches {rule.member!r} ({len(members)} members, e.g. {some}); "
            f"correct the extract rule in {SOURCES_FILE}"
        )
    if len(matched) > 1 and not rule.to.endswith("/"):
        raise _SourceProblem(
            f"{rule.member!r} matches {len(matched)} members of {url} but 'to' = {rule.to!r} "
            "names one file; end 'to' with '/' to keep them all in a folder"
        )
    return matched


def _fetch_arcgis(item: FetchItem, url: str, root: Path, session: _Session) -> FetchedFile:
    """Page through an ArcGIS FeatureServer query and write one GeoJSON (or CSV)."""
    assert item.dest is not None
    features: list[Any] = []
    with _bar(None, item.name, session.progress, unit=" features") as bar:
        for _ in range(_MAX_PAGES):
            page_url = _with_params(url, resultOffset=len(features)) if features else url
            page = session.json(page_url)
            if not isinstance(page, Mapping) or "error" in page:
                detail = page.get("error") if isinstance(page, Mapping) else page
                raise _SourceProblem(f"{page_url}: ArcGIS answered with an error: {detail}")
            batch = page.get("features") or []
            features += batch
            bar.update(len(batch))
            more = page.get("exceededTransferLimit") or (page.get("properties") or {}).get(
                "exceededTransferLimit"
            )
            if not batch or not more:
                break
        else:
            raise _SourceProblem(f"{url}: still more features after {_MAX_PAGES} pages")
    if item.dest.lower().endswith(".csv"):
        data = _attributes_csv(features)
    else:
        collection = {"type": "FeatureCollection", "features": features}
        data = json.dumps(collection, ensure_ascii=False).encode("utf-8")
    target = root / item.dest
    before = sha256_file(target) if target.is_file() else None
    with _bar(len(data), item.name, False) as bar:
        size, digest = _stream_to(io.BytesIO(data), target, bar=bar, sha256=item.sha256, what=url)
    status: Status = "unchanged" if digest == before else "downloaded"
    return FetchedFile(item.dest, size, digest, status, source=url, name=item.name)


def _with_params(url: str, **params: object) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: str(v) for k, v in params.items()})
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="*,")))


def _attributes_csv(features: Iterable[Mapping[str, Any]]) -> bytes:
    rows = [dict(f.get("properties") or f.get("attributes") or {}) for f in features]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


# --- import from a local mirror --------------------------------------------------------------


def import_local(
    src: str | Path,
    dest: str | Path,
    *,
    progress: bool = True,
    link: bool = False,
    sources: Sequence[FetchItem] = (),
) -> FetchReport:
    """Copy a local mirror of the data folder (e.g. ``../shared/data``) into *dest*.

    Every file under the mirror's known top-level folders (:data:`MIRROR_FOLDERS`), its
    ``SOURCES.md``, and any ``dest`` path of *sources* is copied to the same relative path.
    Hidden files and ``README.md`` files are skipped (the data folder's own READMEs stay).

    Parameters
    ----------
    src
        The mirror.
    dest
        The data folder to fill.
    progress
        Show a tqdm progress bar on stderr (only when it is a terminal).
    link
        Hard-link instead of copying where the file system allows (saves space; the mirror's
        files must then not be edited); falls back to a copy.
    sources
        ``[[source]]`` entries (``config.sources.items``) whose ``dest`` paths are imported
        even outside the known folders.

    Returns
    -------
    FetchReport
        One row per file: ``copied``, ``linked``, ``unchanged`` (same size and sha256 already
        there) or ``failed`` (with the reason).

    Raises
    ------
    FetchError
        *src* does not exist, is not a folder, holds none of the expected folders, is *dest*
        itself, or contains *dest*.
    """
    src_dir, dest_dir = Path(src).expanduser(), Path(dest).expanduser()
    extra = [t for item in sources for t in item.targets if not t.endswith("/")]
    _check_mirror(src_dir, dest_dir, extra)
    rel_paths = _mirror_files(src_dir, extra)
    report = FetchReport(dest=dest_dir, mode="import", source=str(src_dir))
    total = sum((src_dir / rel).stat().st_size for rel in rel_paths)
    with _bar(total, "import", progress) as bar:
        for rel in rel_paths:
            row = _import_file(src_dir / rel, dest_dir / rel, rel, link=link, bar=bar)
            logger.debug("%s %s", row.status, rel)
            report.files.append(row)
    for row in report.failed:
        logger.warning("failed %s: %s", row.path, row.error)
    logger.info("import %s -> %s: %s", src_dir, dest_dir, report.summary())
    return report


def _check_mirror(src: Path, dest: Path, extra: Sequence[str]) -> None:
    folders = ", ".join(f"{f}/" for f in MIRROR_FOLDERS)
    expected = f"a copy of the data folder holding some of {folders}"
    example = "e.g. planner fetch --from ../shared/data"
    if not src.exists():
        raise FetchError(f"--from {src}: no such folder. Expected {expected}; {example}")
    if not src.is_dir():
        raise FetchError(f"--from {src} is a file, not a folder. Expected {expected}")
    real_src, real_dest = src.resolve(), dest.resolve()
    if real_src == real_dest:
        raise FetchError(
            f"--from {src} is the data folder itself ({real_dest}): nothing to import. "
            f"Name the mirror to copy from, {example}"
        )
    if real_dest.is_relative_to(real_src):
        raise FetchError(
            f"the data folder {dest} lies inside --from {src}: the import would copy the mirror "
            "into itself. Choose a data folder outside the mirror"
        )
    if not any((src / f).is_dir() for f in MIRROR_FOLDERS) and not any(
        (src / p).is_file() for p in extra
    ):
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in src.iterdir())[:10]
        raise FetchError(
            f"--from {src}: none of the expected folders is there (found: "
            f"{', '.join(found) or 'nothing'}). Expected {expected}; {example}"
        )


def _mirror_files(src: Path, extra: Sequence[str]) -> list[str]:
    rel_paths = {name for name in _MIRROR_FILES if (src / name).is_file()}
    rel_paths |= {p for p in extra if (src / p).is_file()}
    for folder in MIRROR_FOLDERS:
        for dirpath, dirnames, filenames in os.walk(src / folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for file_name in filenames:
                path = Path(dirpath) / file_name
                if file_name.startswith(".") or file_name in _SKIP_NAMES or not path.is_file():
                    continue  # hidden, a README, or a broken link
                rel_paths.add(path.relative_to(src).as_posix())
    return sorted(rel_paths)


def _import_file(src: Path, target: Path, rel: str, *, link: bool, bar: tqdm) -> FetchedFile:
    try:
        size = src.stat().st_size
        if target.is_file() and target.stat().st_size == size:
            digest = sha256_file(src)
            if sha256_file(target) == digest:
                bar.update(size)
                return FetchedFile(rel, size, digest, "unchanged", source=str(src))
        if link and _hard_link(src, target):
            bar.update(size)
            return FetchedFile(rel, size, sha256_file(target), "linked", source=str(src))
        with src.open("rb") as handle:
            size, digest = _stream_to(handle, target, bar=bar, size=size, what=str(src))
        return FetchedFile(rel, size, digest, "copied", source=str(src))
    except (OSError, _SourceProblem) as exc:
        return FetchedFile(rel, 0, "", "failed", source=str(src), error=str(exc))


def _hard_link(src: Path, target: Path) -> bool:
    try:
        with atomic_path(target) as tmp:
            tmp.unlink()
            os.link(src, tmp)
    except OSError as exc:
        logger.debug("cannot hard-link %s (%s); copying", src, exc)
        return False
    return True
