"""Download the official files of ``config/sources.toml`` into the data folder.

:func:`fetch` downloads every ``[[source]]`` with urllib. It checks first, in seconds, that the
network answers at all; offline it stops at once with a :class:`~planner.errors.FetchError`
that points at ``planner fetch --from DIR`` (:func:`planner.ingest.mirror.import_local`). A
source is a plain file, a zip whose members are extracted, a London Datastore record (its
newest matching resource is looked up through the Datastore API) or an ArcGIS FeatureServer
query (paged through and written as one GeoJSON or CSV).

Every file is written to a temporary name beside its target and renamed when complete
(:func:`planner.ingest.transfer.stream_to`), so a failed or interrupted run never leaves half a
file. The result is a :class:`~planner.ingest.transfer.FetchReport`.
"""

from __future__ import annotations

import csv
import fnmatch
import http.client
import io
import json
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from planner.config import ExtractRule, FetchItem, PlannerConfig
from planner.errors import ConfigError, FetchError
from planner.files import sha256_file
from planner.ingest.network import OFFLINE_HINT, Session, check_reachable, failure_reason
from planner.ingest.transfer import (
    SOURCES_FILE,
    FetchedFile,
    FetchReport,
    SourceProblem,
    Status,
    progress_bar,
    stream_to,
)

__all__ = ["fetch"]

logger = logging.getLogger(__name__)

