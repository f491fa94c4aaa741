"""``.tar.gz`` and ``.tar`` archives read member by member, within limits, in one pass.

:func:`members` inflates an archive with ISA-L (``isal``, about three times zlib's speed) into a
buffer that moves forward with the tar reader, and hands out each member's bytes without the
copies of ``tarfile``'s streaming mode. It is bounded while it inflates: an archive or a member
that inflates beyond :data:`ARCHIVE_LIMITS` (its size, or its compression ratio once past
``ratio_after_bytes``) is refused as soon as it crosses the limit, naming the archive, the
limit and the setting that raises it, so that a 3 MB archive that would expand to 2.5 GB costs
a few megabytes of work, not 2.5 GB.

A download cut short or corrupted is a :class:`DamagedArchive` that names the last member read:
the gzip stream is read to its end (its length and CRC are checked) even when the tar reader
stops at what looks like the end of the archive.

This module imports no pandas or Arrow: it runs in the reader's worker processes.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from isal import isal_zlib

from planner.config import UploadLimits
from planner.errors import DataError
from planner.ingest.sources.base import is_empty
from planner.ingest.sources.sniff import describe

__all__ = [
    "ARCHIVE_LIMITS",
    "ArchiveLimits",
    "DamagedArchive",
    "archive_limits",
    "damaged_message",
    "is_archive",
    "members",
]

_HEAD = 4096
_IN_CHUNK = 64 * 1024  # compressed bytes fed at a time
_OUT_CHUNK = 4 * 1024 * 1024  # inflated bytes at most per step: the limits' granularity
_KEEP = 8 * 1024 * 1024  # inflated bytes already read that are dropped at once
_GZIP_MAGIC = b"\x1f\x8b"
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_ENDS_EARLY = "Compressed file ended before the end-of-stream marker was reached"


@dataclass(frozen=True)
class ArchiveLimits:
    """How far an archive may inflate before it is refused (per archive and per member).

    The real police.uk archives inflate about 7.5 times to about 28 MB each, with members
    of at most 0.8 MB; JSON rarely compresses beyond 20 times. ``ratio_after_bytes`` keeps the
    ratio from judging small archives, whose tar padding alone compresses a thousand times.
    ``setting`` is where the values are set, for the messages that name it.
    """

    max_archive_bytes: int = 1024 * 1024 * 1024
    max_member_bytes: int = 256 * 1024 * 1024
    max_ratio: float = 100.0
    ratio_after_bytes: int = 8 * 1024 * 1024
    setting: str = "ARCHIVE_LIMITS in planner/ingest/sources/archives.py"
    keys: tuple[tuple[str, str], ...] = ()  # (field, the setting's own key) where they differ

    def key(self, name: str) -> str:
        """The name under which *setting* holds the limit in field *name*."""
        return dict(self.keys).get(name, name)


ARCHIVE_LIMITS = ArchiveLimits()
"""The shipped limits (``planner.toml [limits]`` sets them: :func:`archive_limits`)."""


def archive_limits(limits: UploadLimits) -> ArchiveLimits:
    """The archive limits of ``planner.toml [limits]`` (``max_archive_*``)."""
    mib = 1024 * 1024
    return ArchiveLimits(
        max_archive_bytes=int(limits.max_archive_mb * mib),
        max_member_bytes=int(limits.max_archive_member_mb * mib),
        max_ratio=limits.max_archive_ratio,
        setting="planner.toml [limits]",
        keys=(
            ("max_archive_bytes", "max_archive_mb"),
            ("max_member_bytes", "max_archive_member_mb"),
            ("max_ratio", "max_archive_ratio"),
        ),
    )


class DamagedArchive(Exception):
    """An archive that ends early or whose bytes are corrupt; ``member`` is the last one read."""

    def __init__(self, cause: BaseException, member: str) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.member = member


def is_archive(path: Path) -> bool:
    """A ``.tar.gz``, ``.tgz`` or ``.tar`` file (by its name)."""
    return path.is_file() and path.name.endswith(_ARCHIVE_SUFFIXES)


def members(
    archive: Path, *, suffix: str, limits: ArchiveLimits = ARCHIVE_LIMITS
) -> Iterator[tuple[str, memoryview]]:
    """Yield (name, bytes) of every regular member of *archive* whose name ends in *suffix*.

    Each memoryview is valid until the next member is asked for.

    Raises
    ------
    DataError
        The file is empty, is not a gzip or tar file, or crosses one of *limits*.
    DamagedArchive
        The archive ends early or its compressed data or tar structure are corrupt.
    """
    with open(archive, "rb") as raw:
        head = raw.read(_HEAD)
        raw.seek(0)
        size = os.fstat(raw.fileno()).st_size
        if head[:2] == _GZIP_MAGIC:
            stream: _Buffer = _Inflating(raw, archive, limits, size)
        elif len(head) > 262 and head[257:262] == b"ustar":
            if size > limits.max_archive_bytes:
                raise DataError(_over(archive, "the archive", size, "max_archive_bytes", limits))
            stream = _Buffer(raw.read(), archive, limits)
        else:
            raise DataError(_not_an_archive(archive, head))
        yield from _walk(stream, archive, suffix, limits)


def _walk(
    stream: _Buffer, archive: Path, suffix: str, limits: ArchiveLimits
) -> Iterator[tuple[str, memoryview]]:
    member = ""
    try:
        with tarfile.open(fileobj=stream, mode="r:") as tar:  # type: ignore[call-overload]
            for info in tar:
                if not (info.isfile() and info.name.endswith(suffix)):
                    continue
                member = info.name
                if info.size > limits.max_member_bytes:
                    raise DataError(
                        _over(archive, f"member {member}", info.size, "max_member_bytes", limits)
                    )
                if info.issparse():  # rare: let tarfile put the holes back
                    data = tar.extractfile(info).read()  # type: ignore[union-attr]
                    yield member, memoryview(data)
                    continue
                with stream.view(info.offset_data, info.size, member) as view:
                    yield member, view
                stream.release(info.offset_data + info.size)
        # tarfile stops at what looks like the end of the archive, so a download cut short
        # between two members would pass as a smaller archive: inflate to the end of the gzip
        # stream, which checks its length and CRC (EOFError if cut short).
        stream.drain()
    except (tarfile.TarError, EOFError, zlib.error, isal_zlib.error, OSError) as exc:
        raise DamagedArchive(exc, member) from None


class _Buffer:
    """A forward-moving window on an archive's (inflated) bytes, seekable as tarfile needs."""

    def __init__(self, data: bytes, archive: Path, limits: ArchiveLimits) -> None:
        self._buf = bytearray(data)
        self._base = 0  # the offset of _buf[0] in the inflated stream
        self._pos = 0
        self._archive = archive
        self._limits = limits
        self._error: BaseException | None = None  # what stopped the stream early

    # --- what tarfile calls
    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            pos += self._pos
        elif whence == io.SEEK_END:
            self.drain()
            pos += self._end
        if pos < self._base:
            raise ValueError(f"seek to {pos}, before the bytes kept (from {self._base})")
        self._pos = pos
        return pos

    def read(self, n: int = -1) -> bytes:
        self._fill(self._pos + n if n >= 0 else None)
        start = self._pos - self._base
        data = bytes(self._buf[start : start + n] if n >= 0 else self._buf[start:])
        if self._error is not None and len(data) < n:
            raise self._error
        self._pos += len(data)
        return data

    # --- what the reader calls
    def view(self, start: int, size: int, member: str) -> memoryview:
        """The bytes [start, start + size): a view, released before the buffer changes."""
        self._begin_member(start, member)
        self._fill(start + size)
        self._begin_member(None, "")
        if self._end < start + size:
            raise self._error or EOFError(
                f"{member} ends early ({self._end - start} of {size} bytes)"
            )
        return memoryview(self._buf)[start - self._base : start - self._base + size]

    def release(self, upto: int) -> None:
        """Forget the bytes before *upto* (already read) once there are enough of them.

        The last byte before *upto* is kept: tarfile checks that a member's last byte is there
        before it reads the next header.
        """
        upto -= 1
        if upto - self._base >= _KEEP:
            del self._buf[: upto - self._base]  # O(1): bytearray drops its head in place
            self._base = upto

    def drain(self) -> None:
        """Read to the end of the stream (checks a gzip stream's length and CRC)."""
        self._fill(None)
        if self._error is not None:
            raise self._error

    @property
    def _end(self) -> int:
        return self._base + len(self._buf)

    def _fill(self, upto: int | None) -> None:
        """Make the stream available up to *upto* (None: to its end)."""

    def _begin_member(self, start: int | None, member: str) -> None:
        """Judge the member starting at *start* by the member limits while it inflates."""


