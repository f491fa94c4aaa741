"""What the plan register accepts: each record checked field by field before it is written.

Each field helper takes the value offered, appends what is wrong with it to a list of
problems and returns the cleaned value (text stripped, whole numbers, timestamps in UTC,
JSON in plain types), so a record's every problem is found at once. The row builders
assemble one table's row from them:

- :func:`priorities_row`: an ``agreed_priorities`` row;
- :func:`override_row`: an ``overrides`` row (the saved plan it names is checked in the
  write transaction, by :func:`planner.register.plans.check_override_plan`);
- :func:`saved_plan_rows`: a ``plans`` row and its ``plan_rows`` (:func:`allocation_rows`);

and :func:`raise_problems` turns the problems into one :class:`InvalidRecordError`.
Nothing here reads or writes the database; :mod:`planner.register.store` and
:mod:`planner.register.plans` write, after these checks. A backup's rows go through the
same field checks before they are imported (:mod:`planner.register.imported`).

The checks hold on every database alike: text is refused where PostgreSQL would refuse it
(a NUL character, more characters than a code column holds) and whole numbers must fit the
32-bit ``INTEGER`` columns, so a record SQLite would take is never one a server refuses.
A borough's code and name must agree (:func:`borough_fields`) when the register knows the
boroughs (``config/boroughs.toml``).
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.register.access import PermissionDenied, User
from planner.register.database import RegisterError
from planner.register.schema import PLAN_ROW_COLUMNS, utcnow

__all__ = [
    "CODE_LENGTH",
    "MAX_INT",
    "NAME_LENGTH",
    "InvalidRecordError",
    "allocation_rows",
    "borough_fields",
    "code",
    "override_row",
    "plan_row",
    "priorities_row",
    "raise_problems",
    "saved_plan_rows",
]


class InvalidRecordError(RegisterError, ValueError):
    """A record offered to the register is incomplete or inconsistent; nothing was written."""


CODE_LENGTH = 16  # ward and borough codes (String(16) columns)
NAME_LENGTH = 100  # a borough's name (String(100))
MAX_INT = 2**31 - 1  # the largest value of an INTEGER column on PostgreSQL
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- the rows of each table -------------------------------------------------------------


def priorities_row(
    user: User,
    *,
    borough_code: Any,
    borough_name: Any,
    year: Any,
    priorities: Any,
    agreed_by: Any,
    agreed_at: Any,
    notes: Any,
    recorded_by: str | None,
    evidence: Any,
    names: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    problems: list[str] | None = None,
) -> dict[str, Any]:
    """The ``agreed_priorities`` row of an agreement; raises if anything is wrong.

    *names* (borough name by E09 code) and *aliases* (other spelling -> name), from
    ``config/boroughs.toml``, make the borough's code and name be checked against each
    other (:func:`borough_fields`); without them any code and name are taken. Given a
    *problems* list, what is wrong is appended to it instead of raised.

    Raises
    ------
    PermissionDenied
        *recorded_by* is given by a signed-in user (see :func:`_author`).
    InvalidRecordError
        Listing every missing or inconsistent field (without *problems*).
    """
    raise_now = problems is None
    problems = [] if problems is None else problems
    code_, name = borough_fields(borough_code, borough_name, names, aliases, problems)
    row = {
        "borough_code": code_,
        "borough_name": name,
        "year": _year(year, problems),
        "priorities": _priority_list(priorities, problems),
        "agreed_by": _name(agreed_by, "agreed_by", problems),
        "agreed_at": _timestamp(agreed_at, "agreed_at", problems),
        "notes": _text(notes, "notes", problems, required=False),
        "recorded_by": _author(user, recorded_by, "recorded_by", problems),
        "evidence": _json_field(evidence, "evidence", problems),
    }
    if raise_now:
        raise_problems("agreed priorities", problems)
    return row


def override_row(
    user: User,
    *,
    plan_id: Any,
    borough_code: Any,
    from_ward: Any,
    to_ward: Any,
    officers: Any,
    reason: Any,
    recorded_by: str | None,
    wards_in_borough: set[str] | frozenset[str] | None,
    problems: list[str],
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``overrides`` row of an override, its problems appended to *problems*.

    With *names* (borough name by E09 code), the borough must be one of them.

    The saved plan it names is checked later, in the write transaction
    (:func:`planner.register.plans.check_override_plan`); the caller then raises
    (:func:`raise_problems`).

    Raises
    ------
    PermissionDenied
        *recorded_by* is given by a signed-in user (see :func:`_author`).
    """
    row = {
        "plan_id": None if plan_id is None else _plan_key(plan_id, problems),
        "borough_code": _text(borough_code, "borough_code", problems, limit=CODE_LENGTH),
        "from_ward": _text(from_ward, "from_ward", problems, limit=CODE_LENGTH),
        "to_ward": _text(to_ward, "to_ward", problems, limit=CODE_LENGTH),
        "officers": _positive_int(officers, "officers", problems),
        "reason": _text(reason, "reason", problems, fix="say why the allocation changed"),
        "recorded_by": _author(user, recorded_by, "recorded_by", problems),
        "recorded_at": utcnow(),
    }
    if names and row["borough_code"] and row["borough_code"] not in names:
        problems.append(
            f"borough_code {row['borough_code']!r} is not a borough of config/boroughs.toml "
            "(E09000001 to E09000033)"
        )
    if row["from_ward"] and row["from_ward"] == row["to_ward"]:
        problems.append(f"from_ward and to_ward are both {row['from_ward']!r}; they must differ")
    if wards_in_borough is not None:
        for key in ("from_ward", "to_ward"):
            if row[key] and row[key] not in wards_in_borough:
                problems.append(
                    f"{key} {row[key]!r} is not a ward of borough {row['borough_code']!r} "
                    f"({len(wards_in_borough)} wards in the allocation table)"
                )
    return row


