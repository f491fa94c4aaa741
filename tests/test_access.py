"""Roles and access: the rules enforced by the plan register, and who a session's user is.

The register-level tests (the ``register`` fixture) run on SQLite and, marked ``postgres``,
on the throwaway PostgreSQL server of tests/conftest.py. The backup import's checks
(issue 14 item 6) are here too: only a planner imports, every row passes the live write
path's checks, and the importer is recorded beside each row's author.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from planner.config import PlannerConfig, load_config
from planner.errors import ConfigError, PlannerError
from planner.register.access import (
    COMMANDER,
    COUNCIL_LEADER,
    IMPORT_BACKUP,
    LOCAL_PLANNER,
    PLANNER,
    RECORD_OVERRIDE,
    RECORD_PRIORITIES,
    SAVE_PLAN,
    VIEW,
    VIEWER,
    PermissionDenied,
    SignInRequired,
    User,
    can,
    check,
)
from planner.register.database import ENV_URL
from planner.register.identity import (
    AccessConfig,
    identity_source,
    load_access,
    resolve_user,
    user_from_identity,
)
from planner.register.store import InvalidRecordError, PlanRegister, RegisterError
from tests.factories import config_copy, register_at

CAMDEN, HACKNEY = "E09000007", "E09000012"
CAMDEN_WARDS = ("E05010000", "E05010001")
HACKNEY_WARDS = ("E05009001", "E05009002")
NAMES = {CAMDEN: "Camden", HACKNEY: "Hackney"}  # borough names for messages (boroughs.toml)

COMMANDER_CAMDEN = User("cmdr@met.police.uk", COMMANDER, frozenset({CAMDEN}), NAMES)
LEADER_CAMDEN = User("leader@camden.gov.uk", COUNCIL_LEADER, frozenset({CAMDEN}), NAMES)
VIEWER_USER = User("someone@example.org", VIEWER)
PLANNER_USER = User("planner@met.police.uk", PLANNER)

USERS = {
    "Camden.Commander@met.police.uk": {"role": "commander", "boroughs": ["E09000007"]},
    "leader@camden.gov.uk": {"role": "council leader", "boroughs": ["camden"], "name": "Cllr A"},
    "two@met.police.uk": {
        "role": "borough commander",
        "boroughs": ["City of Westminster", "Hackney"],
    },
    "planner@met.police.uk": {"role": "planner"},
}


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)


@pytest.fixture
def register(engine_url: str) -> PlanRegister:
    """A new register on SQLite and (marked postgres) on PostgreSQL."""
    reg = register_at(engine_url)
    yield reg
    reg.close()


def _allocation() -> pd.DataFrame:
    wards = [*CAMDEN_WARDS, *HACKNEY_WARDS]
    return pd.DataFrame(
        {
            "borough_code": [CAMDEN, CAMDEN, HACKNEY, HACKNEY],
            "baseline_dwo": 2,
            "baseline_pcso": 1,
            "extra": [1, 2, 3, 4],
            "total_dwo": [3, 4, 5, 6],
            "need_score": np.linspace(0.1, 0.9, 4),
        },
        index=pd.Index(wards, name="ward_code"),
    )


def _override(reg: PlanRegister, user: User, borough: str = CAMDEN, **kw) -> int:
    wards = CAMDEN_WARDS if borough == CAMDEN else HACKNEY_WARDS
    kw.setdefault("wards_in_borough", set(wards))
    return reg.record_override(borough, *wards, 1, "school run", user=user, **kw)


def _priorities(reg: PlanRegister, user: User, borough: str = CAMDEN, **kw) -> int:
    name = "Camden" if borough == CAMDEN else "Hackney"
    kw.setdefault("agreed_by", "Borough commander and council leader")
    return reg.record_priorities(borough, name, 2026, ["Burglary", "Robbery"], user=user, **kw)


def _save(reg: PlanRegister, user: User, **kw) -> int:
    return reg.save_plan("draft", _allocation(), settings={}, manifest={}, user=user, **kw)


def _written(reg: PlanRegister) -> tuple[int, int, int]:
    return len(reg.overrides()), len(reg.priorities_history()), len(reg.list_plans())


# --- the rules, at the planner level ------------------------------------------------------


def test_commander_records_overrides_in_their_borough_only(register: PlanRegister) -> None:
    with pytest.raises(
        PermissionDenied,
        match=r"cmdr@met\.police\.uk \(borough commander of Camden \(E09000007\)\) may not "
        r"record an override in Hackney \(E09000012\): only a borough commander of that "
        r"borough or a planner may",
    ):
        _override(register, COMMANDER_CAMDEN, HACKNEY)
    assert _written(register) == (0, 0, 0)
    _override(register, COMMANDER_CAMDEN, CAMDEN)
    with pytest.raises(PermissionDenied, match=r"may not record agreed priorities in Camden"):
        _priorities(register, COMMANDER_CAMDEN)
    with pytest.raises(PermissionDenied, match=r"may not save a plan: only a planner may"):
        _save(register, COMMANDER_CAMDEN)
    assert _written(register) == (1, 0, 0)


def test_council_leader_records_their_boroughs_priorities_only(register: PlanRegister) -> None:
    _priorities(register, LEADER_CAMDEN)
    with pytest.raises(
        PermissionDenied,
        match=r"leader@camden\.gov\.uk \(council leader of Camden \(E09000007\)\) may not "
        r"record agreed priorities in Hackney \(E09000012\)",
    ):
        _priorities(register, LEADER_CAMDEN, HACKNEY)
    with pytest.raises(PermissionDenied, match=r"may not record an override in Camden"):
        _override(register, LEADER_CAMDEN)
    with pytest.raises(PermissionDenied, match=r"may not save a plan"):
        _save(register, LEADER_CAMDEN)
    assert _written(register) == (0, 1, 0)


def test_viewer_changes_nothing(register: PlanRegister) -> None:
    for write, match in (
        (_override, r"someone@example\.org \(viewer\) may not record an override in Camden"),
        (_priorities, r"\(viewer\) may not record agreed priorities in Camden"),
        (_save, r"\(viewer\) may not save a plan"),
    ):
        with pytest.raises(PermissionDenied, match=match):
            write(register, VIEWER_USER)
    assert _written(register) == (0, 0, 0)
    assert register.list_plans().empty  # ... and may read


@pytest.mark.parametrize("user", [PLANNER_USER, LOCAL_PLANNER], ids=["planner", "local"])
def test_planner_does_everything(register: PlanRegister, user: User) -> None:
    plan = _save(register, user)
    _override(register, user, CAMDEN, plan_id=plan)
    _override(register, user, HACKNEY, plan_id=plan)
    _priorities(register, user, CAMDEN)
    _priorities(register, user, HACKNEY)
    assert _written(register) == (2, 2, 1)


def test_every_write_records_who_made_it(register: PlanRegister) -> None:
    plan = _save(register, PLANNER_USER)
    _override(register, COMMANDER_CAMDEN, plan_id=plan)
    _priorities(register, LEADER_CAMDEN)
    _override(register, LOCAL_PLANNER, HACKNEY)
    assert register.load_plan(plan)[0]["created_by"] == "planner@met.police.uk"
    assert register.list_plans()["created_by"].tolist() == ["planner@met.police.uk"]
    assert register.overrides()["recorded_by"].tolist() == [
        "cmdr@met.police.uk",
        "local planner (no sign-in configured)",
    ]
    assert register.priorities_history()["recorded_by"].tolist() == ["leader@camden.gov.uk"]


def test_a_signed_in_user_cannot_write_under_another_name(register: PlanRegister) -> None:
    with pytest.raises(PermissionDenied, match=r"is signed in, so the record carries their own"):
        _override(register, COMMANDER_CAMDEN, recorded_by="Ch Supt Someone Else")
    with pytest.raises(PermissionDenied, match=r"created_by='x' can only be given in local mode"):
        _save(register, PLANNER_USER, created_by="x")
    _priorities(register, LEADER_CAMDEN, recorded_by="leader@camden.gov.uk")  # own name: fine
    # local mode: the typed-in name is kept (the deprecated, backward-compatible path)
    _override(register, LOCAL_PLANNER, recorded_by="Ch Supt Smith")
    assert register.overrides()["recorded_by"].tolist() == ["Ch Supt Smith"]


def test_override_wards_must_belong_to_the_borough_checked(register: PlanRegister) -> None:
    """A Camden commander cannot move Hackney officers by calling them Camden's."""
    plan = _save(register, PLANNER_USER)
    with pytest.raises(
        InvalidRecordError,
        match=r"from_ward 'E05009001' is in 'E09000012', not a ward of borough 'E09000007' in "
        r"plan 1; to_ward 'E05099999' is not in the plan",
    ):
        register.record_override(
            CAMDEN, HACKNEY_WARDS[0], "E05099999", 1, "x", user=COMMANDER_CAMDEN, plan_id=plan
        )
    with pytest.raises(InvalidRecordError, match=r"from_ward 'E05009001' is not a ward of"):
        register.record_override(
            CAMDEN,
            *HACKNEY_WARDS,
            1,
            "x",
            user=COMMANDER_CAMDEN,
            wards_in_borough=set(CAMDEN_WARDS),
        )
    assert register.overrides().empty


