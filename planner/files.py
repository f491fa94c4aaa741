"""File helpers shared by the modules that touch disk: checksums, atomic writes, encodings."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from planner.errors import DataError

__all__ = ["atomic_path", "check_utf8", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside *target*; rename it onto *target* on success.

    Nothing is half-written: if the body raises, the temporary file is removed and
    *target* is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def check_utf8(data: bytes, where: str) -> None:
    """Raise :class:`DataError` naming the line and byte if *data* is not UTF-8.

    Parameters
    ----------
    data
        The raw bytes of a text file.
    where
        The file's name, for the message.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 4]
        raise DataError(
            f"{where}: line {line} is not UTF-8 text (byte {exc.start}: {bad!r}). "
            "Re-save the file as UTF-8 (in Excel: Save As > CSV UTF-8), or convert it with "
            "`iconv -f WINDOWS-1252 -t UTF-8`."
        ) from None
