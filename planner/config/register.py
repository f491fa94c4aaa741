"""Settings of the plan register: the database, and who may change what.

From ``config/store.toml`` and ``config/access.toml`` (parsed by :mod:`planner.config.load`).
The role names are spelled here once; :mod:`planner.register.access` gives them their rules.
Which sign-in mode is in force also depends on Streamlit's secrets file, which is looked at
when the app starts (:func:`planner.register.access.identity_source`), not here.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from planner.config.build import Checked

__all__ = [
    "BOROUGH_ROLES",
    "COMMANDER",
    "COUNCIL_LEADER",
    "NO_ACCESS",
    "PLANNER",
    "ROLES",
    "ROLE_LABELS",
    "VIEWER",
    "AccessSettings",
    "StoreSettings",
    "UserEntry",
    "normalise_identity",
    "role_named",
]

VIEWER = "viewer"
COMMANDER = "commander"
COUNCIL_LEADER = "council_leader"
PLANNER = "planner"
ROLES: tuple[str, ...] = (VIEWER, COMMANDER, COUNCIL_LEADER, PLANNER)
ROLE_LABELS: Mapping[str, str] = {
    VIEWER: "viewer",
    COMMANDER: "borough commander",
    COUNCIL_LEADER: "council leader",
    PLANNER: "planner",
}
BOROUGH_ROLES = frozenset({COMMANDER, COUNCIL_LEADER})  # roles held for named boroughs
NO_ACCESS = "none"  # default_role that refuses people not listed in [users]

_ROLE_SPELLINGS = {
    **{r: r for r in ROLES},
    "borough_commander": COMMANDER,
    "bcu_commander": COMMANDER,
    "leader": COUNCIL_LEADER,
}
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_DB_URL = re.compile(
    r"[A-Za-z][\w+]*://"  # dialect[+driver]://
    r"(?:[^@/]*@)?"  # user[:password]@
    r"(?:\[[^\]/?]+\]|[^/:?]*)"  # [ipv6] or host
    r"(?::(?P<port>[^/?]*))?"
    r"(?:/[^?]*)?(?:\?.*)?\Z",  # /database?query
    re.DOTALL,
)
"""The grammar of a database URL as SQLAlchemy's ``make_url`` reads it (a port, when given, is
a number), checked without importing SQLAlchemy: loading the configuration stays quick for the
commands that never open the register. The register checks the URL again with SQLAlchemy."""
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^@\s]*@")
BAD_IDENTITY = re.compile(r"[\x00-\x1f\x7f,;<>\s]")
MAX_IDENTITY = 320  # the longest e-mail address
_CLAIM_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def normalise_identity(text: object) -> str:
    """A sign-in identity as the planner records it; compare it with ``.casefold()``.

    An e-mail address (or a user name without ``@``) is accepted only when it cannot pass for
    another person's: it must be unchanged by Unicode NFKC normalisation (so the Kelvin sign
    ``\u212a``, a long s ``\u017f``, full-width letters and ligatures are refused rather than
    folded onto ``k``, ``s``, ...), hold one ``@`` at most, no spaces, control characters or
    list separators, and an ASCII local part. A non-ASCII domain is written in its IDNA form
    (``xn--...``), so a look-alike domain never reads like the real one in the records, and
    refused when IDNA would map it onto another name (``straße`` -> ``strasse``).

    Returns
    -------
    str
        The identity, stripped, its domain in lower-case ASCII (IDNA).

    Raises
    ------
    ValueError
        The reason the identity is not usable, in words (without echoing it).
    """
    value = str(text).strip()
    if len(value) > MAX_IDENTITY:
        raise ValueError(f"longer than {MAX_IDENTITY} characters")
    if BAD_IDENTITY.search(value):
        raise ValueError("spaces, control characters or several addresses")
    if unicodedata.normalize("NFKC", value) != value:
        raise ValueError(
            "compatibility characters (such as the Kelvin sign or a long s) that would read "
            "as another address"
        )
    if value.count("@") > 1:
        raise ValueError("several @ signs (more than one address)")
    local, at, domain = value.rpartition("@") if "@" in value else (value, "", "")
    if not local or (at and not domain):
        raise ValueError("an empty part before or after the @")
    if not local.isascii():
        raise ValueError(
            "characters outside ASCII before the @, which could pass for another address"
        )
    if not domain.isascii():
        try:
            ace = domain.encode("idna").decode("ascii")
            back = ace.encode("ascii").decode("idna")
        except UnicodeError:
            raise ValueError("a domain that is not a valid internationalised name") from None
        if back != domain.lower():
            raise ValueError("a domain that IDNA maps onto another name")
        domain = ace
    return f"{local}{at}{domain.lower()}"


def role_named(text: object) -> str | None:
    """The role a person wrote (``"Borough commander"``, ``"leader"``...), or None."""
    return _ROLE_SPELLINGS.get(re.sub(r"[\s-]+", "_", str(text)).casefold())


@dataclass(frozen=True)
class StoreSettings(Checked):
    """``config/store.toml``: the register's database."""

    url: str
    busy_timeout_s: float

    def _problems(self) -> list[str]:
        found = []
        if not self.url.strip():
            found.append("url should be a database URL, e.g. sqlite:///.planner/register.sqlite")
        else:
            found_url = _DB_URL.match(self.url.strip())
            port = found_url["port"] if found_url else None
            if found_url is None or (port and not port.isdigit()):
                shown = _URL_PASSWORD.sub(r"\1***@", self.url)  # never echo a password
                found.append(
                    f"url {shown!r} is not a database URL; use e.g. "
                    "sqlite:///.planner/register.sqlite or postgresql+psycopg://user@host/db "
                    "(with the password in $PLANNER_DB_URL, never in this file)"
                )
        if self.busy_timeout_s < 0:
            found.append(f"busy_timeout_s should be seconds >= 0, found {self.busy_timeout_s}")
        return found