def saved_plan_rows(
    user: User,
    *,
    name: Any,
    allocation: Any,
    settings: Any,
    manifest: Any,
    created_by: str | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``plans`` row of a plan to save and its ``plan_rows``; raises if anything is wrong.

    Raises
    ------
    PermissionDenied
        *created_by* is given by a signed-in user (see :func:`_author`).
    InvalidRecordError
        Listing every problem of the plan and its allocation table.
    """
    problems: list[str] = []
    parent = plan_row(
        user, name=name, settings=settings, manifest=manifest, created_by=created_by,
        problems=problems,
    )  # fmt: skip
    rows = allocation_rows(allocation, problems)
    raise_problems("plan", problems)
    return parent, rows


def plan_row(
    user: User,
    *,
    name: Any,
    settings: Any,
    manifest: Any,
    created_by: str | None,
    problems: list[str],
) -> dict[str, Any]:
    """The ``plans`` row of a plan (created now), its problems appended to *problems*.

    Raises
    ------
    PermissionDenied
        *created_by* is given by a signed-in user (see :func:`_author`).
    """
    return {
        "name": _text(name, "name", problems),
        "created_at": utcnow(),
        "created_by": _author(user, created_by, "created_by", problems),
        "settings": _json_mapping(settings, "settings", problems),
        "manifest": _json_mapping(manifest, "manifest", problems),
    }


# --- fields (each appends its problems and returns the cleaned value) -------------------


def raise_problems(what: str, problems: list[str]) -> None:
    if problems:
        raise InvalidRecordError(
            f"{what} not recorded ({len(problems)} problem(s)): " + "; ".join(problems)
        )


def borough_fields(
    code_: Any,
    name: Any,
    names: Mapping[str, str] | None,
    aliases: Mapping[str, str] | None,
    problems: list[str],
) -> tuple[str, str]:
    """A borough's code and name, checked against each other when *names* is given.

    The code must be one of *names* (E09 code -> name, ``config/boroughs.toml``), and the
    name that code's name, or an alias of it (``"City of Westminster"``), ignoring case
    and spacing. Without *names* both are only checked as text.
    """
    clean_code = _text(code_, "borough_code", problems, limit=CODE_LENGTH)
    clean_name = _text(name, "borough_name", problems, limit=NAME_LENGTH)
    if not names or not clean_code or not clean_name:
        return clean_code, clean_name
    expected = names.get(clean_code)
    if expected is None:
        problems.append(
            f"borough_code {clean_code!r} is not a borough of config/boroughs.toml "
            "(E09000001 to E09000033)"
        )
        return clean_code, clean_name
    folded = {_fold(expected)} | {_fold(a) for a, n in (aliases or {}).items() if n == expected}
    if _fold(clean_name) not in folded:
        problems.append(
            f"borough_name {clean_name!r} is not the name of {clean_code} ({expected!r}); "
            "give the borough's own code and name"
        )
    return clean_code, clean_name


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def _text(
    value: Any,
    name: str,
    problems: list[str],
    *,
    required: bool = True,
    fix: str = "",
    limit: int | None = None,
) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str):
        problems.append(f"{name} should be text, found {_short(value)} ({type(value).__name__})")
        return ""
    value = value.strip()
    if required and not value:
        problems.append(f"{name} is required and was empty" + (f"; {fix}" if fix else ""))
    if "\x00" in value:
        problems.append(f"{name} contains a NUL character (\\x00), which cannot be stored")
    if limit is not None and len(value) > limit:
        problems.append(f"{name} {_short(value)} is longer than {limit} characters")
    return value


def _name(value: Any, name: str, problems: list[str]) -> str:
    """A person's name or identity: required text on one line, no control characters."""
    text = _text(value, name, problems)
    if text and _CONTROL.search(text.replace("\x00", "")):
        problems.append(f"{name} {_short(text)} contains control characters (line breaks, ...)")
    return text


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def code(value: Any) -> str | None:
    """A borough code as the permission check sees it (validation reports bad ones)."""
    return value.strip() if isinstance(value, str) else None


def _author(user: User, given: str | None, name: str, problems: list[str]) -> str:
    """Who made a record: *user*'s name, or in local mode a name typed in (*given*)."""
    if given is None:
        return user.name
    if not user.is_local and (not isinstance(given, str) or given.strip() != user.name):
        raise PermissionDenied(
            f"{user.describe()} is signed in, so the record carries their own name; "
            f"{name}={given!r} can only be given in local mode (no sign-in). Nothing was "
            "written"
        )
    return _name(given, name, problems)


def _positive_int(value: Any, name: str, problems: list[str]) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        problems.append(f"{name} should be a whole number above 0, found {_short(value)}")
        return 0
    if number <= 0:
        problems.append(f"{name} should be a whole number above 0, found {number}")
    elif number > MAX_INT:
        problems.append(f"{name} should be a whole number up to {MAX_INT:,}, found {number:,}")
    return number


def _year(value: Any, problems: list[str]) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        year = operator.index(value)
    except TypeError:
        problems.append(f"year should be a whole year such as 2026, found {value!r}")
        return 0
    if not 1990 <= year <= 2200:
        problems.append(f"year should be a plan year such as 2026, found {year}")
    return year


def _priority_list(value: Any, problems: list[str]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        problems.append(f"priorities should be a list of two or more names, found {value!r}")
        return []
    names = [v.strip() if isinstance(v, str) else v for v in value]
    bad = [v for v in names if not isinstance(v, str) or not v]
    if bad:
        problems.append(f"priorities should be non-empty names, found {bad!r}")
    names = [v for v in names if isinstance(v, str) and v]
    folded = [v.casefold() for v in names]
    repeated = sorted({v for v in names if folded.count(v.casefold()) > 1})
    if repeated:
        problems.append(f"priorities repeat {', '.join(map(repr, repeated))}")
    if len(set(folded)) < 2:
        problems.append(
            f"at least two distinct priorities must be agreed, found {len(set(folded))}"
        )
    return names


def _timestamp(value: datetime | None, name: str, problems: list[str]) -> datetime:
    if value is None:
        return utcnow()
    if not isinstance(value, datetime) or value.tzinfo is None:
        problems.append(f"{name} should be a timezone-aware datetime (UTC), found {value!r}")
        return utcnow()
    return value.astimezone(UTC)


def _json_field(value: Any, name: str, problems: list[str]) -> Any:
    try:
        return _jsonable(value)
    except TypeError as exc:
        problems.append(f"{name} cannot be stored as JSON: {exc}")
        return None


def _json_mapping(value: Any, name: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(f"{name} should be a mapping (dict), found {type(value).__name__}")
        return {}
    return _json_field(value, name, problems) or {}


def _jsonable(value: Any) -> Any:
    """*value* in plain JSON types (numpy scalars, dates, paths converted; NaN -> None)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON data")


def _plan_key(value: Any, problems: list[str]) -> int | None:
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        problems.append(
            f"plan_id should be a saved plan's id (a whole number), found {_short(value)}"
        )
        return None


# --- the allocation table of a saved plan ---------------------------------------------


def allocation_rows(allocation: Any, problems: list[str]) -> list[dict[str, Any]]:
    """The plan rows of an allocation table, validated (every problem listed)."""
    if not isinstance(allocation, pd.DataFrame):
        problems.append(f"allocation should be a DataFrame, found {type(allocation).__name__}")
        return []
    frame = allocation
    if "ward_code" not in frame.columns and frame.index.name == "ward_code":
        frame = frame.reset_index()
    missing = [c for c in PLAN_ROW_COLUMNS if c not in frame.columns and c != "need_score"]
    if missing:
        problems.append(
            f"allocation lacks column(s) {', '.join(missing)} (ward_code may be the index); "
            f"found {', '.join(map(str, frame.columns))}"
        )
        return []
    if frame.empty:
        problems.append("allocation has no rows")
    wards = frame["ward_code"]
    blank = wards.isna() | (wards.astype("string").str.strip() == "")
    if blank.any():
        problems.append(
            f"{int(blank.sum())} allocation row(s) have no ward_code (rows {_first(blank)})"
        )
    repeated = wards[wards.duplicated() & ~blank]
    if not repeated.empty:
        problems.append(f"ward_code repeated: {', '.join(map(str, repeated.unique()[:5]))}")
    for col in ("ward_code", "borough_code"):
        text = frame[col].astype("string").str.strip()
        bad = (
            text.isna() | (text == "") | (text.str.len() > CODE_LENGTH) | text.str.contains("\x00")
        )
        if col == "ward_code":
            bad &= ~blank  # reported above
        if bad.any():
            problems.append(
                f"{col} should be a code of 1 to {CODE_LENGTH} characters; rows {_first(bad)} "
                "are not"
            )
    for col in ("baseline_dwo", "baseline_pcso", "extra", "total_dwo"):
        values = pd.to_numeric(frame[col], errors="coerce")
        flags = frame[col].map(lambda v: isinstance(v, bool)).astype(bool)
        bad = values.isna() | (values < 0) | (values % 1 != 0) | (values > MAX_INT) | flags
        if bad.any():
            problems.append(
                f"{col} should be whole numbers >= 0; rows {_first(bad)} are not "
                f"(at most {MAX_INT:,})"
            )
    need = frame["need_score"] if "need_score" in frame.columns else pd.Series(np.nan, frame.index)
    scores = pd.to_numeric(need, errors="coerce")
    bad = (scores.isna() & need.notna()) | np.isinf(scores.astype("float64"))
    bad |= need.map(lambda v: isinstance(v, bool)).astype(bool)
    if bad.any():
        problems.append(
            f"need_score should be a finite number or empty; rows {_first(bad)} are not"
        )
    if problems:
        return []
    out = []
    for row, score in zip(frame.itertuples(index=False), scores, strict=True):
        out.append(
            {
                "ward_code": str(row.ward_code).strip(),
                "borough_code": str(row.borough_code).strip(),
                "baseline_dwo": int(row.baseline_dwo),
                "baseline_pcso": int(row.baseline_pcso),
                "extra": int(row.extra),
                "total_dwo": int(row.total_dwo),
                "need_score": None if pd.isna(score) else float(score),
            }
        )
    return out


def _first(mask: pd.Series, n: int = 5) -> str:
    positions = np.flatnonzero(mask.to_numpy())[:n]
    return ", ".join(str(p + 1) for p in positions) + (" ..." if mask.sum() > n else "")