def test_permission_denied_is_a_planner_error_not_a_register_error(register) -> None:
    with pytest.raises(PermissionDenied) as info:
        _save(register, VIEWER_USER)
    assert isinstance(info.value, PlannerError) and isinstance(info.value, PermissionError)
    assert not isinstance(info.value, RegisterError)
    with pytest.raises(TypeError, match=r"user should be a planner\.register\.access\.User"):
        register.save_plan("x", _allocation(), settings={}, manifest={}, user="planner")


def test_existing_callers_keep_working_as_the_local_planner(register: PlanRegister) -> None:
    register.save_plan("cli", _allocation(), settings={}, manifest={}, created_by="local planner")
    register.record_override(CAMDEN, *CAMDEN_WARDS, 1, "events", recorded_by="borough commander")
    register.record_priorities(CAMDEN, "Camden", 2026, ["A", "B"], agreed_by="both")
    assert register.list_plans()["created_by"].tolist() == ["local planner"]
    assert register.priorities_history()["recorded_by"].tolist() == [LOCAL_PLANNER.name]


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        (VIEWER_USER, {VIEW}),
        (COMMANDER_CAMDEN, {VIEW, (RECORD_OVERRIDE, CAMDEN)}),
        (LEADER_CAMDEN, {VIEW, (RECORD_PRIORITIES, CAMDEN)}),
        (
            PLANNER_USER,
            {VIEW, SAVE_PLAN, IMPORT_BACKUP}
            | {(a, b) for a in (RECORD_OVERRIDE, RECORD_PRIORITIES) for b in (CAMDEN, HACKNEY)},
        ),
    ],
    ids=["viewer", "commander", "council-leader", "planner"],
)
def test_the_role_table(user: User, allowed: set) -> None:
    asked = {VIEW, SAVE_PLAN, IMPORT_BACKUP} | {
        (a, b) for a in (RECORD_OVERRIDE, RECORD_PRIORITIES) for b in (CAMDEN, HACKNEY)
    }
    granted = {q for q in asked if (can(user, *q) if isinstance(q, tuple) else can(user, q))}
    assert granted == allowed
    assert not can(user, RECORD_OVERRIDE, None) or user.role == PLANNER


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("x", "admin"), r"unknown role 'admin'"),
        (("x", COMMANDER), r"a borough commander needs the borough\(s\)"),
        (("x", PLANNER, frozenset({CAMDEN})), r"a planner holds no boroughs"),
        (("  ", VIEWER), r"a user needs a name"),
        (("x", COUNCIL_LEADER, "E09000007"), r"should be a set of E09 codes"),
    ],
    ids=["role", "no-borough", "planner-borough", "no-name", "string-boroughs"],
)
def test_user_is_checked(args: tuple, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        User(*args)


# --- identities and configuration --------------------------------------------------------

SHIPPED_ACCESS = {"sign_in": "auto", "default_role": "viewer", "allow_local_mode": True}
"""The top-level settings of config/access.toml as shipped (written here as test data)."""


def access_toml(users: dict[str, dict[str, Any]] | None = None, **top: Any) -> str:
    """The text of an access.toml: the shipped settings changed by *top*, then [users]."""
    users = USERS if users is None else users

    def value(v: Any) -> str:  # strings and lists of strings are written alike in JSON
        return ("true" if v else "false") if isinstance(v, bool) else json.dumps(v)

    lines = [f"{key} = {value(v)}" for key, v in {**SHIPPED_ACCESS, **top}.items()]
    lines.append("[users]")
    for identity, entry in users.items():
        lines.append(f"[users.{json.dumps(identity)}]")
        lines += [f"{key} = {value(v)}" for key, v in entry.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def copy_with(tmp_path: Path):
    """copy_with(users, **top) -> a copy of the shipped config folder with that access.toml."""
    numbers = itertools.count()

    def make(users: dict[str, dict[str, Any]] | None = None, **top: Any) -> Path:
        folder = tmp_path / f"copy-{next(numbers)}"
        return config_copy(folder, access=access_toml(users, **top))

    return make


@pytest.fixture
def configure(copy_with):
    """configure(users, **top) -> the shipped configuration with that access.toml."""

    def make(users: dict[str, dict[str, Any]] | None = None, **top: Any) -> PlannerConfig:
        return load_config(copy_with(users, **top))

    return make


@pytest.fixture
def access_config(configure):
    """access_config(users, **top) -> its AccessConfig, no Streamlit secrets file."""

    def make(users: dict[str, dict[str, Any]] | None = None, **top: Any) -> AccessConfig:
        return load_access(configure(users, **top), secrets_files=[])

    return make


def test_identity_maps_to_roles_and_boroughs(access_config) -> None:
    config = access_config()
    cmdr = user_from_identity("  camden.commander@MET.police.uk ", config=config)
    assert (cmdr.role, cmdr.boroughs) == (COMMANDER, {CAMDEN})
    assert cmdr.describe() == (
        "Camden.Commander@met.police.uk (borough commander of Camden (E09000007))"
    )
    leader = user_from_identity("leader@camden.gov.uk", config=config)
    assert leader == User("Cllr A <leader@camden.gov.uk>", COUNCIL_LEADER, frozenset({CAMDEN}))
    two = user_from_identity("two@met.police.uk", config=config)
    assert two.boroughs == {"E09000033", HACKNEY}  # an alias and a name, as codes
    assert "of Hackney (E09000012), Westminster (E09000033)" in two.describe()
    assert user_from_identity("planner@met.police.uk", config=config).role == PLANNER
    stranger = user_from_identity("stranger@gmail.com", config=config)
    assert stranger == User("stranger@gmail.com", VIEWER)


def test_default_role_none_refuses_strangers(access_config) -> None:
    config = access_config(default_role="none")
    with pytest.raises(PermissionDenied, match=r"stranger@gmail\.com is signed in but not listed"):
        user_from_identity("stranger@gmail.com", config=config)
    assert user_from_identity("planner@met.police.uk", config=config).role == PLANNER


def test_check_names_the_borough_and_gives_the_reason() -> None:
    bare = User("cmdr@met.police.uk", COMMANDER, frozenset({CAMDEN}))  # no borough names
    with pytest.raises(PermissionDenied) as info:
        check(bare, RECORD_OVERRIDE, HACKNEY, names=NAMES)
    reason = (
        "cmdr@met.police.uk (borough commander of Camden (E09000007)) may not record an override in "
        "Hackney (E09000012): only a borough commander of that borough or a planner may."
    )
    assert info.value.reason == reason
    assert str(info.value).startswith(f"{reason} Nothing was written.")
    assert str(info.value).endswith("give them that role in config/access.toml [users]")
    with pytest.raises(PermissionDenied, match=r"record an override in 'E09000012': only"):
        check(bare, RECORD_OVERRIDE, HACKNEY)  # no names anywhere: the code alone
    with pytest.raises(PermissionDenied, match=r"of Camden \(E09000007\)\) may not save a plan"):
        check(COMMANDER_CAMDEN, SAVE_PLAN)  # the user's own names describe them
    check(COMMANDER_CAMDEN, RECORD_OVERRIDE, CAMDEN, names=NAMES)  # allowed: nothing raised


USER = r" \[users\.'a@b'\]"


@pytest.mark.parametrize(
    ("users", "top", "match"),
    [
        ({}, {"default_role": "planner"}, r": 'default_role' should be one of 'viewer', 'none'"),
        ({}, {"sign_in": "magic"}, r": 'sign_in' should be one of 'auto', 'oidc', 'header', 'loc"),
        ({}, {"trusted_header": "X Email"}, r": trusted_header should be a header name"),
        ({}, {"sign_in": "header"}, r': sign_in = "header" needs trusted_header'),
        ({"a@b": {"role": "mayor"}}, {}, USER + r": role 'mayor' is not one of"),
        (
            {"a@b": {"role": "commander", "boroughs": ["Camdem"]}},
            {},
            USER + r": borough 'Camdem' is neither an E09 code nor a borough name in "
            r"boroughs\.toml; did you mean 'Camden'\?",
        ),
        ({"a@b": {"role": "commander"}}, {}, USER + r": a borough commander needs the borough"),
        (
            {"a@b": {"role": "viewer", "team": "x"}},
            {},
            USER + r": unknown key 'team'; correct its spelling or remove it \(keys allowed "
            r"here: boroughs, name, role\)",
        ),
        (
            {"a@b": {"role": "viewer"}, "A@B": {"role": "viewer"}},
            {},
            r" \[users\.'A@B'\]: repeated \(ignoring case\)",
        ),
        (
            {},
            {"admins": []},
            r": unknown key 'admins'; correct its spelling or remove it \(keys allowed here: "
            r"allow_local_mode, default_role, email_verified_claim, server_addresses, sign_in, "
            r"trusted_header\)",
        ),
    ],
    ids=[
        "default-planner",
        "mode",
        "header-name",
        "header-missing",
        "role",
        "borough-typo",
        "no-boroughs",
        "user-key",
        "repeated",
        "top-key",
    ],
)
def test_bad_access_config(copy_with, users: dict, top: dict, match: str) -> None:
    """Problems in access.toml itself are found when the configuration is loaded, each
    naming the file (and the [users] table) and the key."""
    folder = copy_with(users, **top)
    with pytest.raises(ConfigError, match=r"1 problem\(s\) in the configuration in") as info:
        load_config(folder)
    assert re.search(re.escape(str(folder / "access.toml")) + match, str(info.value))


def test_every_access_problem_is_listed_at_once(copy_with) -> None:
    folder = copy_with({"a@b": {"role": "mayor"}, "c@d": {"role": "viewer", "team": "x"}})
    with pytest.raises(ConfigError, match=r"2 problem\(s\)") as info:
        load_config(folder)
    assert "role 'mayor'" in str(info.value) and "unknown key 'team'" in str(info.value)


@pytest.mark.parametrize(
    ("top", "match"),
    [
        ({"sign_in": "oidc"}, r'sign_in = "oidc" but no .streamlit/secrets.toml has an \[auth\]'),
        ({"allow_local_mode": False}, r"no sign-in is configured and allow_local_mode = false"),
    ],
    ids=["oidc-without-auth", "local-refused"],
)
def test_impossible_sign_in_mode(configure, top: dict, match: str) -> None:
    """Which sign-in mode is in force depends on Streamlit's secrets too: the configuration
    loads, and load_access (the app's start) refuses it, naming access.toml."""
    config = configure({}, **top)
    for call in (load_access, identity_source):
        with pytest.raises(ConfigError, match=r"access\.toml: " + match):
            call(config, secrets_files=[])


def _secrets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".streamlit" / "secrets.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


AUTH = """
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "s3cret-cookie"
client_id = "id"
client_secret = "s3cret-client"
server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"
"""


def test_identity_source_modes(tmp_path: Path, configure) -> None:
    none = _secrets(tmp_path, 'other = "x"\n')
    plain = configure({})
    local = identity_source(plain, secrets_files=[tmp_path / "missing.toml", none])
    assert local.mode == "local" and "No sign-in is configured" in local.description
    assert "local planner (no sign-in configured)" in local.description
    with_header = configure({}, trusted_header="X-Forwarded-Email")
    header = identity_source(with_header, secrets_files=[none])
    assert (header.mode, header.trusted_header) == ("header", "X-Forwarded-Email")
    assert "reachable only through that proxy" in header.description
    oidc_file = _secrets(tmp_path, AUTH)
    oidc = identity_source(plain, secrets_files=[oidc_file])
    assert oidc.mode == "oidc" and "st.login" in oidc.description
    assert "s3cret" not in oidc.description
    with pytest.raises(ConfigError, match=r"both an \[auth\] section .* choose one"):
        identity_source(with_header, secrets_files=[oidc_file])
    chosen = identity_source(
        configure({}, trusted_header="X-Forwarded-Email", sign_in="header"),
        secrets_files=[oidc_file],
    )
    assert chosen.mode == "header"


def test_unreadable_secrets_file_is_not_echoed(tmp_path: Path, configure) -> None:
    broken = _secrets(tmp_path, 'cookie_secret = "s3cret\n[auth')
    with pytest.raises(ConfigError, match=r"secrets\.toml: cannot be read as TOML") as info:
        identity_source(configure({}), secrets_files=[broken])
    assert "s3cret" not in str(info.value)


def test_resolve_user_oidc(tmp_path: Path, configure) -> None:
    config = load_access(configure(), secrets_files=[_secrets(tmp_path, AUTH)])
    headers = {"X-Forwarded-Email": "planner@met.police.uk"}  # ignored: not the mode in force
    user = resolve_user(
        oidc_email="camden.commander@met.police.uk",
        oidc_claims={"email_verified": True},
        headers=headers,
        config=config,
    )
    assert (user.role, user.boroughs) == (COMMANDER, {CAMDEN})
    for missing in (None, "", "  "):
        with pytest.raises(SignInRequired, match=r"sign in to use the planner .*st\.login"):
            resolve_user(oidc_email=missing, headers=headers, config=config)


def test_resolve_user_trusted_header(access_config) -> None:
    config = access_config(trusted_header="X-Forwarded-Email")
    user = resolve_user(
        oidc_email="planner@met.police.uk",  # ignored: the proxy's header is the identity
        headers={"x-forwarded-email": "Camden.Commander@met.police.uk", "Host": "planner"},
        config=config,
    )
    assert user.role == COMMANDER
    for headers in (None, {}, {"Host": "planner"}, {"X-Forwarded-Email": " "}):
        with pytest.raises(SignInRequired, match=r"no X-Forwarded-Email header: .* proxy"):
            resolve_user(oidc_email=None, headers=headers, config=config)
    for bad in ("a@x.org, planner@met.police.uk", "a@x.org\nplanner@met.police.uk", "x" * 400):
        with pytest.raises(PermissionDenied, match=r"is not usable"):
            resolve_user(oidc_email=None, headers={"X-Forwarded-Email": bad}, config=config)


def test_resolve_user_local_mode(access_config) -> None:
    config = access_config()
    user = resolve_user(oidc_email="planner@met.police.uk", headers={"X": "y"}, config=config)
    assert user is LOCAL_PLANNER and user.is_local and user.role == PLANNER
    assert not PLANNER_USER.is_local


def test_shipped_access_config_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: PlannerConfig
) -> None:
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here ...
    monkeypatch.setenv("HOME", str(tmp_path))  # ... nor in the home folder
    access = load_access(config, secrets_files=[])
    assert access.source.mode == "local" and access.default_role == VIEWER
    assert access.where.endswith("access.toml")
    assert access.where == str(config.file("access"))
    # the planner configuration itself is accepted wherever an AccessConfig is
    assert identity_source(config).mode == "local"
    assert user_from_identity("Someone@example.org", config=config) == User(
        "Someone@example.org", VIEWER
    )
    assert resolve_user(oidc_email=None, headers=None, config=config) is LOCAL_PLANNER


# --- backup import: who may, and every row checked (issue 14 item 6) -----------------------


@pytest.fixture
def backup_file(register: PlanRegister, tmp_path: Path) -> Path:
    """A backup of a register holding one record of each kind, by three people."""
    plan = _save(register, PLANNER_USER)
    _override(register, COMMANDER_CAMDEN, plan_id=plan)
    _priorities(register, LEADER_CAMDEN, notes="agreed at the ward panel")
    return register.export(tmp_path / "backup.json")


def _forged(path: Path, table: str, change: dict[str, Any] | None, drop: str = "") -> Path:
    data = json.loads(path.read_text(encoding="utf-8"))
    row = data["tables"][table][0]
    row.update(change or {})
    row.pop(drop, None)
    forged = path.with_name(f"forged-{table}.json")
    forged.write_text(json.dumps(data), encoding="utf-8")
    return forged


@pytest.mark.parametrize(
    "user", [COMMANDER_CAMDEN, LEADER_CAMDEN, VIEWER_USER], ids=["commander", "leader", "viewer"]
)
def test_only_a_planner_imports_a_backup(backup_file: Path, new_url, user: User) -> None:
    target = register_at(new_url())
    with pytest.raises(PermissionDenied, match=r"may not import a register backup: only a planner"):
        target.import_(backup_file, user=user)
    assert _written(target) == (0, 0, 0) and target.imports().empty


def test_the_importer_is_recorded_beside_each_author(backup_file: Path, new_url) -> None:
    target = register_at(new_url())
    target.import_(backup_file, user=PLANNER_USER)
    plans, overrides, history = target.list_plans(), target.overrides(), target.priorities_history()
    assert (plans["created_by"].tolist(), plans["imported_by"].tolist()) == (
        ["planner@met.police.uk"],
        ["planner@met.police.uk"],
    )
    assert overrides[["recorded_by", "imported_by"]].values.tolist() == [
        ["cmdr@met.police.uk", "planner@met.police.uk"]
    ]
    assert history[["recorded_by", "imported_by"]].values.tolist() == [
        ["leader@camden.gov.uk", "planner@met.police.uk"]
    ]
    made = target.imports()
    assert made[["imported_by", "source_file"]].values.tolist() == [
        ["planner@met.police.uk", "backup.json"]
    ]
    assert made["imported_at"].iloc[0] > history["agreed_at"].iloc[0]  # its own time


FORGERIES = [
    ("agreed_priorities", {"priorities": 5}, "", r"priorities should be a list of two or more"),
    ("agreed_priorities", {"borough_name": "Hackney"}, "", r"'Hackney' is not the name of E09000007"),
    ("agreed_priorities", {"borough_code": "E09000099"}, "", r"'E09000099' is not a borough"),
    ("agreed_priorities", {"year": "2026"}, "", r"year should be a whole year such as 2026"),
    ("agreed_priorities", {"agreed_at": "2026-01-01T09:00:00"}, "", r"agreed_at should be a time with its UTC offset"),
    ("agreed_priorities", {"agreed_at": "yesterday"}, "", r"agreed_at should be a time"),
    ("agreed_priorities", None, "recorded_by", r"recorded_by is required and was empty"),
    ("agreed_priorities", {"recorded_by": "x\nPlanner: the Commissioner"}, "", r"recorded_by .* contains control characters"),
    ("agreed_priorities", {"evidence_html": "<b>"}, "", r"unknown column\(s\) evidence_html"),
    ("overrides", {"officers": 0}, "", r"officers should be a whole number above 0, found 0"),
    ("overrides", {"officers": True}, "", r"officers should be a whole number above 0, found True"),
    ("overrides", {"reason": ""}, "", r"reason is required and was empty"),
    ("overrides", {"reason": "a\x00b"}, "", r"reason contains a NUL character"),
    ("overrides", {"to_ward": "E05009001"}, "", r"to_ward 'E05009001' is in 'E09000012', not a ward of borough 'E09000007' in plan 1"),
    ("overrides", {"borough_code": HACKNEY}, "", r"from_ward 'E05010000' is in 'E09000007', not a ward of borough 'E09000012'"),
    ("overrides", {"plan_id": 7}, "", r"plan_id 7 is not a saved plan"),
    ("plan_rows", {"extra": -1}, "", r"extra should be whole numbers >= 0; rows 1 are not"),
    ("plan_rows", {"ward_code": "E05" + "9" * 30}, "", r"ward_code should be a code of 1 to 16 characters"),
    ("plan_rows", {"need_score": "high"}, "", r"need_score should be a finite number or empty"),
    ("plan_rows", {"ward_code": 5}, "", r"ward_code should be text in every row, found int"),
    ("plans", {"settings": "pool=600"}, "", r"settings should be a mapping \(dict\), found str"),
    ("plans", {"created_by": None}, "", r"created_by is required and was empty"),
    ("plans", {"id": "1"}, "", r"id should be a whole number above 0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "change", "drop", "match"),
    FORGERIES,
    ids=[f"{t}-{m.split(' ')[0].strip('(r')}-{i}" for i, (t, _c, _d, m) in enumerate(FORGERIES)],
)
def test_forged_backup_rows_are_refused(
    backup_file: Path, new_url, table: str, change, drop: str, match: str
) -> None:
    """Each row is checked as the live write path checks it; nothing of the file goes in."""
    forged = _forged(backup_file, table, change, drop)
    target = register_at(new_url())
    with pytest.raises(InvalidRecordError, match=match) as info:
        target.import_(forged, user=PLANNER_USER)
    assert str(forged) in str(info.value) and "nothing was imported" in str(info.value)
    assert _written(target) == (0, 0, 0) and target.imports().empty


def test_every_forged_row_is_listed_at_once(backup_file: Path, new_url) -> None:
    data = json.loads(backup_file.read_text(encoding="utf-8"))
    data["tables"]["agreed_priorities"][0].update(priorities=5, year=1066)
    data["tables"]["overrides"][0].update(officers=-2)
    forged = backup_file.with_name("forged.json")
    forged.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(
        InvalidRecordError,
        match=r"3 problem\(s\) in the backup.*agreed_priorities row 1: year .*agreed_priorities "
        r"row 1: priorities .*overrides row 1: officers",
    ):
        register_at(new_url()).import_(forged, user=PLANNER_USER)


def test_cli_import_needs_a_planner_where_sign_in_is_configured(
    backup_file: Path, copy_with, new_url, monkeypatch, capsys
) -> None:
    from planner.cli import main

    users = {
        "cmdr@met.police.uk": {"role": "commander", "boroughs": ["Camden"]},
        "planner@met.police.uk": {"role": "planner", "name": "Planning Team"},
    }
    folder = copy_with(users, trusted_header="X-Forwarded-Email", allow_local_mode=False)
    url = new_url()
    monkeypatch.setenv(ENV_URL, url)
    run = ["--config", str(folder), "register", "import", str(backup_file)]
    assert main(run) == 2
    assert "give --user EMAIL of a planner" in capsys.readouterr().err
    assert main([*run, "--user", "cmdr@met.police.uk"]) == 2
    assert "may not import a register backup: only a planner may" in capsys.readouterr().err
    assert main([*run, "--user", "PLANNER@met.police.uk"]) == 0
    assert "by Planning Team <planner@met.police.uk>" in capsys.readouterr().out
    assert main(["--config", str(folder), "register", "imports"]) == 0
    assert "Planning Team <planner@met.police.uk>" in capsys.readouterr().out
    assert register_at(url).overrides()["imported_by"].tolist() == [
        "Planning Team <planner@met.police.uk>"
    ]


# --- one identity per request (issue 14 item 3) ---------------------------------------------


def _streamlit_headers(pairs: list[tuple[str, str]]) -> Any:
    """Headers as the app gets them: Streamlit's st.context.headers object."""
    from streamlit.runtime.context import StreamlitHeaders

    return StreamlitHeaders(pairs)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            lambda: _streamlit_headers(
                [
                    ("X-Forwarded-Email", "planner@met.police.uk"),  # the client's forgery
                    ("X-Forwarded-Email", "someone@example.org"),  # the proxy's, appended
                ]
            ),
            id="streamlit-headers",
        ),
        pytest.param(
            lambda: [("x-forwarded-email", "planner@met.police.uk"), ("X-Forwarded-Email", "a@b")],
            id="pairs",
        ),
        pytest.param(
            lambda: {"X-Forwarded-Email": "planner@met.police.uk", "x-forwarded-email": "a@b"},
            id="mapping-two-spellings",
        ),
    ],
)
def test_a_doubled_identity_header_refuses_the_request(access_config, headers) -> None:
    config = access_config(trusted_header="X-Forwarded-Email")
    with pytest.raises(PermissionDenied, match=r"carries the X-Forwarded-Email header 2 times"):
        resolve_user(oidc_email=None, headers=headers(), config=config)
    # one header, as a proxy that overwrites it sends: the proxy's person, not a planner
    single = _streamlit_headers([("X-Forwarded-Email", "someone@example.org")])
    assert resolve_user(oidc_email=None, headers=single, config=config).role == VIEWER


