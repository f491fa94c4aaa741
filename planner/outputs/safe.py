"""Safe cells and safe names: nothing a person or a data file typed runs or escapes.

- :func:`neutralise`: text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``,
  tab, carriage return at the start) gets a leading ``'`` in CSV and Excel cells, index and
  column labels; numbers stay numbers.
- :func:`safe_filename`: a file name made from user text cannot name another folder.
- :func:`inside`: a target that resolves outside its output folder (a symbolic link) is refused.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import DataError

__all__ = ["inside", "neutralise", "safe_cell", "safe_filename"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_NAME = re.compile(r"[^\w .-]")  # keeps letters, digits, _, space, dash, dot
_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{i}" for d in ("COM", "LPT") for i in "123456789"
}


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of *frame* whose text cells cannot run as spreadsheet formulas.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (in cells, the
    index and the column labels) gets a leading single quote, so Excel or LibreOffice shows
    it as text instead of evaluating it. Numbers, negative ones included, stay numbers.

    Parameters
    ----------
    frame
        Any table.

    Returns
    -------
    pandas.DataFrame
    """
    out = frame.copy(deep=False)
    for i in range(out.shape[1]):
        out.isetitem(i, _safe_values(out.iloc[:, i]))
    out.index = _safe_labels(out.index)
    out.columns = _safe_labels(out.columns)
    return out


def safe_filename(text: str, *, max_length: int = 100, default: str = "export") -> str:
    """A file name made from user text that cannot name another folder.

    Path separators and every character other than letters, digits, space, dash, underscore
    and dot become ``_``; runs of dots collapse to one (no ``..``); leading and trailing dots
    and spaces go; Windows device names (``CON``, ``NUL`` ...) get a leading ``_``.

    Parameters
    ----------
    text
        The user's text, e.g. a scenario name or a borough name.
    max_length
        Longest name returned, in characters.
    default
        The name used when nothing usable is left.

    Returns
    -------
    str
    """
    name = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFKC", str(text)))
    name = re.sub(r"\.{2,}", ".", name).strip(" .")
    if name.split(".")[0].upper() in _RESERVED_NAMES:
        name = "_" + name
    return name[:max_length].rstrip(" .") or default


def safe_cell(value: Any) -> Any:
    """*value* with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _safe_values(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype):
        return values.map(safe_cell)
    return values


def _safe_labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        levels = [_safe_values(index.get_level_values(i)) for i in range(index.nlevels)]
        return pd.MultiIndex.from_arrays(levels, names=index.names)
    return _safe_values(index)


def inside(out: Path, name: str) -> Path:
    """``out / name``, or :class:`DataError` if it resolves outside *out* (e.g. a symlink)."""
    resolved = (out / name).resolve()
    if resolved.parent != out.resolve():
        raise DataError(
            f"output file {name!r} would be written to {resolved}, outside the output folder "
            f"{out.resolve()}; remove the link there or choose another stem"
        )
    return out / name
