"""Who may change what: roles, users and how a person is identified.

Four roles (``config/access.toml`` gives people their roles):

=================  ==========================================================
role               may
=================  ==========================================================
viewer             view plans, evidence and the register (anyone signed in)
commander          view; record overrides in the borough(s) they command
council_leader     view; record agreed priorities for their borough(s)
planner            everything, London-wide: overrides, priorities, saved plans,
                   importing a register backup
=================  ==========================================================

The rules live here and are enforced by the plan register (:mod:`planner.register.store`) before
anything is written, not only by the app: a button hidden in the UI is a convenience, the
:class:`PermissionDenied` raised here is the rule.

How a person is identified (OpenID Connect, a trusted header or local mode) is
:mod:`planner.register.identity`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from planner.config.register import (
    BOROUGH_ROLES,
    COMMANDER,
    COUNCIL_LEADER,
    PLANNER,
    ROLE_LABELS,
    ROLES,
    VIEWER,
)
from planner.errors import ConfigError, PlannerError

__all__ = [
    "ACTIONS",
    "COMMANDER",
    "COUNCIL_LEADER",
    "IMPORT_BACKUP",
    "LOCAL_PLANNER",
    "PERMISSIONS",
    "PLANNER",
    "RECORD_OVERRIDE",
    "RECORD_PRIORITIES",
    "ROLES",
    "SAVE_PLAN",
    "VIEW",
    "VIEWER",
    "PermissionDenied",
    "SignInRequired",
    "User",
    "can",
    "check",
]

# --- roles and actions ------------------------------------------------------------------

VIEW = "view"
RECORD_OVERRIDE = "record_override"
RECORD_PRIORITIES = "record_priorities"
SAVE_PLAN = "save_plan"
IMPORT_BACKUP = "import_backup"
ACTIONS = MappingProxyType(
    {
        VIEW: "view plans and evidence",
        RECORD_OVERRIDE: "record an override",
        RECORD_PRIORITIES: "record agreed priorities",
        SAVE_PLAN: "save a plan",
        IMPORT_BACKUP: "import a register backup",
    }
)

_LONDON, _OWN = "london", "own"
PERMISSIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        VIEW: MappingProxyType({role: _LONDON for role in ROLES}),
        RECORD_OVERRIDE: MappingProxyType({COMMANDER: _OWN, PLANNER: _LONDON}),
        RECORD_PRIORITIES: MappingProxyType({COUNCIL_LEADER: _OWN, PLANNER: _LONDON}),
        SAVE_PLAN: MappingProxyType({PLANNER: _LONDON}),
        # a backup holds every borough's records: importing it is London-wide
        IMPORT_BACKUP: MappingProxyType({PLANNER: _LONDON}),
    }
)
"""action -> role -> scope: ``"london"`` (every borough) or ``"own"`` (the user's boroughs).
A role not listed for an action may not do it."""


class PermissionDenied(PlannerError, PermissionError):
    """The user's role does not allow this action (here, or in this borough).

    ``reason`` says who may not do what, in one sentence; ``str()`` adds what to do.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


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
    borough_names: Mapping[str, str] = dataclasses.field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

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
        label = ROLE_LABELS[self.role]
        if self.boroughs:
            names = self.borough_names
            label += " of " + ", ".join(_borough_label(b, names) for b in sorted(self.boroughs))
        return f"{self.name} ({label}{', local mode' if self.is_local else ''})"


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


def check(
    user: User,
    action: str,
    borough: str | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`PermissionDenied` unless *user* may do *action* (in *borough*).

    The message names the user, their role, the action, the borough (by name where *names*,
    borough name by code, has it) and who may do it; :attr:`PermissionDenied.reason` is the
    message without the advice, for a page to show beside the form.

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
    if names:
        user = dataclasses.replace(user, borough_names=names)
    where = f" in {_borough_label(borough, user.borough_names)}" if borough else ""
    reason = f"{user.describe()} may not {ACTIONS[action]}{where}: only {_who_may(action)} may."
    raise PermissionDenied(
        f"{reason} Nothing was written. If this person should, give them that role in "
        "config/access.toml [users]",
        reason=reason,
    )


# --- private helpers --------------------------------------------------------------------


def _who_may(action: str) -> str:
    roles = PERMISSIONS[action]
    parts = [
        f"a {ROLE_LABELS[r]} of that borough" if scope == _OWN else f"a {ROLE_LABELS[r]}"
        for r, scope in roles.items()
    ]
    return " or ".join(parts)


def _borough_label(code: str | None, names: Mapping[str, str]) -> str:
    code = str(code).strip()
    name = names.get(code)
    return f"{name} ({code})" if name else repr(code)