@pytest.mark.parametrize(
    "value",
    [
        "a@x.org planner@met.police.uk",
        "a@x.org\tplanner@met.police.uk",
        "planner@met.police.uk@x.org",
        "a@x.org;planner@met.police.uk",
        "<planner@met.police.uk>",
    ],
    ids=["space", "tab", "two-ats", "semicolon", "angle"],
)
def test_more_than_one_address_in_the_header_is_refused(access_config, value: str) -> None:
    config = access_config(trusted_header="X-Forwarded-Email")
    with pytest.raises(PermissionDenied, match=r"identity is not usable"):
        resolve_user(oidc_email=None, headers={"X-Forwarded-Email": value}, config=config)


LOOKALIKES = [
    ("\u212aelvin@met.police.uk", "kelvin@met.police.uk", "Kelvin sign"),
    ("\u017fam@met.police.uk", "sam@met.police.uk", "long s"),
    ("\uff50lanner@met.police.uk", "planner@met.police.uk", "full-width p"),
    ("planner@met.police.u\u212a", "planner@met.police.uk", "Kelvin sign in the domain"),
    ("\u0440lanner@met.police.uk", "planner@met.police.uk", "Cyrillic er"),
    ("planner@stra\u00dfe.de", "planner@strasse.de", "sharp s (IDNA maps it to ss)"),
]


