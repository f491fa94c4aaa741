"""The one builder of typed settings from TOML tables: check everything, then raise once.

:func:`build` turns a parsed TOML table into a frozen dataclass by the dataclass's own type
hints: it rejects unknown keys (:meth:`Problems.unknown_keys`, the only such check in the
planner), reports missing and mistyped values, converts TOML's lists into tuples and sets, and
asks the dataclass for its own range checks (:class:`Checked`). Nothing is raised on the way:
every problem goes into a :class:`Problems` list, each naming the file and table, the key, what
was expected, what was found and the fix, and :meth:`Problems.raise_if_any` raises one
:class:`~planner.errors.ConfigError` with all of them (osmnx ``_validate`` style).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from planner.errors import ConfigError

__all__ = ["Checked", "Problems", "SettingsError", "build", "expected_text"]

T = TypeVar("T")


class SettingsError(ConfigError):
    """Settings that fail their own checks; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Checked:
    """Mixin for settings dataclasses: ``_problems()`` lists what is wrong, in words.

    ``__post_init__`` raises :class:`SettingsError` with every problem, so a settings object
    that exists is valid, whether it came from a file, the command line or a slider.
    """

    def _problems(self) -> list[str]:
        return []

    def __post_init__(self) -> None:
        found = _type_problems(self)
        if not found:  # the range checks assume the types are right
            found = self._problems()
        if found:
            raise SettingsError(found)


class Problems:
    """Problems found while reading configuration, each a sentence naming where it is."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, where: str, message: str) -> None:
        """Record *message* about *where* (a file, optionally with its table)."""
        self.items.append(f"{where}: {message}")

    def unknown_keys(self, table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
        """Record every key of *table* that is not in *allowed*, with the nearest allowed one."""
        allowed = sorted(allowed)
        for key in sorted(set(table) - set(allowed)):
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.add(
                where,
                f"unknown key {key!r}{hint}; correct its spelling or remove it (keys allowed "
                f"here: {', '.join(allowed) or 'none'})",
            )

    def raise_if_any(self, what: str = "configuration") -> None:
        """Raise one :class:`ConfigError` listing every problem, if there are any."""
        if self.items:
            listed = "\n".join(f"  - {p}" for p in self.items)
            raise ConfigError(f"{len(self.items)} problem(s) in the {what}:\n{listed}")


def build(
    cls: type[T],
    raw: Any,
    where: str,
    problems: Problems,
    *,
    extra: Mapping[str, Any] | None = None,
    known: Iterable[str] = (),
) -> T | None:
    """Build dataclass *cls* from the TOML table *raw*; None (and problems) if it cannot.

    Fields with ``metadata={"config": False}`` are never read from a file.

    Parameters
    ----------
    cls
        A (frozen) dataclass; its type hints say what each key must hold.
    raw
        The table as parsed from TOML.
    where
        The file and table, for messages: ``"config/need.toml [weights]"``.
    problems
        Where problems are recorded.
    extra
        Values for fields that do not come from the table (they are not keys of it).
    known
        Keys of the file that the caller has read itself (allowed, not built here).

    Returns
    -------
    An instance of *cls*, or None when anything was wrong (every problem recorded).
    """
    if not isinstance(raw, Mapping):
        problems.add(where, f"expected a table, found {raw!r}")
        return None
    extra = dict(extra or {})
    fields = {
        f.name: f
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and f.name not in extra and f.metadata.get("config", True)
    }
    hints = typing.get_type_hints(cls)
    before = len(problems.items)
    problems.unknown_keys(raw, [*fields, *known], where)
    values: dict[str, Any] = dict(extra)
    for name, f in fields.items():
        if name not in raw:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required:
                problems.add(
                    where,
                    f"missing key {name!r} ({expected_text(hints[name])}); add "
                    f"`{name} = ...` to this table",
                )
            continue
        ok, value = _convert(raw[name], hints[name], f"{where}", name, problems)
        if ok:
            values[name] = value
    if len(problems.items) > before:
        return None
    try:
        return cls(**values)
    except SettingsError as exc:
        for p in exc.problems:
            problems.add(where, p)
    except ConfigError as exc:
        problems.add(where, str(exc))
    return None


def _type_problems(obj: Any) -> list[str]:
    """Fields of dataclass *obj* whose value is not of the field's type, in words."""
    hints = typing.get_type_hints(type(obj))
    found = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not _matches(value, hints[f.name]):
            found.append(f"{f.name} should be {expected_text(hints[f.name])}, found {value!r}")
    return found