@dataclass(frozen=True)
class UserEntry(Checked):
    """One person of ``access.toml [users]``: their sign-in identity as written, their role,
    the boroughs (E09 codes once loaded) and an optional display name for the records."""

    identity: str
    role: str
    boroughs: tuple[str, ...] = ()
    name: str | None = None

    def _problems(self) -> list[str]:
        role = role_named(self.role)
        if role is None:
            return [f"role {self.role!r} is not one of {', '.join(ROLES)}"]
        object.__setattr__(self, "role", role)
        found = []
        if role in BOROUGH_ROLES and not self.boroughs:
            found.append(
                f"a {ROLE_LABELS[role]} needs the borough(s) they hold the role for, e.g. "
                'boroughs = ["Camden"]'
            )
        if role not in BOROUGH_ROLES and self.boroughs:
            found.append(
                f"a {ROLE_LABELS[role]} holds no boroughs (planners are London-wide, viewers "
                "change nothing); remove boroughs, or make them a commander or council_leader"
            )
        if self.name is not None and not self.name.strip():
            found.append("name should be the person's name")
        return found


@dataclass(frozen=True)
class AccessSettings(Checked):
    """``config/access.toml``: the sign-in mode asked for and the people with roles.

    ``users`` is keyed by the casefolded sign-in identity (e-mail).
    """

    sign_in: Literal["auto", "oidc", "header", "local"]
    default_role: Literal["viewer", "none"]
    allow_local_mode: bool
    users: Mapping[str, UserEntry]
    trusted_header: str | None = None
    server_addresses: tuple[str, ...] = ()
    email_verified_claim: str = "email_verified"

    def _problems(self) -> list[str]:
        found = []
        for address in self.server_addresses:
            try:
                ipaddress.ip_address(address.strip("[]"))
            except ValueError:
                found.append(
                    f"server_addresses should hold IP addresses the app may listen on, such "
                    f'as "10.0.0.5", found {address!r}'
                )
        if not _CLAIM_NAME.match(self.email_verified_claim):
            found.append(
                "email_verified_claim should name an ID-token claim, such as "
                f'"email_verified", found {self.email_verified_claim!r}'
            )
        header = self.trusted_header
        if header is not None and not _HEADER_NAME.match(header):
            found.append(
                f'trusted_header should be a header name such as "X-Forwarded-Email", '
                f"found {header!r}"
            )
        if self.sign_in == "header" and not header:
            found.append('sign_in = "header" needs trusted_header = "..."')
        for key, entry in self.users.items():
            identity = entry.identity.strip()
            try:
                normalise_identity(identity) if identity else None
            except ValueError as exc:
                identity = ""
                reason = f" (it has {exc})"
            else:
                reason = ""
            if not identity:
                found.append(
                    f"[users.{entry.identity!r}] is not a usable identity{reason}; give each "
                    "person's sign-in e-mail as their provider sends it"
                )
            elif key != identity.casefold():
                found.append(f"[users] is keyed by the casefolded identity, found {key!r}")
        return found