class _Inflating(_Buffer):
    """A gzip stream inflated on demand, within *limits* (per archive and per member)."""

    def __init__(self, raw: io.BufferedReader, archive: Path, limits: ArchiveLimits, size: int):
        super().__init__(b"", archive, limits)
        self._raw = raw
        self._size = size
        self._inflater = isal_zlib.decompressobj(31)
        self._tail = b""  # compressed bytes given to the inflater and not used yet
        self._fed = 0  # compressed bytes read from the file
        self._done = False
        self._member: tuple[int, int, str] | None = None  # (start, compressed at start, name)

    def _fill(self, upto: int | None) -> None:
        while not self._done and (upto is None or self._end < upto):
            if upto is None and self._end - self._base >= _KEEP:
                self.release(self._end)  # draining: nothing is read any more
            self._step()

    def _step(self) -> None:
        if not self._tail:
            # the gzip trailer (CRC and length) on its own: all the data come out before a
            # bad CRC is found, so the message can name the last member read
            left = self._size - self._fed
            self._tail = self._raw.read(min(_IN_CHUNK, left - 8) if left > 8 else _IN_CHUNK)
            self._fed += len(self._tail)
            if not self._tail:
                self._fail(EOFError(_ENDS_EARLY))
                return
        try:
            out = self._inflater.decompress(self._tail, _OUT_CHUNK)
        except isal_zlib.error as exc:
            self._fail(exc)
            return
        self._tail = self._inflater.unconsumed_tail
        self._buf += out
        if self._inflater.eof:
            self._next_stream(self._inflater.unused_data)
        self._check()

    def _fail(self, exc: BaseException) -> None:
        """Keep what was inflated; the error is raised when the bytes after it are read."""
        self._error, self._done = exc, True

    def _next_stream(self, rest: bytes) -> None:
        """After one gzip stream: another one (a concatenated gzip file), or the end."""
        while not rest.strip(b"\0"):  # nothing yet, or zeros (padding, as gzip allows)
            rest = self._raw.read(_IN_CHUNK)
            self._fed += len(rest)
            if not rest:
                self._done, self._tail = True, b""
                return
        if rest[:2] != _GZIP_MAGIC:
            raise gzip.BadGzipFile("bytes after the end of the gzip stream that are not gzip")
        self._inflater = isal_zlib.decompressobj(31)
        self._tail = rest

    def _consumed(self) -> int:
        return self._fed - len(self._tail)

    def _check(self) -> None:
        limits, out = self._limits, self._end
        if out > limits.max_archive_bytes:
            raise DataError(_over(self._archive, "the archive", out, "max_archive_bytes", limits))
        if out > limits.ratio_after_bytes and out > limits.max_ratio * self._consumed():
            raise DataError(_ratio(self._archive, "the archive", out, self._consumed(), limits))
        if self._member is not None:
            start, packed, member = self._member
            grown, used = out - start, self._consumed() - packed
            if grown > limits.ratio_after_bytes and grown > limits.max_ratio * max(used, 1):
                raise DataError(_ratio(self._archive, f"member {member}", grown, used, limits))

    def _begin_member(self, start: int | None, member: str) -> None:
        self._member = None if start is None else (start, self._consumed(), member)