def _matches(value: Any, hint: Any) -> bool:
    """Whether *value* is of type *hint* (an int serves for a float; lists for tuples)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any or isinstance(hint, TypeVar):
        return True
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is Literal:
        return value in args
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, frozenset, set, list) or origin in _SEQUENCES:
        if not isinstance(value, list | tuple | set | frozenset):
            return False
        item = args[0] if args else Any
        return all(_matches(v, item) for v in value)
    if origin in (dict, Mapping) or origin in _MAPPINGS:
        if not isinstance(value, Mapping):
            return False
        key, item = args if len(args) == 2 else (Any, Any)
        return all(_matches(k, key) and _matches(v, item) for k, v in value.items())
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def expected_text(hint: Any) -> str:
    """What a value of type *hint* looks like in TOML, in words."""
    origin, args = get_origin(hint), get_args(hint)
    if _is_optional(hint):
        return expected_text(next(a for a in args if a is not type(None)))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint is bool:
        return "true or false"
    if hint is int:
        return "a whole number"
    if hint is float:
        return "a number"
    if hint is str:
        return "text in quotes"
    if origin in (tuple, frozenset, set, list) or origin in _SEQUENCES:
        return f"a list of {expected_text(args[0]) if args else 'values'}"
    if origin in (dict, Mapping) or origin in _MAPPINGS:
        return "a table"
    if dataclasses.is_dataclass(hint):
        return "a table"
    return "a value"


# --- conversion ------------------------------------------------------------------------------

_SEQUENCES = {typing.Sequence, Sequence}
_MAPPINGS = {typing.Mapping, Mapping}


def _is_optional(hint: Any) -> bool:
    origin = get_origin(hint)
    return origin in (Union, types.UnionType) and type(None) in get_args(hint)


def _convert(value: Any, hint: Any, where: str, key: str, problems: Problems) -> tuple[bool, Any]:
    """(True, value as *hint*) or (False, None) with the problem recorded."""
    origin, args = get_origin(hint), get_args(hint)
    if _is_optional(hint):
        if value is None:  # JSON (a saved scenario) has null; TOML leaves the key out
            return True, None
        inner = [a for a in args if a is not type(None)]
        rest = inner[0] if len(inner) == 1 else Union[tuple(inner)]  # noqa: UP007
        return _convert(value, rest, where, key, problems)
    if hint is Any:
        return True, value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        inner_where = f"{where}.{key}" if where.endswith("]") else f"{where} [{key}]"
        built = build(hint, value, inner_where, problems)
        return built is not None, built
    if origin is Literal:
        if value in args:
            return True, value
        return _bad(value, hint, where, key, problems)
    if hint is bool:
        return (True, value) if isinstance(value, bool) else _bad(value, hint, where, key, problems)
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (True, value) if ok else _bad(value, hint, where, key, problems)
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and math.isfinite(value):
            return True, float(value)
        return _bad(value, hint, where, key, problems)
    if hint is str:
        return (True, value) if isinstance(value, str) else _bad(value, hint, where, key, problems)
    if origin in (tuple, frozenset, set, list) or origin in _SEQUENCES:
        return _sequence(value, hint, where, key, problems)
    if origin in (dict, Mapping) or origin in _MAPPINGS:
        return _mapping(value, hint, where, key, problems)
    return True, value


def _sequence(value: Any, hint: Any, where: str, key: str, problems: Problems) -> tuple[bool, Any]:
    origin, args = get_origin(hint), get_args(hint)
    if not isinstance(value, list):
        return _bad(value, hint, where, key, problems)
    item = args[0] if args else Any
    out = []
    for i, v in enumerate(value):
        ok, converted = _convert(v, item, where, f"{key}[{i}]", problems)
        if not ok:
            return False, None
        out.append(converted)
    if origin in (frozenset, set):
        return True, frozenset(out)
    return True, tuple(out)


def _mapping(value: Any, hint: Any, where: str, key: str, problems: Problems) -> tuple[bool, Any]:
    if not isinstance(value, Mapping):
        return _bad(value, hint, where, key, problems)
    args = get_args(hint)
    item = args[1] if len(args) == 2 else Any
    out = {}
    for k, v in value.items():
        ok, converted = _convert(v, item, where, f"{key}.{k}", problems)
        if not ok:
            return False, None
        out[str(k)] = converted
    return True, out


def _bad(value: Any, hint: Any, where: str, key: str, problems: Problems) -> tuple[bool, None]:
    problems.add(
        where,
        f"{key!r} should be {expected_text(hint)}, found {value!r}; change the value of "
        f"`{key.split('[')[0].split('.')[0]}`",
    )
    return False, None