@pytest.mark.parametrize(("forged", "real", "what"), LOOKALIKES, ids=[w for *_, w in LOOKALIKES])
def test_lookalike_addresses_never_fold_onto_real_users(
    access_config, forged: str, real: str, what: str
) -> None:
    users = {real: {"role": "planner"}}
    config = access_config(users, trusted_header="X-Forwarded-Email")
    assert user_from_identity(real.upper(), config=config).role == PLANNER  # case is ignored
    with pytest.raises(PermissionDenied, match=r"identity is not usable: it has") as info:
        resolve_user(oidc_email=None, headers={"X-Forwarded-Email": forged}, config=config)
    assert forged not in str(info.value)  # never echoed


def test_a_lookalike_domain_is_recorded_in_its_idna_form(access_config) -> None:
    config = access_config({"planner@met.police.uk": {"role": "planner"}})
    user = user_from_identity("planner@m\u0435t.police.uk", config=config)  # Cyrillic ie
    assert user.role == VIEWER
    assert user.name == "planner@xn--mt-nlc.police.uk"


def test_a_lookalike_identity_in_the_access_file_is_refused(copy_with) -> None:
    folder = copy_with({"\u212aelvin@met.police.uk": {"role": "planner"}})
    with pytest.raises(ConfigError, match=r"is not a usable identity \(it has compatibility"):
        load_config(folder)


