"""Prepared need inputs kept on disk between processes, so a fresh app starts in seconds.

:func:`planner.api.prepare` takes about 3 s on the Met data even from a warm ingest cache
(features under every harm index, the population, the outside yardsticks); the app's first
page waits for it after every server start. :func:`load_or_build` keeps the result as one
file per (dataset, window, need settings, forecast choice) under
``<cache_dir>/prepared/``, and reads it back in a few hundredths of a second.

A snapshot is used only when everything it was made from is unchanged. Its name is the sha256
of:

- the planner's own code (path, size and modification time of every file of the package),
- the whole configuration as loaded (``repr`` of the frozen :class:`PlannerConfig`, which holds
  every setting and the data and cache folders),
- every file of the data folder (relative path, size, modification time), and
- the scenario's dataset, window end, need settings and forecast choice,

so a new download, an edited setting or a new release all miss it and prepare afresh. A
file is used only when it is whole (a sha256 of its body heads it), owned by this user and
writable by no one else, in a folder writable by no one else: the snapshot is a pickle, so
it must be as trusted as the code itself, and anything else is ignored (prepared afresh),
never loaded. Files outside the data folder are not watched; a configuration that reads such
files should run with ``--no-cache`` (or delete ``prepared/``) after changing them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from planner.files import atomic_path

__all__ = ["KEEP", "load_or_build", "snapshot_key"]

log = logging.getLogger(__name__)

KEEP = 4
"""Snapshots kept per dataset (the most recently used)."""
_MAGIC = b"PLANNER-PREPARED-INPUTS 1\n"
_PACKAGE = Path(__file__).resolve().parents[1]


def snapshot_key(config: Any, parts: tuple[Any, ...]) -> str:
    """The sha256 naming the snapshot of *parts* under *config* (see the module notes)."""
    digest = hashlib.sha256()
    for line in _fingerprint(_PACKAGE, "*.py"):
        digest.update(line)
    digest.update(repr(config).encode())
    data_dir = Path(config.data_dir)
    for line in _fingerprint(data_dir, "*") if data_dir.is_dir() else ():
        digest.update(line)
    digest.update(repr(parts).encode())
    return digest.hexdigest()


def load_or_build(folder: Path, dataset: str, key: str, build: Callable[[], Any]) -> Any:
    """The snapshot named *key* in *folder*, or ``build()`` written there for next time.

    A snapshot that cannot be used (absent, torn, not this user's, writable by others) is
    built afresh; one that cannot be written is only logged: the snapshot saves time, it
    never stops a plan.
    """
    path = folder / f"{_safe(dataset)}-{key[:32]}.pickle"
    found = _read(path)
    if found is not None:
        os.utime(path)  # most recently used: kept longest
        return found
    value = build()
    try:
        _write(path, value)
        _prune(folder, dataset)
    except (OSError, pickle.PicklingError) as exc:
        log.warning("prepared inputs not kept for the next start (%s): %s", path.name, exc)
    return value


# --- private ------------------------------------------------------------------------------


def _fingerprint(root: Path, pattern: str) -> Iterator[bytes]:
    for path in sorted(root.rglob(pattern)):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        info = path.stat()
        yield f"{path.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode()


def _trusted(path: Path) -> bool:
    """Owned by this user and writable by no one else, as is its folder."""
    for item in (path, path.parent):
        info = item.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            log.warning("prepared inputs ignored: %s is not this user's alone", item)
            return False
    return True


def _read(path: Path) -> Any | None:
    try:
        if not path.is_file() or not _trusted(path):
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 65
    if not raw.startswith(_MAGIC) or len(raw) <= head:
        return None
    body = memoryview(raw)[head:]
    if hashlib.sha256(body).hexdigest().encode() != raw[len(_MAGIC) : head - 1]:
        log.warning("prepared inputs ignored: %s is damaged", path.name)
        return None
    try:
        return pickle.loads(body)
    except Exception as exc:  # a class renamed since: prepare afresh
        log.warning("prepared inputs ignored: %s cannot be read (%s)", path.name, exc)
        return None


def _write(path: Path, value: Any) -> None:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as out:
            out.write(_MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n")
            out.write(body)
        os.chmod(tmp, 0o600)


def _prune(folder: Path, dataset: str) -> None:
    kept = sorted(
        folder.glob(f"{_safe(dataset)}-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in kept[KEEP:]:
        old.unlink(missing_ok=True)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
