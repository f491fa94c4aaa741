"""What ``planner fetch`` writes and records: the checked copy of one file, and the report.

Shared by the two ways in, :mod:`planner.ingest.fetch` (downloads) and
:mod:`planner.ingest.mirror` (a local copy): :func:`stream_to` writes a file through a temporary
name beside its target, hashing it and checking its size and sha256; :class:`FetchReport` holds
one :class:`FetchedFile` per file and :meth:`FetchReport.write_manifest` records it as
``fetch_manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from tqdm import tqdm

from planner.errors import FetchError
from planner.files import atomic_path

__all__ = [
    "MANIFEST_NAME",
    "SOURCES_FILE",
    "FetchReport",
    "FetchedFile",
    "SourceProblem",
    "Status",
    "progress_bar",
    "stream_to",
]

SOURCES_FILE = "sources.toml"
MANIFEST_NAME = "fetch_manifest.json"

Status = Literal["downloaded", "copied", "linked", "unchanged", "failed"]
_CHUNK = 1 << 20


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


class SourceProblem(Exception):
    """A download arrived but is not what sources.toml describes."""


def stream_to(
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
            raise SourceProblem(f"{what}: transfer ended after {written:,} of {size:,} bytes")
        if sha256 and digest.hexdigest() != sha256:
            raise FetchError(
                f"{what}: sha256 is {digest.hexdigest()}, but {SOURCES_FILE} expects {sha256}; "
                f"{target} was left as it was. The publisher may have released a new version: "
                "check it, then update or remove that sha256"
            )
    return written, digest.hexdigest()


def progress_bar(total: int | None, desc: str, progress: bool, unit: str = "B") -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        disable=None if progress else True,
        leave=False,
    )