@pytest.mark.parametrize(
    ("claims", "ok"),
    [
        ({"email_verified": True}, True),
        ({"email_verified": "true"}, True),
        ({"email_verified": False}, False),
        ({"email_verified": "false"}, False),
        ({}, False),
        (None, False),
    ],
    ids=["true", "true-text", "false", "false-text", "missing", "no-claims"],
)
def test_an_oidc_email_counts_only_when_verified(tmp_path, configure, claims, ok) -> None:
    config = load_access(configure(), secrets_files=[_secrets(tmp_path, AUTH)])
    call = lambda: resolve_user(  # noqa: E731
        oidc_email="planner@met.police.uk", oidc_claims=claims, headers=None, config=config
    )
    if ok:
        assert call().role == PLANNER
    else:
        with pytest.raises(PermissionDenied, match=r"does not say this e-mail .* is verified"):
            call()


def test_the_verified_claim_is_configurable(tmp_path, configure) -> None:
    entra = load_access(
        configure(email_verified_claim="xms_edov"), secrets_files=[_secrets(tmp_path, AUTH)]
    )
    email = "planner@met.police.uk"
    claims = {"xms_edov": True}
    assert resolve_user(oidc_email=email, oidc_claims=claims, headers=None, config=entra)
    with pytest.raises(PermissionDenied, match=r"claim 'xms_edov' is missing"):
        resolve_user(
            oidc_email=email, oidc_claims={"email_verified": True}, headers=None, config=entra
        )


