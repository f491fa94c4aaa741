"""Import a local copy of the data folder: ``planner fetch --from DIR``.

:func:`import_local` copies (or hard-links) a mirror such as ``../shared/data`` into the data
folder, file by file, without any network: the offline way in, beside the downloads of
:func:`planner.ingest.fetch.fetch`. Files go through a temporary name beside their target
(:func:`planner.ingest.transfer.stream_to`), so an interrupted import never leaves half a file;
the result is a :class:`~planner.ingest.transfer.FetchReport`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from planner.config import FetchItem
from planner.errors import FetchError
from planner.files import atomic_path, sha256_file
from planner.ingest.transfer import (
    FetchedFile,
    FetchReport,
    SourceProblem,
    progress_bar,
    stream_to,
)

__all__ = ["MIRROR_FOLDERS", "import_local"]

logger = logging.getLogger(__name__)

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
    with progress_bar(total, "import", progress) as bar:
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
            size, digest = stream_to(handle, target, bar=bar, size=size, what=str(src))
        return FetchedFile(rel, size, digest, "copied", source=str(src))
    except (OSError, SourceProblem) as exc:
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