# --- messages ------------------------------------------------------------------------------


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _over(archive: Path, what: str, size: int, name: str, limits: ArchiveLimits) -> str:
    limit = getattr(limits, name)
    return (
        f"{archive}: refused: {what} inflates to more than the limit of {_mib(limit)} "
        f"({limits.key(name)} = {_setting_value(limits, name)}; {what} "
        f"{'declares' if what.startswith('member') else 'reached'} {_mib(size)}). An archive "
        "this large is not a police.uk download (a month inflates to about 30 MB) and may be a "
        f"decompression bomb. If it is genuine, raise {limits.key(name)} in {limits.setting}; "
        "otherwise remove it from the folder"
    )


def _setting_value(limits: ArchiveLimits, name: str) -> str:
    """The limit as its setting writes it: bytes in the code, MiB in ``[limits]``."""
    limit = getattr(limits, name)
    return f"{limit:,} bytes" if limits.key(name) == name else f"{limit / 2**20:.3g}"


def _ratio(archive: Path, what: str, out: int, used: int, limits: ArchiveLimits) -> str:
    return (
        f"{archive}: refused: {what} inflates more than {limits.max_ratio:g} times "
        f"({limits.key('max_ratio')} = {limits.max_ratio:g}; {_mib(used)} gave {_mib(out)} "
        "and it goes on). police.uk archives inflate about 7.5 times: this one is likely a "
        "decompression bomb. Remove it from the folder; if it is genuine, raise "
        f"{limits.key('max_ratio')} in {limits.setting}"
    )


def _not_an_archive(archive: Path, head: bytes) -> str:
    if is_empty(head):
        return (
            f"{archive}: the archive is empty (0 bytes): its download never arrived; download "
            "it again (planner fetch) or remove it from the folder"
        )
    found = describe(head, what="JSON")
    what = found[0] if found else "neither gzip nor tar data"
    return f"{archive}: expected a .tar.gz archive of police.uk API answers, found {what}; " + (
        found[1] if found else "download it again (planner fetch) or re-create it"
    )


def damaged_message(archive: Path, damage: DamagedArchive) -> str:
    """The message for a truncated or corrupt archive: what went wrong and the fix for it."""
    exc, member = damage.cause, damage.member
    after = f"after member {member}" if member else "before its first member"
    text = str(damage)
    if isinstance(exc, EOFError) or "unexpected end" in str(exc).lower():
        cause = (
            "it ends early: the file was cut short (an interrupted download or copy)",
            "download it again (planner fetch) or copy it again",
        )
    elif (
        isinstance(exc, zlib.error | isal_zlib.error | gzip.BadGzipFile)
        or "crc" in text.lower()
        or "checksum" in text.lower()
    ):
        cause = (
            "its compressed data are corrupt (a CRC or stream error): the bytes changed after "
            "it was made",
            "download it again; if the new copy fails the same way the source copy is damaged: "
            "re-create the archive from the API answers",
        )
    else:
        cause = (
            "its tar structure is damaged",
            "download it again (planner fetch) or re-create it, then re-run",
        )
    return (
        f"{archive}: the archive is truncated or damaged {after} ({text}): {cause[0]}; {cause[1]}"
    )