@pytest.mark.parametrize(
    ("top", "address", "match"),
    [
        ({"trusted_header": "X-Forwarded-Email"}, "", r"every interface .* header mode"),
        ({"trusted_header": "X-Forwarded-Email"}, "0.0.0.0", r"listens on 0\.0\.0\.0"),
        ({"trusted_header": "X-Forwarded-Email"}, "10.0.0.5", r"server_addresses"),
        ({}, "", r"local mode everyone who reaches it acts as the local planner"),
        ({}, "192.168.1.20", r"configure sign-in"),
    ],
    ids=["header-all", "header-any", "header-lan", "local-all", "local-lan"],
)
def test_header_and_local_mode_refuse_a_server_open_beyond_loopback(
    configure, top: dict, address: str, match: str
) -> None:
    config = configure({}, **top)
    with pytest.raises(ConfigError, match=r"access\.toml: the app .*" + match):
        identity_source(config, secrets_files=[], server_address=address)


def test_loopback_or_a_listed_proxy_address_is_accepted_and_said(tmp_path, configure) -> None:
    header = configure({}, trusted_header="X-Forwarded-Email", server_addresses=["10.0.0.5"])
    for address in ("127.0.0.1", "::1", "localhost", "10.0.0.5"):
        source = identity_source(header, secrets_files=[], server_address=address)
        assert source.description.endswith(f"The app listens on {address} only.")
    local = identity_source(configure({}), secrets_files=[], server_address="127.0.0.1")
    assert local.mode == "local" and "listens on 127.0.0.1 only" in local.description
    oidc = identity_source(
        configure({}), secrets_files=[_secrets(tmp_path, AUTH)], server_address=""
    )
    assert oidc.mode == "oidc"  # a verified sign-in: the app may listen anywhere
    with pytest.raises(ConfigError, match=r"server_addresses should hold IP addresses"):
        configure({}, server_addresses=["proxy.internal"])


