"""Parsers of the configuration files whose tables are keyed by data, not by field names.

Datasets (``planner.toml [datasets.NAME]``), category mappings, ward column detection, borough
names, harm indices, the download list and the people of ``access.toml`` have keys chosen by
whoever writes the file; these functions check them and build each entry with
:func:`planner.config.build.build`, recording problems (never raising) like every parser of
:mod:`planner.config.load`.

Over 400 lines: one parser per file whose keys are data; splitting them would scatter the
checks of one file format across modules.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from planner import schema as s
from planner.config.build import Problems, build
from planner.config.data import (
    CategoryMap,
    DatasetSpec,
    ExtractRule,
    FetchItem,
    MirrorOnly,
    Sources,
    SourceSpec,
    WardDetection,
    WardsSpec,
)
from planner.config.model import PROACTIVE_MODES, HarmIndex, HarmSettings
from planner.config.plan import normalise_text
from planner.config.register import AccessSettings, UserEntry

__all__ = [
    "access",
    "boroughs",
    "categories",
    "datasets",
    "harm",
    "normalise_name",
    "resolve_access_boroughs",
    "sources",
    "ward_detection",
]


def normalise_name(key: str) -> str:
    """The form category keys are matched in: spaces collapsed, case folded."""
    return normalise_text(key)


# --- planner.toml [datasets] -----------------------------------------------------------------


def datasets(raw: Any, where: str, problems: Problems) -> dict[str, DatasetSpec]:
    """``[datasets.NAME]`` tables -> :class:`DatasetSpec` by name."""
    if not isinstance(raw, Mapping) or not raw:
        problems.add(where, "no [datasets.NAME] table; define at least one dataset")
        return {}
    out = {}
    for name, table in raw.items():
        at = f"{where} [datasets.{name}]"
        if not isinstance(table, Mapping):
            problems.add(at, "should be a table with wards and sources")
            continue
        problems.unknown_keys(table, {"description", "wards", "sources", "default"}, at)
        if "wards" not in table:
            problems.add(at, f"missing the [datasets.{name}.wards] table; add path = ...")
            continue
        wards = build(WardsSpec, table["wards"], f"{at}.wards", problems)
        srcs = table.get("sources", [])
        if not isinstance(srcs, list):
            problems.add(at, "sources should be [[datasets.NAME.sources]] tables")
            srcs = []
        specs = [
            build(SourceSpec, _canonical_categories(src), f"{at}.sources[{i}]", problems)
            for i, src in enumerate(srcs)
        ]
        description, default = table.get("description", ""), table.get("default", False)
        if not isinstance(description, str) or not isinstance(default, bool):
            problems.add(at, "description should be text and default true or false")
            continue
        if wards is not None and all(spec is not None for spec in specs):
            out[name] = DatasetSpec(name, description, wards, tuple(specs), default)  # type: ignore[arg-type]
    return out


def _canonical_categories(src: Any) -> Any:
    """A source table whose ``categories`` / ``exclude`` names are spelt as in the schema
    (case and spaces aside); names that are not categories are left for the check to name."""
    if not isinstance(src, Mapping):
        return src
    known = {normalise_name(c): c for c in s.CATEGORIES}
    out = dict(src)
    for key in ("categories", "exclude"):
        if isinstance(out.get(key), list):
            out[key] = [
                known.get(normalise_name(v), v) if isinstance(v, str) else v for v in out[key]
            ]
    return out


# --- categories.toml, wards.toml, boroughs.toml ----------------------------------------------


def categories(raw: Mapping[str, Any], where: str, problems: Problems) -> CategoryMap:
    """Source names -> the 14 police.uk categories."""
    problems.unknown_keys(raw, {"max_unknown_share", "police_uk", "mps"}, where)
    known = {c.casefold(): c for c in s.CATEGORIES}
    pu, mps = _table(raw, "police_uk", where, problems), _table(raw, "mps", where, problems)
    problems.unknown_keys(pu, {"csv", "api"}, f"{where} [police_uk]")
    problems.unknown_keys(mps, {"minor", "major", "dashboard"}, f"{where} [mps]")
    share = raw.get("max_unknown_share")
    ok = isinstance(share, int | float) and not isinstance(share, bool) and 0 <= share <= 1
    if not ok:
        fix = "add `max_unknown_share = 0.005`" if share is None else "change its value"
        problems.add(
            where,
            "'max_unknown_share' should be a number in [0, 1] (the share of a source's records "
            f"that may carry unknown category names), found {share!r}; {fix}",
        )

    def target(value: Any, key: str, table: str) -> str:
        if value == "":
            return ""
        if not isinstance(value, str) or value.casefold() not in known:
            problems.add(
                f"{where} [{table}]",
                f"{key!r} = {value!r}: not one of the 14 police.uk categories "
                f'({", ".join(s.CATEGORIES)}); use one of them, or "" to exclude',
            )
            return ""
        return known[value.casefold()]

    def names(table: Mapping[str, Any], label: str) -> dict[str, str]:
        return {normalise_name(k): target(v, k, label) for k, v in table.items()}

    def pairs(label: str) -> dict[str, tuple[str, str]]:
        out = {}
        for k, v in _table(mps, label, where, problems).items():
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
                problems.add(f"{where} [mps.{label}]", f"{k!r}: expected [category, subcategory]")
                continue
            out[normalise_name(k)] = (target(v[0], k, f"mps.{label}"), v[1])
        return out

    minor, major = pairs("minor"), pairs("major")
    piped = [k for k in major if "|" in k]
    if piped:
        problems.add(
            f"{where} [mps.major]",
            f"keys {piped} should be a major category alone (no ' | MINOR'); a pair belongs in "
            "[mps.minor]",
        )
    return CategoryMap(
        csv=names(_table(pu, "csv", where, problems), "police_uk.csv"),
        api=names(_table(pu, "api", where, problems), "police_uk.api"),
        mps_minor=minor,
        mps_dashboard={
            normalise_name(k): str(v) for k, v in _table(mps, "dashboard", where, problems).items()
        },
        mps_major=major,
        max_unknown_share=float(share) if ok and share is not None else 0.0,
    )


def ward_detection(raw: Mapping[str, Any], where: str, problems: Problems) -> WardDetection:
    """``wards.toml``: column names tried for each field of a ward or borough file."""
    problems.unknown_keys(raw, {"detect", "detect_borough_file"}, where)
    detect = _table(raw, "detect", where, problems)
    borough_file = _table(raw, "detect_borough_file", where, problems)
    fields = ("ward_code", "ward_name", "borough_code", "borough_name")
    problems.unknown_keys(detect, fields, f"{where} [detect]")
    problems.unknown_keys(borough_file, fields[2:], f"{where} [detect_borough_file]")

    def names(table: Mapping[str, Any], key: str, at: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.add(f"{where} [{at}]", f"{key!r} should be a list of column names")
            return ()
        return tuple(value)

    return WardDetection(
        ward_code=names(detect, "ward_code", "detect"),
        ward_name=names(detect, "ward_name", "detect"),
        borough_code=names(detect, "borough_code", "detect"),
        borough_name=names(detect, "borough_name", "detect"),
        borough_file_code=names(borough_file, "borough_code", "detect_borough_file"),
        borough_file_name=names(borough_file, "borough_name", "detect_borough_file"),
    )


def boroughs(raw: Mapping[str, Any], where: str, problems: Problems) -> dict[str, dict[str, str]]:
    """``boroughs.toml``: names by E09 code, and other spellings."""
    problems.unknown_keys(raw, {"names", "aliases"}, where)
    out = {}
    for key in ("names", "aliases"):
        table = _table(raw, key, where, problems)
        bad = [k for k, v in table.items() if not isinstance(v, str)]
        if bad:
            problems.add(f"{where} [{key}]", f"values should be text, not for {bad}")
        out[key] = {str(k): str(v) for k, v in table.items()}
    codes = [c for c in out["names"] if not re.fullmatch(r"E09\d{6}", c)]
    if codes:
        problems.add(f"{where} [names]", f"keys should be E09 codes, found {codes}")
    return out


# --- harm.toml -------------------------------------------------------------------------------


def harm(raw: Mapping[str, Any], where: str, problems: Problems) -> HarmSettings | None:
    """``harm.toml``: every index with its category and subcategory weights."""
    before = len(problems.items)
    problems.unknown_keys(raw, {"default", "proactive", "indices"}, where)
    indices = {
        key: _harm_index(key, table, f"{where} [indices.{key}]", problems)
        for key, table in _table(raw, "indices", where, problems).items()
    }
    if not indices:
        problems.add(where, "no [indices.NAME] table; define at least one harm index")
        return None
    pro = _table(raw, "proactive", where, problems)
    problems.unknown_keys(pro, {"categories", "mode", "factor"}, f"{where} [proactive]")
    missing = [f"[proactive] {k}" for k in ("categories", "mode", "factor") if k not in pro]
    missing += ["default"] if "default" not in raw else []
    for key in missing:
        problems.add(where, f"missing key {key!r}; add it (see the comments in the shipped file)")
    if missing:
        return None
    categories, factor, mode = pro["categories"], pro["factor"], pro["mode"]
    at = f"{where} [proactive]"
    if mode not in PROACTIVE_MODES:
        problems.add(
            at, f"'mode' should be one of {', '.join(map(repr, PROACTIVE_MODES))}, found {mode!r}"
        )
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        problems.add(at, f"'categories' should be a list of category names, found {categories!r}")
    if isinstance(factor, bool) or not isinstance(factor, int | float):
        problems.add(at, f"'factor' should be a number in [0, 1], found {factor!r}")
    if not isinstance(raw["default"], str):
        problems.add(
            where, f"'default' should be the key of a harm index, found {raw['default']!r}"
        )
    if len(problems.items) > before:
        return None
    table = {
        "indices": indices,
        "index": raw["default"],
        "proactive_categories": tuple(categories) if isinstance(categories, list) else categories,
        "proactive_mode": pro["mode"],
        "proactive_factor": float(factor) if type(factor) is int else factor,
    }
    return build(HarmSettings, {}, where, problems, extra=table)


def _harm_index(key: str, table: Any, where: str, problems: Problems) -> HarmIndex:
    if not isinstance(table, Mapping):
        problems.add(where, "should be a table")
        table = {}
    problems.unknown_keys(table, {"name", "unit", "source", "categories", "subcategories"}, where)
    canon = {c.casefold(): c for c in s.CATEGORIES}
    cats: dict[str, float] = {}
    for name, value in _table(table, "categories", where, problems).items():
        cat = canon.get(str(name).strip().casefold())
        if cat is None or cat == s.ASB:
            why = "ASB is never weighted into crime harm" if cat == s.ASB else "not a category"
            problems.add(f"{where}.categories", f"{name!r}: {why}")
            continue
        cats[cat] = _weight(value, f"{where}.categories", name, problems)
    missing = [c for c in s.CRIME_CATEGORIES if c not in cats]
    if missing:
        problems.add(f"{where}.categories", f"no weight for {', '.join(missing)}; add them")
    subs: dict[tuple[str, str], float] = {}
    for name, value in _table(table, "subcategories", where, problems).items():
        cat_part, sep, sub = str(name).partition("|")
        cat = canon.get(cat_part.strip().casefold())
        if not sep or cat is None or cat == s.ASB or not sub.strip():
            problems.add(
                f"{where}.subcategories", f"{name!r} should read 'Crime category | subcategory'"
            )
            continue
        pair = (cat, " ".join(sub.split()).casefold())
        subs[pair] = _weight(value, f"{where}.subcategories", name, problems)
    return HarmIndex(
        key=key,
        name=str(table.get("name", key)),
        unit=str(table.get("unit", "")),
        source=str(table.get("source", "")),
        categories=cats,
        subcategories=subs,
    )


def _weight(value: Any, where: str, name: str, problems: Problems) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        problems.add(where, f"{name!r}: a weight must be a number >= 0, found {value!r}")
        return math.nan
    return float(value)


# --- sources.toml ----------------------------------------------------------------------------

_ITEM_KEYS = {f.name for f in dataclasses.fields(FetchItem)}


def sources(raw: Mapping[str, Any], where: str, problems: Problems) -> Sources:
    """``sources.toml``: the ``[[source]]`` downloads and the ``[local]`` notes."""
    problems.unknown_keys(raw, {"local", "source"}, where)
    local = _table(raw, "local", where, problems)
    problems.unknown_keys(local, {"description", "mirror_only"}, f"{where} [local]")
    mirror = local.get("mirror_only", [])
    if not isinstance(mirror, list):
        problems.add(f"{where} [local]", "mirror_only should be a list of { path, note } tables")
        mirror = []
    only = [
        build(MirrorOnly, m, f"{where} [local] mirror_only[{i}]", problems)
        for i, m in enumerate(mirror)
    ]
    entries = raw.get("source", [])
    if not isinstance(entries, list):
        problems.add(where, "sources are [[source]] tables (an array of tables)")
        entries = []
    items = [_item(e, i, where, problems) for i, e in enumerate(entries, start=1)]
    names = [i.name for i in items if i is not None]
    for twice in sorted({n for n in names if names.count(n) > 1}):
        problems.add(where, f"two [[source]] entries are called {twice!r}; rename one")
    return Sources(
        items=tuple(i for i in items if i is not None),
        mirror_only=tuple(m for m in only if m is not None),
        description=str(local.get("description", "")),
    )


def _item(raw: Any, number: int, file: str, problems: Problems) -> FetchItem | None:
    where = f"{file} [[source]] #{number}"
    if not isinstance(raw, Mapping):
        problems.add(where, "should be a table")
        return None
    where = f"{where} ({raw.get('name', 'no name')!r})"
    before = len(problems.items)
    rules = raw.get("extract", [])
    if not isinstance(rules, list):
        problems.add(where, "'extract' should be a list of { member, to } tables")
        rules = []
    extract = [build(ExtractRule, r, f"{where} extract", problems) for r in rules]
    item = build(FetchItem, {k: v for k, v in raw.items() if k != "extract"}, where, problems,
                 extra={"extract": tuple(r for r in extract if r is not None)})  # fmt: skip
    if item is None or len(problems.items) > before:
        return None
    _check_item(item, where, problems)
    return item if len(problems.items) == before else None


def _check_item(item: FetchItem, where: str, problems: Problems) -> None:
    def bad(message: str) -> None:
        problems.add(where, message)

    for key in ("name", "url", "publisher", "licence", "description"):
        if not getattr(item, key).strip():
            bad(f"{key!r} is required (a non-empty string)")
    if not re.fullmatch(r"[a-z0-9_\-]+", item.name):
        bad("name should use a-z, 0-9, '_' and '-' only")
    for key in ("url", "page", "api"):
        value = getattr(item, key)
        if value is not None and not value.startswith(("https://", "http://")):
            bad(f"{key!r} should be an http(s) address, found {value!r}")
    for rule in item.extract:
        if not _is_safe_relative(rule.to):
            bad(f"extract 'to' {rule.to!r} is not a relative path inside the data folder")
    dest, archive, query = item.dest, item.archive, item.query
    if dest is not None and (not _is_safe_relative(dest) or dest.endswith("/")):
        bad(f"'dest' {dest!r} should be a file path inside the data folder")
    if archive not in (None, "zip"):
        bad(f'archive {archive!r} is not supported; use "zip"')
    if archive and not item.extract:
        bad("an archive needs 'extract' rules saying which members to keep")
    if item.extract and not archive:
        bad("'extract' needs archive = \"zip\"")
    if not archive and dest is None:
        bad("'dest' is required (the path under the data folder)")
    if query not in (None, "arcgis"):
        bad(f'query {query!r} is not supported; use "arcgis"')
    if query and archive:
        bad("'query' and 'archive' cannot be combined")
    if query and dict(parse_qsl(urlsplit(item.url).query)).get("f") != "geojson":
        bad("an ArcGIS query url must ask for f=geojson")
    if (item.api is None) != (item.resource is None):
        bad("'api' and 'resource' go together")
    if item.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", item.sha256):
        bad("sha256 should be 64 lower-case hex digits")


def _is_safe_relative(path: str) -> bool:
    p = PurePosixPath(path)
    return bool(path) and "\\" not in path and not p.is_absolute() and ".." not in p.parts


# --- access.toml -----------------------------------------------------------------------------


def access(raw: Mapping[str, Any], where: str, problems: Problems) -> AccessSettings | None:
    """``access.toml``: the sign-in mode asked for, the default role, the people."""
    table = dict(raw)
    users_raw = table.pop("users", {})
    if not isinstance(users_raw, Mapping):
        problems.add(where, f"[users] should be a table of people, found {users_raw!r}")
        users_raw = {}
    users: dict[str, UserEntry] = {}
    for identity, entry in users_raw.items():
        at = f"{where} [users.{identity!r}]"
        key = str(identity).strip().casefold()
        if key in users:
            problems.add(at, "repeated (ignoring case); give each person's sign-in e-mail once")
            continue
        built = build(UserEntry, entry, at, problems, extra={"identity": str(identity)})
        if built is not None:
            users[key] = built
    return build(AccessSettings, table, where, problems, extra={"users": users})


def resolve_access_boroughs(
    settings: AccessSettings | None,
    names: Mapping[str, str],
    aliases: Mapping[str, str],
    where: str,
    problems: Problems,
) -> AccessSettings:
    """*settings* with every user's boroughs as E09 codes (names and aliases accepted).

    Unknown boroughs are recorded in *problems* (the entry is then kept as written).
    """
    assert settings is not None  # load_config raised before, if the file had problems
    lookup = {code.casefold(): code for code in names}
    by_name = {name.casefold(): code for code, name in names.items()}
    lookup |= by_name
    for alias, name in aliases.items():
        if name.casefold() in by_name:
            lookup[alias.casefold()] = by_name[name.casefold()]
    users = {}
    for key, entry in settings.users.items():
        codes, unknown = [], False
        for value in entry.boroughs:
            code = lookup.get(value.strip().casefold())
            if code is None:
                close = difflib.get_close_matches(value, [*names.values(), *names], n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.add(
                    f"{where} [users.{entry.identity!r}]",
                    f"borough {value!r} is neither an E09 code nor a borough name in "
                    f"boroughs.toml{hint}",
                )
                unknown = True
            else:
                codes.append(code)
        codes = sorted(set(codes))
        users[key] = entry if unknown else dataclasses.replace(entry, boroughs=tuple(codes))
    return dataclasses.replace(settings, users=users)


# --- helpers ---------------------------------------------------------------------------------


def _table(raw: Mapping[str, Any], key: str, where: str, problems: Problems) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        problems.add(where, f"[{key}] should be a table, found {value!r}")
        return {}
    return value
