"""Who may change what: roles, users and how a person is identified.

Four roles (``config/access.toml`` gives people their roles):

=================  ==========================================================
role               may
=================  ==========================================================
viewer             view plans, evidence and the register (anyone signed in)
commander          view; record overrides in the borough(s) they command
council_leader     view; record agreed priorities for their borough(s)
planner            everything, London-wide: overrides, priorities, saved plans
=================  ==========================================================

The rules live here and are enforced by the plan register (:mod:`planner.register.store`) before
anything is written, not only by the app: a button hidden in the UI is a convenience, the
:class:`PermissionDenied` raised here is the rule.

How a person is identified (:func:`identity_source`), in order:

- **OpenID Connect** through Streamlit's ``st.login``, when ``.streamlit/secrets.toml``
  has an ``[auth]`` section: the app passes ``st.user.email`` to :func:`resolve_user`;
- **a trusted header** set by a signing-in reverse proxy, when ``config/access.toml``
  names it (``trusted_header = "X-Forwarded-Email"``): the app passes
  ``st.context.headers``;
- otherwise **local mode**: one person at their own machine, who is
  :data:`LOCAL_PLANNER` (a planner), and every record says so.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from planner.errors import ConfigError, PlannerError

__all__ = [
    "ACTIONS",
    "COMMANDER",
    "COUNCIL_LEADER",
    "LOCAL_PLANNER",
    "PERMISSIONS",
    "PLANNER",
    "RECORD_OVERRIDE",
    "RECORD_PRIORITIES",
    "ROLES",
    "SAVE_PLAN",
    "VIEW",
    "VIEWER",
    "AccessConfig",
    "IdentitySource",
    "PermissionDenied",
    "SignInRequired",
    "User",
    "can",
    "check",
    "identity_source",
    "load_access",
    "resolve_user",
    "user_from_identity",
]

log = logging.getLogger(__name__)

# --- roles and actions ------------------------------------------------------------------

VIEWER = "viewer"
COMMANDER = "commander"
COUNCIL_LEADER = "council_leader"
PLANNER = "planner"
ROLES = (VIEWER, COMMANDER, COUNCIL_LEADER, PLANNER)
ROLE_LABELS = MappingProxyType(
    {
        VIEWER: "viewer",
        COMMANDER: "borough commander",
        COUNCIL_LEADER: "council leader",
        PLANNER: "planner",
    }
)
BOROUGH_ROLES = frozenset({COMMANDER, COUNCIL_LEADER})  # roles held for named boroughs

VIEW = "view"
RECORD_OVERRIDE = "record_override"
RECORD_PRIORITIES = "record_priorities"
SAVE_PLAN = "save_plan"
ACTIONS = MappingProxyType(
    {
        VIEW: "view plans and evidence",
        RECORD_OVERRIDE: "record an override",
        RECORD_PRIORITIES: "record agreed priorities",
        SAVE_PLAN: "save a plan",
    }
)

_LONDON, _OWN = "london", "own"
PERMISSIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        VIEW: MappingProxyType({role: _LONDON for role in ROLES}),
        RECORD_OVERRIDE: MappingProxyType({COMMANDER: _OWN, PLANNER: _LONDON}),
        RECORD_PRIORITIES: MappingProxyType({COUNCIL_LEADER: _OWN, PLANNER: _LONDON}),
        SAVE_PLAN: MappingProxyType({PLANNER: _LONDON}),
    }
)
"""action -> role -> scope: ``"london"`` (every borough) or ``"own"`` (the user's boroughs).
A role not listed for an action may not do it."""

_ROLE_SPELLINGS = {
    **{r: r for r in ROLES},
    "borough_commander": COMMANDER,
    "bcu_commander": COMMANDER,
    "leader": COUNCIL_LEADER,
}
_NO_ACCESS = "none"  # default_role that refuses people not listed in [users]
_MODES = ("auto", "oidc", "header", "local")
_TOP_KEYS = {"sign_in", "trusted_header", "default_role", "allow_local_mode", "users"}
_USER_KEYS = {"role", "boroughs", "name"}
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_BAD_IDENTITY = re.compile(r"[\x00-\x1f\x7f,;<>]")
_MAX_IDENTITY = 320  # the longest e-mail address


class PermissionDenied(PlannerError, PermissionError):
    """The user's role does not allow this action (here, or in this borough)."""


class SignInRequired(PermissionDenied):
    """Sign-in is configured but the request carries no identity: the person must sign in."""


# --- users ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class User:
    """A person using the planner: a name for the records, a role, the boroughs it covers.

    Parameters
    ----------
    name
        Who they are, as written into the register (``recorded_by``, ``created_by``):
        the signed-in e-mail, with a display name where ``config/access.toml`` gives one.
    role
        One of :data:`ROLES`.
    boroughs
        ONS borough codes (E09...) a commander or council leader holds the role for;
        empty for viewers and planners (planners are London-wide).

    Raises
    ------
    ConfigError
        An unknown role, an empty name, a borough role without boroughs, or boroughs
        given to a role that takes none.
    """

    name: str
    role: str
    boroughs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        boroughs = self.boroughs
        if isinstance(boroughs, str) or not isinstance(boroughs, Iterable):
            raise ConfigError(f"user boroughs should be a set of E09 codes, found {boroughs!r}")
        object.__setattr__(self, "boroughs", frozenset(str(b).strip() for b in boroughs))
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"a user needs a name for the records, found {self.name!r}")
        if self.role not in ROLES:
            raise ConfigError(f"unknown role {self.role!r}; roles are {', '.join(ROLES)}")
        if self.role in BOROUGH_ROLES and not self.boroughs:
            raise ConfigError(
                f"{self.name}: a {ROLE_LABELS[self.role]} needs the borough(s) they hold the "
                'role for, e.g. boroughs = ["Camden"]'
            )
        if self.role not in BOROUGH_ROLES and self.boroughs:
            raise ConfigError(
                f"{self.name}: a {ROLE_LABELS[self.role]} holds no boroughs (planners are "
                "London-wide, viewers change nothing); remove boroughs, or make them a "
                "commander or council_leader"
            )

    @property
    def is_local(self) -> bool:
        """True for :data:`LOCAL_PLANNER`: no sign-in is configured."""
        return self == LOCAL_PLANNER

    def can(self, action: str, borough: str | None = None) -> bool:
        """Whether this user may do *action* (in *borough*); see :func:`can`."""
        return can(self, action, borough)

    def describe(self) -> str:
        """``"name (borough commander of Camden)"``: who, as a person reads it."""
        return f"{self.name} ({_role_text(self)})"


