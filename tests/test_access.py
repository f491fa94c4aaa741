"""Roles and access: the rules enforced by the plan register, and who a session's user is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.config import load_config
from planner.errors import ConfigError, PlannerError
from planner.register import access
from planner.register.access import (
    COMMANDER,
    COUNCIL_LEADER,
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
    identity_source,
    load_access,
    resolve_user,
    user_from_identity,
)
from planner.register.store import ENV_URL, InvalidRecordError, PlanRegister, RegisterError

CAMDEN, HACKNEY = "E09000007", "E09000012"
CAMDEN_WARDS = ("E05010000", "E05010001")
HACKNEY_WARDS = ("E05009001", "E05009002")

COMMANDER_CAMDEN = User("cmdr@met.police.uk", COMMANDER, frozenset({CAMDEN}))
LEADER_CAMDEN = User("leader@camden.gov.uk", COUNCIL_LEADER, frozenset({CAMDEN}))
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
def register(tmp_path: Path) -> PlanRegister:
    reg = PlanRegister(f"sqlite:///{tmp_path / 'register.sqlite'}")
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
            {VIEW, SAVE_PLAN}
            | {(a, b) for a in (RECORD_OVERRIDE, RECORD_PRIORITIES) for b in (CAMDEN, HACKNEY)},
        ),
    ],
    ids=["viewer", "commander", "council-leader", "planner"],
)
def test_the_role_table(user: User, allowed: set) -> None:
    asked = {VIEW, SAVE_PLAN} | {
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


def _config(**raw) -> access.AccessConfig:
    raw.setdefault("users", USERS)
    return load_access(raw, secrets_files=[])


def test_identity_maps_to_roles_and_boroughs() -> None:
    config = _config()
    cmdr = user_from_identity("  camden.commander@MET.police.uk ", config=config)
    assert (cmdr.role, cmdr.boroughs) == (COMMANDER, {CAMDEN})
    leader = user_from_identity("leader@camden.gov.uk", config=config)
    assert leader == User("Cllr A <leader@camden.gov.uk>", COUNCIL_LEADER, frozenset({CAMDEN}))
    two = user_from_identity("two@met.police.uk", config=config)
    assert two.boroughs == {"E09000033", HACKNEY}  # an alias and a name, as codes
    assert user_from_identity("planner@met.police.uk", config=config).role == PLANNER
    stranger = user_from_identity("stranger@gmail.com", config=config)
    assert stranger == User("stranger@gmail.com", VIEWER)


def test_default_role_none_refuses_strangers() -> None:
    config = _config(default_role="none")
    with pytest.raises(PermissionDenied, match=r"stranger@gmail\.com is signed in but not listed"):
        user_from_identity("stranger@gmail.com", config=config)
    assert user_from_identity("planner@met.police.uk", config=config).role == PLANNER


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"default_role": "planner"}, r"default_role should be 'viewer' .* or 'none'"),
        ({"sign_in": "magic"}, r"sign_in should be one of auto, oidc, header, local"),
        ({"trusted_header": "X Email"}, r"trusted_header should be a header name"),
        ({"sign_in": "header"}, r'sign_in = "header" needs trusted_header'),
        ({"sign_in": "oidc"}, r'sign_in = "oidc" but no .streamlit/secrets.toml has an \[auth\]'),
        ({"allow_local_mode": False}, r"no sign-in is configured and allow_local_mode = false"),
        ({"users": {"a@b": {"role": "mayor"}}}, r"role 'mayor' is not one of"),
        (
            {"users": {"a@b": {"role": "commander", "boroughs": ["Camdem"]}}},
            r"did you mean 'Camden'",
        ),
        ({"users": {"a@b": {"role": "commander"}}}, r"a borough commander needs the borough"),
        ({"users": {"a@b": {"role": "viewer", "team": "x"}}}, r"unknown key\(s\) 'team'"),
        ({"users": {"a@b": {"role": "viewer"}, "A@B": {"role": "viewer"}}}, r"repeated"),
        ({"admins": []}, r"unknown key\(s\) 'admins'"),
    ],
    ids=[
        "default-planner",
        "mode",
        "header-name",
        "header-missing",
        "oidc-without-auth",
        "local-refused",
        "role",
        "borough-typo",
        "no-boroughs",
        "user-key",
        "repeated",
        "top-key",
    ],
)
def test_bad_access_config(raw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_access(raw, secrets_files=[])


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


def test_identity_source_modes(tmp_path: Path) -> None:
    none = _secrets(tmp_path, 'other = "x"\n')
    local = identity_source({}, secrets_files=[tmp_path / "missing.toml", none])
    assert local.mode == "local" and "No sign-in is configured" in local.description
    assert "local planner (no sign-in configured)" in local.description
    header = identity_source({"trusted_header": "X-Forwarded-Email"}, secrets_files=[none])
    assert (header.mode, header.trusted_header) == ("header", "X-Forwarded-Email")
    assert "reachable only through that proxy" in header.description
    oidc_file = _secrets(tmp_path, AUTH)
    oidc = identity_source({}, secrets_files=[oidc_file])
    assert oidc.mode == "oidc" and "st.login" in oidc.description
    assert "s3cret" not in oidc.description
    with pytest.raises(ConfigError, match=r"both an \[auth\] section .* choose one"):
        identity_source({"trusted_header": "X-Forwarded-Email"}, secrets_files=[oidc_file])
    chosen = identity_source(
        {"trusted_header": "X-Forwarded-Email", "sign_in": "header"}, secrets_files=[oidc_file]
    )
    assert chosen.mode == "header"


def test_unreadable_secrets_file_is_not_echoed(tmp_path: Path) -> None:
    broken = _secrets(tmp_path, 'cookie_secret = "s3cret\n[auth')
    with pytest.raises(ConfigError, match=r"secrets\.toml: cannot be read as TOML") as info:
        identity_source({}, secrets_files=[broken])
    assert "s3cret" not in str(info.value)


def test_resolve_user_oidc(tmp_path: Path) -> None:
    config = load_access({"users": USERS}, secrets_files=[_secrets(tmp_path, AUTH)])
    headers = {"X-Forwarded-Email": "planner@met.police.uk"}  # ignored: not the mode in force
    user = resolve_user(oidc_email="camden.commander@met.police.uk", headers=headers, config=config)
    assert (user.role, user.boroughs) == (COMMANDER, {CAMDEN})
    for missing in (None, "", "  "):
        with pytest.raises(SignInRequired, match=r"sign in to use the planner .*st\.login"):
            resolve_user(oidc_email=missing, headers=headers, config=config)


def test_resolve_user_trusted_header() -> None:
    config = _config(trusted_header="X-Forwarded-Email")
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


def test_resolve_user_local_mode() -> None:
    config = _config()
    user = resolve_user(oidc_email="planner@met.police.uk", headers={"X": "y"}, config=config)
    assert user is LOCAL_PLANNER and user.is_local and user.role == PLANNER
    assert not PLANNER_USER.is_local


def test_shipped_access_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    config = load_access(load_config(), secrets_files=[])
    assert config.source.mode == "local" and config.default_role == VIEWER
    assert config.where.endswith("access.toml")
