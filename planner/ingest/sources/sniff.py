"""What a file really is, from its first bytes: the readers' first check on text inputs.

A reader of CSV or JSON given something else (a gzip file, an R data file, a zip or an Excel
workbook, Parquet, UTF-16 text with or without a byte-order mark, a web page saved in place of
the data) should say what it found and how to get the text it needs, not report a bad line or
a missing column. :func:`describe` names the content; :func:`check_text` raises
:class:`~planner.errors.DataError` with the name and the fix.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from planner.errors import DataError

__all__ = ["check_text", "describe"]

_SAMPLE = 4096
_R_DATA = (b"RDX2\n", b"RDX3\n", b"RDA2\n", b"RDA3\n", b"X\n\x00\x00", b"A\n")
_TO_UTF8 = (
    "re-save it as UTF-8 text (in Excel: Save As > CSV UTF-8), or convert it with "
    "`iconv -f {enc} -t UTF-8 FILE > FILE.utf8.csv`"
)
_R_FIX = (
    'an R data file is not a CSV: in R, write.csv(readRDS("FILE.rds"), "FILE.csv", '
    "row.names = FALSE) (or load() for .RData), then point the source at the CSV"
)


def describe(data: bytes, *, what: str = "CSV") -> tuple[str, str] | None:
    """What *data* is when it is not plain UTF-8-compatible text, and the fix; else None.

    Parameters
    ----------
    data
        The file's bytes (the first few KiB are enough).
    what
        The format the reader wants (``"CSV"``, ``"JSON"``), for the fix.

    Returns
    -------
    (found, fix) or None
        *found* names the content ("gzip-compressed R data (.rds)", "UTF-16 text without a
        byte-order mark (little-endian)", ...); *fix* says how to turn it into what is needed.
    """
    head = data[:_SAMPLE]
    if head.startswith(b"\x1f\x8b"):
        return _gzip(data, what)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip(data, what)
    if head.startswith(b"PAR1"):
        return (
            "a Parquet file",
            f"this source reads {what}; convert it (pandas.read_parquet(FILE).to_csv(...)), or "
            "use a Met ward source (mps_ward), which reads Parquet",
        )
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return ("an old Excel workbook (.xls)", "open it in Excel and Save As > CSV UTF-8")
    if head.startswith(_R_DATA):
        return ("R data (an uncompressed .rds or .RData file)", _R_FIX)
    if head.startswith((b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c")):
        return ("a compressed archive (bzip2, xz or 7-Zip)", f"decompress it and use the {what}")
    if head.startswith(b"SQLite format 3\x00"):
        return ("an SQLite database", f"export the table as {what}")
    if head.startswith(b"%PDF"):
        return ("a PDF document", f"find the {what} download on the publisher's page")
    utf16 = _utf16(head)
    if utf16:
        return utf16
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml")):
        return (
            "a web page (HTML or XML), saved in place of the data (often an error or sign-in page)",
            "download the file again from its address in config/sources.toml",
        )
    return None


def check_text(data: bytes, where: str, *, what: str = "CSV") -> None:
    """Raise :class:`DataError` naming what *data* is, when it is not text the reader can use."""
    found = describe(data, what=what)
    if found:
        raise DataError(f"{where}: this is {found[0]}, not a {what} text file; {found[1]}")


def _gzip(data: bytes, what: str) -> tuple[str, str]:
    try:
        inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[: 1 << 16], _SAMPLE)
    except zlib.error:
        inner = b""
    if inner.startswith(_R_DATA):
        return ("gzip-compressed R data (an .rds or .RData file)", _R_FIX)
    if len(inner) > 262 and inner[257:262] == b"ustar":
        return (
            "a .tar.gz archive",
            "police.uk API answers are read from .tar.gz archives by a police_uk_api source "
            f"(name the file .tar.gz); otherwise extract the {what} from it",
        )
    return ("gzip-compressed data (a .gz file)", f"decompress it (gunzip FILE) and use the {what}")


def _zip(data: bytes, what: str) -> tuple[str, str]:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        names = []
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        return (
            "an Excel workbook (.xlsx)",
            "open it in Excel and Save As > CSV UTF-8 (one sheet per file), or export the sheet "
            "with pandas.read_excel(FILE, sheet_name=...).to_csv(...)",
        )
    listed = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
    return (
        f"a zip archive ({listed or 'members unreadable'})",
        "street CSV sources read zips whose name ends in .zip: rename it, or extract the "
        f"{what} and point the source at it",
    )


def _utf16(head: bytes) -> tuple[str, str] | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        order = "little" if head.startswith(b"\xff\xfe") else "big"
        return (
            f"UTF-16 text ({order}-endian, with a byte-order mark)",
            _TO_UTF8.format(enc="UTF-16"),
        )
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nul > 0.3 and even_nul < 0.05:
        return (
            "UTF-16 text without a byte-order mark (little-endian)",
            _TO_UTF8.format(enc="UTF-16LE"),
        )
    if even_nul > 0.3 and odd_nul < 0.05:
        return (
            "UTF-16 text without a byte-order mark (big-endian)",
            _TO_UTF8.format(enc="UTF-16BE"),
        )
    return None