LOCAL_PLANNER = User("local planner (no sign-in configured)", PLANNER)
"""The one person of local mode (no sign-in configured): a planner, and the records say so."""


def can(user: User, action: str, borough: str | None = None) -> bool:
    """Whether *user* may do *action*, in *borough* where the action belongs to one.

    Parameters
    ----------
    user
        Who is asking.
    action
        One of :data:`ACTIONS` (``VIEW``, ``RECORD_OVERRIDE``, ``RECORD_PRIORITIES``,
        ``SAVE_PLAN``).
    borough
        The borough's ONS code (E09...) for borough actions; a commander or council
        leader may act only in their own boroughs.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        An unknown action (a programming error, not a person's).
    """
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}; actions are {', '.join(PERMISSIONS)}")
    if not isinstance(user, User):
        return False
    scope = PERMISSIONS[action].get(user.role)
    if scope == _LONDON:
        return True
    if scope == _OWN:
        return isinstance(borough, str) and borough.strip() in user.boroughs
    return False


def check(user: User, action: str, borough: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless *user* may do *action* (in *borough*).

    The message names the user, their role, the action, the borough and who may do it.

    Raises
    ------
    PermissionDenied
        The role does not allow it.
    TypeError
        *user* is not a :class:`User` (a programming error).
    """
    if not isinstance(user, User):
        raise TypeError(
            f"user should be a planner.register.access.User (e.g. from resolve_user), found "
            f"{type(user).__name__} {user!r}"
        )
    if can(user, action, borough):
        return
    where = f" in {_borough_label(borough)}" if borough else ""
    raise PermissionDenied(
        f"{user.describe()} may not {ACTIONS[action]}{where}: only {_who_may(action)} may. "
        "Nothing was written. If this person should, give them that role in "
        "config/access.toml [users]"
    )


# --- configuration ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IdentitySource:
    """How people are identified: ``mode`` (``oidc``, ``header`` or ``local``) and in words."""

    mode: str
    description: str
    trusted_header: str | None = None


@dataclasses.dataclass(frozen=True)
class AccessConfig:
    """``config/access.toml``, validated: the sign-in mode and the people with roles."""

    source: IdentitySource
    default_role: str  # "viewer", or "none" to refuse people not listed
    users: Mapping[str, User]  # casefolded identity -> User
    where: str


def load_access(
    config: Any = None, *, secrets_files: Sequence[str | Path] | None = None
) -> AccessConfig:
    """Read and check ``config/access.toml`` and work out the sign-in mode.

    Parameters
    ----------
    config
        A :class:`planner.config.PlannerConfig` (its ``extra["access"]`` and borough
        names), the ``access`` table itself as a mapping, an :class:`AccessConfig`
        (returned as it is), or None to load the default configuration.
    secrets_files
        Streamlit secrets files looked at for an ``[auth]`` section; default
        ``./.streamlit/secrets.toml`` and ``~/.streamlit/secrets.toml``, where Streamlit
        reads them. Only the presence of ``[auth]`` is read, never a secret's value.

    Returns
    -------
    AccessConfig

    Raises
    ------
    ConfigError
        Unknown keys, roles or boroughs; an ambiguous or impossible sign-in setting
        (e.g. ``sign_in = "oidc"`` without ``[auth]``); no sign-in configured while
        ``allow_local_mode = false``.
    """
    if isinstance(config, AccessConfig):
        return config
    raw, names, aliases, where = _access_table(config)
    _check_keys(raw, _TOP_KEYS, where)
    default_role = raw.get("default_role", VIEWER)
    if default_role not in (VIEWER, _NO_ACCESS):
        raise ConfigError(
            f"{where}: default_role should be {VIEWER!r} (anyone signed in may view) or "
            f"{_NO_ACCESS!r} (only people listed in [users]), found {default_role!r}"
        )
    lookup = _borough_lookup(names, aliases)
    users = _users(raw.get("users", {}), lookup, names, where)
    source = _source(raw, where, _secrets_with_auth(secrets_files))
    return AccessConfig(source, default_role, MappingProxyType(users), where)


def identity_source(
    config: Any = None, *, secrets_files: Sequence[str | Path] | None = None
) -> IdentitySource:
    """How people are identified in this installation, with a sentence saying so.

    - ``oidc``: Streamlit ``st.login`` with an OpenID Connect provider, configured by an
      ``[auth]`` section in ``.streamlit/secrets.toml``; the app reads ``st.user.email``.
    - ``header``: a reverse proxy signs people in and sets the header named by
      ``trusted_header`` in ``config/access.toml``; the app reads ``st.context.headers``.
      Only safe when the app can be reached through that proxy alone.
    - ``local``: no sign-in; the person at the machine is :data:`LOCAL_PLANNER`.

    ``sign_in`` in ``config/access.toml`` picks one explicitly; ``"auto"`` (the default)
    takes ``oidc`` if ``[auth]`` exists, else ``header`` if a header is named, else
    ``local``. Parameters as :func:`load_access`.

    Returns
    -------
    IdentitySource
    """
    return load_access(config, secrets_files=secrets_files).source


def user_from_identity(email_or_name: str, *, config: Any = None) -> User:
    """The :class:`User` for a signed-in identity (an e-mail address, or a user name).

    Looked up in ``[users]`` of ``config/access.toml`` ignoring case; someone not listed
    gets ``default_role`` (a viewer), or is refused when it is ``"none"``.

    Parameters
    ----------
    email_or_name
        The identity the sign-in gave.
    config
        As :func:`load_access`.

    Returns
    -------
    User

    Raises
    ------
    SignInRequired
        The identity is empty.
    PermissionDenied
        The identity is not usable (control characters, several addresses, too long), or
        the person is not listed and ``default_role = "none"``.
    """
    access = load_access(config)
    identity = _clean_identity(email_or_name)
    found = access.users.get(identity.casefold())
    if found is not None:
        return found
    if access.default_role == _NO_ACCESS:
        raise PermissionDenied(
            f"{identity} is signed in but not listed in {access.where} [users], and "
            f'default_role = "{_NO_ACCESS}": nobody else may use the planner. Ask the '
            "administrator to add this person with their role"
        )
    return User(identity, access.default_role)


def resolve_user(
    *,
    oidc_email: str | None,
    headers: Mapping[str, str] | None,
    config: Any = None,
) -> User:
    """The user of one app session, from whichever sign-in is configured.

    A pure function of its arguments (given an :class:`AccessConfig`): the app passes
    ``st.user.email`` (when ``st.user.is_logged_in``) and ``st.context.headers``.

    Parameters
    ----------
    oidc_email
        The e-mail of the OpenID Connect sign-in, or None if nobody is signed in.
    headers
        The request headers (names matched ignoring case), or None.
    config
        As :func:`load_access`.

    Returns
    -------
    User
        :data:`LOCAL_PLANNER` in local mode.

    Raises
    ------
    SignInRequired
        Sign-in is configured and this session carries no identity: call ``st.login()``
        (OIDC), or reach the app through the signing-in proxy (header).
    PermissionDenied
        As :func:`user_from_identity`.
    """
    access = load_access(config)
    source = access.source
    if source.mode == "local":
        return LOCAL_PLANNER
    if source.mode == "oidc":
        if not oidc_email or not str(oidc_email).strip():
            raise SignInRequired(
                "sign in to use the planner (OpenID Connect: st.login()); this session "
                "has no signed-in user"
            )
        return user_from_identity(oidc_email, config=access)
    value = _header(headers, source.trusted_header or "")
    if value is None:
        raise SignInRequired(
            f"this request has no {source.trusted_header} header: the planner must be "
            "reached through the signing-in proxy that sets it, not directly"
        )
    return user_from_identity(value, config=access)


# --- private helpers --------------------------------------------------------------------


def _role_text(user: User) -> str:
    label = ROLE_LABELS[user.role]
    if user.boroughs:
        label += " of " + ", ".join(_borough_label(b) for b in sorted(user.boroughs))
    return label + (", local mode" if user.is_local else "")


def _who_may(action: str) -> str:
    roles = PERMISSIONS[action]
    parts = [
        f"a {ROLE_LABELS[r]} of that borough" if scope == _OWN else f"a {ROLE_LABELS[r]}"
        for r, scope in roles.items()
    ]
    return " or ".join(parts)


@functools.lru_cache(maxsize=1)
def _default_borough_names() -> Mapping[str, str]:
    """Borough names from the default ``config/boroughs.toml``, for messages only."""
    from planner.config import default_config_dir

    try:
        raw = tomllib.loads((default_config_dir() / "boroughs.toml").read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return MappingProxyType(dict(raw.get("names", {})))


def _borough_label(code: str | None) -> str:
    code = str(code).strip()
    name = _default_borough_names().get(code)
    return f"{name} ({code})" if name else repr(code)


def _access_table(config: Any) -> tuple[dict, Mapping[str, str], Mapping[str, str], str]:
    """(access table, borough names, aliases, where) from any accepted *config*."""
    if config is None:
        from planner.config import load_config

        config = load_config()
    if isinstance(config, Mapping):
        from planner.config import default_config_dir

        path = default_config_dir() / "boroughs.toml"
        try:
            boroughs = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the borough names ({exc})") from exc
        names, aliases = boroughs.get("names", {}), boroughs.get("aliases", {})
        return dict(config), names, aliases, "config/access.toml"
    where = str(Path(config.config_dir) / "access.toml")
    raw = dict(config.extra.get("access", {}))
    return raw, config.borough_names, config.borough_aliases, where


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def _borough_lookup(names: Mapping[str, str], aliases: Mapping[str, str]) -> dict[str, str]:
    """Casefolded code, name or alias -> E09 code."""
    lookup = {code.casefold(): code for code in names}
    by_name = {name.casefold(): code for code, name in names.items()}
    lookup |= by_name
    for alias, name in aliases.items():
        if name.casefold() in by_name:
            lookup[alias.casefold()] = by_name[name.casefold()]
    return lookup


def _users(
    table: Any, lookup: Mapping[str, str], names: Mapping[str, str], where: str
) -> dict[str, User]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [users] should be a table of people, found {table!r}")
    users: dict[str, User] = {}
    for identity, entry in table.items():
        at = f"{where} [users.{identity!r}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{at}: should be a table with role = ..., found {entry!r}")
        _check_keys(entry, _USER_KEYS, at)
        key = identity.strip().casefold()
        if not key or _BAD_IDENTITY.search(identity) or key in users:
            problem = "repeated (ignoring case)" if key in users else "not a usable identity"
            raise ConfigError(f"{at}: {problem}; give each person's sign-in e-mail once")
        role = _ROLE_SPELLINGS.get(re.sub(r"[\s-]+", "_", str(entry.get("role", ""))).casefold())
        if role is None:
            raise ConfigError(f"{at}: role {entry.get('role')!r} is not one of {', '.join(ROLES)}")
        boroughs = entry.get("boroughs", [])
        if isinstance(boroughs, str) or not isinstance(boroughs, list):
            raise ConfigError(f'{at}: boroughs should be a list, e.g. ["Camden"]')
        codes = frozenset(_borough_code(b, lookup, names, at) for b in boroughs)
        display = entry.get("name")
        if display is not None and (not isinstance(display, str) or not display.strip()):
            raise ConfigError(f"{at}: name should be the person's name, found {display!r}")
        name = f"{display.strip()} <{identity.strip()}>" if display else identity.strip()
        try:
            users[key] = User(name, role, codes)
        except ConfigError as exc:
            raise ConfigError(f"{at}: {exc}") from None
    return users


def _borough_code(value: Any, lookup: Mapping[str, str], names: Mapping[str, str], at: str) -> str:
    text = str(value).strip()
    code = lookup.get(text.casefold())
    if code is None:
        close = difflib.get_close_matches(text, [*names.values(), *names], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{at}: borough {value!r} is neither an E09 code nor a borough name in "
            f"config/boroughs.toml{hint}"
        )
    return code


def _secrets_with_auth(files: Sequence[str | Path] | None) -> Path | None:
    """The first Streamlit secrets file with an ``[auth]`` table, or None."""
    if files is None:
        files = [Path.cwd() / ".streamlit" / "secrets.toml"]
        files.append(Path.home() / ".streamlit" / "secrets.toml")
    for file in map(Path, files):
        if not file.is_file():
            continue
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            # never echo the content: it holds secrets
            raise ConfigError(
                f"{file}: cannot be read as TOML ({type(exc).__name__}); Streamlit cannot "
                "read it either. Fix the file"
            ) from None
        if isinstance(data.get("auth"), Mapping):
            return file
    return None


def _source(raw: Mapping[str, Any], where: str, auth: Path | None) -> IdentitySource:
    mode = raw.get("sign_in", "auto")
    header = raw.get("trusted_header")
    allow_local = raw.get("allow_local_mode", True)
    if mode not in _MODES:
        raise ConfigError(f"{where}: sign_in should be one of {', '.join(_MODES)}, found {mode!r}")
    if header is not None and (not isinstance(header, str) or not _HEADER_NAME.match(header)):
        raise ConfigError(
            f"{where}: trusted_header should be a header name such as "
            f'"X-Forwarded-Email", found {header!r}'
        )
    if not isinstance(allow_local, bool):
        raise ConfigError(f"{where}: allow_local_mode should be true or false")
    if mode == "auto":
        if auth is not None and header:
            raise ConfigError(
                f"{where}: both an [auth] section ({auth}) and trusted_header = {header!r} "
                'are configured; choose one with sign_in = "oidc" or sign_in = "header"'
            )
        mode = "oidc" if auth is not None else "header" if header else "local"
    if mode == "oidc" and auth is None:
        raise ConfigError(
            f'{where}: sign_in = "oidc" but no .streamlit/secrets.toml has an [auth] '
            "section; configure the OpenID Connect provider there (see docs/security.md)"
        )
    if mode == "header" and not header:
        raise ConfigError(f'{where}: sign_in = "header" needs trusted_header = "..."')
    if mode == "local" and not allow_local:
        raise ConfigError(
            f"{where}: no sign-in is configured and allow_local_mode = false; configure "
            "OpenID Connect ([auth] in .streamlit/secrets.toml) or a trusted_header"
        )
    return IdentitySource(
        mode, _describe(mode, where, auth, header), header if mode == "header" else None
    )


def _describe(mode: str, where: str, auth: Path | None, header: str | None) -> str:
    if mode == "oidc":
        return (
            f"Signed in with OpenID Connect (Streamlit st.login, [auth] in {auth}); people "
            f"are known by their e-mail and get their roles from {where}."
        )
    if mode == "header":
        return (
            f"Signed in by a reverse proxy, which passes the e-mail in the {header} header; "
            f"roles come from {where}. The app must be reachable only through that proxy."
        )
    return (
        "No sign-in is configured: everyone using this app acts as the single local "
        f"planner, with every permission, and records are signed {LOCAL_PLANNER.name!r}. "
        "Configure sign-in before sharing the app (docs/security.md)."
    )


def _clean_identity(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SignInRequired("no signed-in identity was given; sign in to use the planner")
    text = str(value).strip()
    if len(text) > _MAX_IDENTITY or _BAD_IDENTITY.search(text):
        raise PermissionDenied(
            f"the signed-in identity {text[:60]!r} is not usable (control characters, "
            "several addresses or too long); check the sign-in provider or proxy"
        )
    return text


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """The value of header *name* (ignoring case), or None when absent or blank."""
    if not headers:
        return None
    getter = getattr(headers, "get", None)
    value = getter(name) if getter is not None else None
    if value is None:
        folded = name.casefold()
        value = next((v for k, v in headers.items() if str(k).casefold() == folded), None)
    if value is None or not str(value).strip():
        return None
    return str(value)