_MAX_PAGES = 500
_NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def fetch(
    config: PlannerConfig,
    *,
    dest: Path | None = None,
    names: Sequence[str] | None = None,
    progress: bool = True,
    timeout: float = 10.0,
    opener: urllib.request.OpenerDirector | None = None,
    months: int | None = None,
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
    months
        Keep only the newest *months* months of an archive whose members are monthly files
        (the police.uk archive holds 36 months of every force, about 1.7 GB to download; its
        Met street CSVs are 20-30 MB a month unpacked); default every month.

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
        *names* has a name ``sources.toml`` does not define, or *months* is below 1.
    """
    if months is not None and months < 1:
        raise ConfigError(f"months should be a whole number of months >= 1, found {months}")
    where = config.file("sources")
    items = _select(list(config.sources.items), names, where)
    root = Path(dest) if dest is not None else config.data_dir
    report = FetchReport(dest=root, mode="fetch", source="network")
    if not items:
        logger.warning("nothing to fetch: %s selects no source", where)
        return report
    session = Session(opener or urllib.request.build_opener(), timeout, progress)
    check_reachable(items[0].api or items[0].url, timeout, session.proxies)
    root.mkdir(parents=True, exist_ok=True)
    for item in items:
        rows = _fetch_item(item, root, session, where, months)
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


def _fetch_item(
    item: FetchItem, root: Path, session: Session, where: Path, months: int | None = None
) -> list[FetchedFile]:
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
            return _fetch_archive(item, url, root, session, months)
        return [_fetch_file(item, url, root, session)]
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        return [_failed(item, url, _http_message(item, url, exc, where))]
    except _NETWORK_ERRORS as exc:
        session.dead_hosts[host] = failure_reason(exc, session.timeout)
        reason = f"network error from {host}: {session.dead_hosts[host]}; {OFFLINE_HINT}"
        return [_failed(item, url, reason)]
    except (OSError, ValueError, zipfile.BadZipFile, SourceProblem) as exc:
        return [_failed(item, url, str(exc) or type(exc).__name__)]


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


def _current_url(item: FetchItem, session: Session) -> str:
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


def _fetch_file(item: FetchItem, url: str, root: Path, session: Session) -> FetchedFile:
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
    with progress_bar(total, item.name, progress) as bar:
        return stream_to(response, target, bar=bar, size=total, sha256=item.sha256, what=url)


def _fetch_archive(
    item: FetchItem, url: str, root: Path, session: Session, months: int | None = None
) -> list[FetchedFile]:
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
        return rows + _extract(item, zip_path, url, root, session.progress, months)
    finally:
        if not keep:
            zip_path.unlink(missing_ok=True)


def _extract(
    item: FetchItem,
    zip_path: Path,
    url: str,
    root: Path,
    progress: bool,
    months: int | None = None,
) -> list[FetchedFile]:
    with zipfile.ZipFile(zip_path) as archive:
        members = _newest_months([m for m in archive.infolist() if not m.is_dir()], months)
        plan = [(rule, _members_for(rule, members, url)) for rule in item.extract]
        rows = []
        with progress_bar(
            sum(m.file_size for _, ms in plan for m in ms), item.name, progress
        ) as bar:
            for rule, matched in plan:
                for member in matched:
                    name = PurePosixPath(member.filename).name
                    rel = rule.to + name if rule.to.endswith("/") else rule.to
                    target = root / rel
                    before = sha256_file(target) if target.is_file() else None
                    with archive.open(member) as src:
                        size, digest = stream_to(src, target, bar=bar, size=member.file_size)
                    status: Status = "unchanged" if digest == before else "downloaded"
                    source = f"{url}#{member.filename}"
                    rows.append(FetchedFile(rel, size, digest, status, source, item.name))
    return rows


_MEMBER_MONTH = re.compile(r"(?<![0-9])([0-9]{4}-(?:0[1-9]|1[0-2]))(?![0-9])")


def _newest_months(members: list[zipfile.ZipInfo], months: int | None) -> list[zipfile.ZipInfo]:
    """The members of the newest *months* months (members without a month in their name stay)."""
    if months is None:
        return members
    found = {m.filename: _MEMBER_MONTH.findall(m.filename) for m in members}
    dated = sorted({f[-1] for f in found.values() if f})
    keep = set(dated[-months:])
    return [m for m in members if not found[m.filename] or found[m.filename][-1] in keep]


def _members_for(
    rule: ExtractRule, members: list[zipfile.ZipInfo], url: str
) -> list[zipfile.ZipInfo]:
    matched = [m for m in members if fnmatch.fnmatchcase(m.filename, rule.member)]
    if not matched:
        some = ", ".join(m.filename for m in members[:8])
        raise SourceProblem(
            f"no member of {url} matches {rule.member!r} ({len(members)} members, e.g. {some}); "
            f"correct the extract rule in {SOURCES_FILE}"
        )
    if len(matched) > 1 and not rule.to.endswith("/"):
        raise SourceProblem(
            f"{rule.member!r} matches {len(matched)} members of {url} but 'to' = {rule.to!r} "
            "names one file; end 'to' with '/' to keep them all in a folder"
        )
    return matched


def _fetch_arcgis(item: FetchItem, url: str, root: Path, session: Session) -> FetchedFile:
    """Page through an ArcGIS FeatureServer query and write one GeoJSON (or CSV)."""
    assert item.dest is not None
    features: list[Any] = []
    with progress_bar(None, item.name, session.progress, unit=" features") as bar:
        for _ in range(_MAX_PAGES):
            page_url = _with_params(url, resultOffset=len(features)) if features else url
            page = session.json(page_url)
            if not isinstance(page, Mapping) or "error" in page:
                detail = page.get("error") if isinstance(page, Mapping) else page
                raise SourceProblem(f"{page_url}: ArcGIS answered with an error: {detail}")
            batch = page.get("features") or []
            features += batch
            bar.update(len(batch))
            more = page.get("exceededTransferLimit") or (page.get("properties") or {}).get(
                "exceededTransferLimit"
            )
            if not batch or not more:
                break
        else:
            raise SourceProblem(f"{url}: still more features after {_MAX_PAGES} pages")
    if item.dest.lower().endswith(".csv"):
        data = _attributes_csv(features)
    else:
        collection = {"type": "FeatureCollection", "features": features}
        data = json.dumps(collection, ensure_ascii=False).encode("utf-8")
    target = root / item.dest
    before = sha256_file(target) if target.is_file() else None
    with progress_bar(len(data), item.name, False) as bar:
        size, digest = stream_to(io.BytesIO(data), target, bar=bar, sha256=item.sha256, what=url)
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