def test_the_shipped_streamlit_config_listens_on_loopback() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    settings = tomllib.loads((root / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert settings["server"]["address"] == "127.0.0.1"


def test_the_local_planner_cannot_write_where_sign_in_is_configured(copy_with, new_url) -> None:
    """`plan --save` (and every other write) under allow_local_mode = false or with sign-in
    configured never records "local planner"."""
    for top in ({"allow_local_mode": False}, {"trusted_header": "X-Forwarded-Email"}):
        config = load_config(copy_with({}, **top))
        reg = PlanRegister.from_config(config, url=new_url())
        with pytest.raises(PermissionDenied, match=r"'local planner .*' may not save a plan"):
            _save(reg, LOCAL_PLANNER)
        with pytest.raises(PermissionDenied, match=r"may not record agreed priorities"):
            reg.record_priorities(CAMDEN, "Camden", 2026, ["A", "B"], agreed_by="x")
        assert _save(reg, PLANNER_USER) == 1
        assert reg.list_plans()["created_by"].tolist() == ["planner@met.police.uk"]
    local = PlanRegister.from_config(load_config(copy_with({})), url=new_url())
    assert _save(local, LOCAL_PLANNER) == 1  # local mode: the local planner, and it says so


def test_cli_plan_save_needs_a_user_where_sign_in_is_configured(copy_with, capsys) -> None:
    from planner.cli import main

    folder = copy_with({}, allow_local_mode=False)
    assert main(["--config", str(folder), "plan", "--save", "draft"]) == 2
    assert "allow_local_mode = false" in capsys.readouterr().err
    folder = copy_with({}, trusted_header="X-Forwarded-Email")
    assert main(["--config", str(folder), "plan", "--save", "draft"]) == 2
    assert "saving a plan must say who makes it: give --user EMAIL" in capsys.readouterr().err
