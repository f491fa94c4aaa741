"""The ingest cache: versioned folders behind an atomically replaced pointer, each checked on load.

One cache entry per dataset and cache key (the sha256 of the inputs and settings)::

    <cache_dir>/<dataset>/<key>/
        current -> versions/<id>        symlink, replaced atomically (os.replace)
        versions/<id>/                  ward_counts.parquet, ..., quality.json, manifest.json
        .lock                           held (fcntl.flock) while a version is published

- **Writing** (:func:`publish`): every file goes into a unique temporary folder beside the
  entry (``.build-<key>-*``); the manifest records the sha256 of every other file, and the
  version's name starts with the sha256 of the manifest. Under the entry's lock the folder is
  renamed into ``versions/`` and ``current`` is pointed at it, so two builders never collide
  (the later one wins) and a reader sees the old version or the new one, never half of one.
- **Reading** (:func:`load`): the reader takes a shared lock on the version it reads and checks
  that ``current`` still points at it; every file is read once, its sha256 compared with the
  manifest's, then parsed from those bytes. A damaged entry (a changed or truncated file, a
  missing file, JSON that does not parse) raises :class:`CacheUnusable` with the reason, and
  the caller rebuilds: nothing damaged is ever used.
- **Cleaning** (under the entry's lock, after publishing): older versions are removed only when
  an exclusive lock on them can be had at once, i.e. no one is reading them; the others go at
  the next publish. Abandoned build folders (their builder's lock gone) are removed too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["TABLES", "CacheUnusable", "Cached", "load", "publish"]

log = logging.getLogger(__name__)

TABLES = ("ward_counts", "ward_measures", "coverage", "rejects")
"""The tables of an entry, each ``<name>.parquet``."""
DOCUMENTS = ("quality",)
"""The JSON documents of an entry besides the manifest, each ``<name>.json``."""
MANIFEST = "manifest.json"
CURRENT = "current"
VERSIONS = "versions"
LOCK = ".lock"
_BUILD = ".build-"
_ABANDONED_S = 600.0  # a build folder this old and unlocked was left by a builder that died
_ATTEMPTS = 50  # a reader retries when the version it found is replaced as it locks it


class CacheUnusable(Exception):
    """A cache entry cannot be used as it is; the message says why (its caller rebuilds)."""


@dataclass(frozen=True)
class Cached:
    """One version of an entry, read and checked."""

    version: Path
    tables: dict[str, pd.DataFrame]
    documents: dict[str, Any]
    manifest: dict[str, Any]


def publish(
    entry: Path,
    tables: Mapping[str, pd.DataFrame],
    documents: Mapping[str, Any],
    manifest: Mapping[str, Any],
) -> Path:
    """Write a new version of *entry* and make it the current one; return its folder.

    *manifest* is written with an ``outputs`` field added: the sha256 of every other file.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_BUILD}{entry.name}-", dir=entry.parent))
    try:
        with _locked(tmp, fcntl.LOCK_EX):  # marks the build as alive (see _clean)
            version_id = _write_files(tmp, tables, documents, manifest)
            with _locked(_lock_file(entry), fcntl.LOCK_EX):
                version = entry / VERSIONS / version_id
                version.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, version)
                _point(entry, version)
                _clean(entry, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def load(entry: Path) -> Cached | None:
    """The current version of *entry*, checked; None when the entry has never been published.

    Raises
    ------
    CacheUnusable
        The version is damaged: a file is missing, changed since it was written (its sha256
        differs from the manifest's), truncated, or does not parse.
    """
    for _ in range(_ATTEMPTS):
        version = _current(entry)
        if version is None:
            return None
        try:
            fd = os.open(version, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if _current(entry) != version:
                continue  # replaced and cleaned while we looked: read the new one
            raise CacheUnusable(f"its current version {version.name} is missing") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # no cleaner removes it while this is held
            if _current(entry) != version:
                continue
            return _read(version)
        finally:
            os.close(fd)
    raise CacheUnusable(f"it was replaced {_ATTEMPTS} times while it was being read")


# --- writing ---------------------------------------------------------------------------------


def _write_files(
    folder: Path,
    tables: Mapping[str, pd.DataFrame],
    documents: Mapping[str, Any],
    manifest: Mapping[str, Any],
) -> str:
    """Write the files and the manifest into *folder*; the version's unique name."""
    outputs = {}
    for name in TABLES:
        tables[name].to_parquet(folder / f"{name}.parquet", index=False)
        outputs[f"{name}.parquet"] = _sha256((folder / f"{name}.parquet").read_bytes())
    for name in DOCUMENTS:
        blob = json.dumps(documents[name], indent=1, default=str).encode()
        (folder / f"{name}.json").write_bytes(blob)
        outputs[f"{name}.json"] = _sha256(blob)
    blob = json.dumps({**manifest, "outputs": outputs}, indent=1, default=str).encode()
    (folder / MANIFEST).write_bytes(blob)
    for path in folder.iterdir():
        _fsync(path)
    _fsync(folder)
    return f"{_sha256(blob)[:16]}-{secrets.token_hex(4)}"


def _point(entry: Path, version: Path) -> None:
    """Point ``entry/current`` at *version* in one step (a symlink renamed over the old one)."""
    link = entry / f".{CURRENT}-{secrets.token_hex(4)}"
    os.symlink(version.relative_to(entry), link)
    try:
        os.replace(link, entry / CURRENT)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    _fsync(entry)


def _clean(entry: Path, keep: Path) -> None:
    """Remove older versions no one is reading, abandoned builds and files of the old layout.

    Called with the entry's lock held, so no other version is being published meanwhile.
    """
    for old in (entry / VERSIONS).iterdir():
        if old != keep:
            _remove_if_unlocked(old)
    for stray in entry.iterdir():  # the flat layout of earlier versions of the planner
        if stray.name not in (CURRENT, VERSIONS, LOCK):
            _remove(stray)
    for build in entry.parent.glob(f"{_BUILD}{entry.name}-*"):
        with contextlib.suppress(OSError):  # young ones may not be locked by their builder yet
            if time.time() - build.stat().st_mtime > _ABANDONED_S:
                _remove_if_unlocked(build)


def _remove_if_unlocked(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.debug("cache: %s is in use; it is removed at the next publish", folder)
    else:
        _remove(folder)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- reading ---------------------------------------------------------------------------------


def _current(entry: Path) -> Path | None:
    try:
        target = os.readlink(entry / CURRENT)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise CacheUnusable(f"{CURRENT} is not a link to a version") from None
        raise CacheUnusable(f"{CURRENT} cannot be read ({exc.strerror})") from None
    return entry / target


def _read(version: Path) -> Cached:
    blob = _bytes(version, MANIFEST)
    if not version.name.startswith(_sha256(blob)[:16]):
        raise CacheUnusable(f"{MANIFEST} was changed after it was written")
    try:
        manifest = json.loads(blob)
        outputs = dict(manifest["outputs"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CacheUnusable(f"{MANIFEST} does not parse ({exc})") from None
    data = {}
    for name in [f"{t}.parquet" for t in TABLES] + [f"{d}.json" for d in DOCUMENTS]:
        data[name] = _bytes(version, name)
        if _sha256(data[name]) != outputs.get(name):
            raise CacheUnusable(
                f"{name} is not the file its manifest recorded (its sha256 differs: changed or "
                "truncated after it was written)"
            )
    tables, documents = {}, {}
    for name in TABLES:
        tables[name] = _parse(name + ".parquet", lambda b: pd.read_parquet(io.BytesIO(b)), data)
    for name in DOCUMENTS:
        documents[name] = _parse(name + ".json", json.loads, data)
    return Cached(version, tables, documents, manifest)


def _bytes(version: Path, name: str) -> bytes:
    try:
        return (version / name).read_bytes()
    except OSError as exc:
        raise CacheUnusable(f"{name} cannot be read ({exc.strerror or exc})") from None


def _parse(name: str, parse: Any, data: dict[str, bytes]) -> Any:
    try:
        return parse(data[name])
    except Exception as exc:  # pyarrow, json: whatever a damaged file raises means rebuild
        raise CacheUnusable(f"{name} does not parse ({type(exc).__name__}: {exc})") from None


# --- helpers ---------------------------------------------------------------------------------


def _lock_file(entry: Path) -> Path:
    entry.mkdir(parents=True, exist_ok=True)
    return entry / LOCK


@contextlib.contextmanager
def _locked(path: Path, how: int) -> Iterator[None]:
    """Hold an flock on *path* (a folder, or a file made if absent)."""
    flags = os.O_RDONLY | os.O_DIRECTORY if path.is_dir() else os.O_RDWR | os.O_CREAT
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
