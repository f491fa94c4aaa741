"""How a person is identified: OpenID Connect, a trusted header, or local mode.

:func:`load_access` turns ``config.access`` (``config/access.toml``, checked when the
configuration was loaded) into :class:`User` objects and works out which sign-in mode is in
force (:func:`identity_source`): that also depends on Streamlit's secrets file, which exists
only where the app is deployed, so it is looked at here and not in :mod:`planner.config`.

- **OpenID Connect** through Streamlit's ``st.login``, when ``.streamlit/secrets.toml``
  has an ``[auth]`` section: the app passes ``st.user.email`` to :func:`resolve_user`;
- **a trusted header** set by a signing-in reverse proxy, when ``config/access.toml``
  names it (``trusted_header = "X-Forwarded-Email"``): the app passes
  ``st.context.headers``;
- otherwise **local mode**: one person at their own machine, who is
  :data:`~planner.register.access.LOCAL_PLANNER` (a planner), and every record says so.

One identity per request: a trusted header given more than once (a proxy that appends to
what the client sent), or holding more than one address, refuses the request. Header and
local mode trust whoever reaches the server, so the app passes the address it listens on
(``server.address``) and both refuse to start unless that is loopback (``127.0.0.1``, the
shipped ``.streamlit/config.toml``) or listed in ``server_addresses``. An OpenID Connect
sign-in counts only when the provider says the e-mail is verified (``email_verified_claim``).
Identities are compared after :func:`~planner.config.register.normalise_identity`, which
refuses look-alikes (the Kelvin sign, a long s, full-width letters) instead of folding them
onto real users.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from planner.config import AccessSettings, PlannerConfig
from planner.config.register import NO_ACCESS, normalise_identity
from planner.errors import ConfigError
from planner.register.access import LOCAL_PLANNER, PermissionDenied, SignInRequired, User

__all__ = [
    "AccessConfig",
    "IdentitySource",
    "identity_source",
    "load_access",
    "resolve_user",
    "user_from_identity",
]


@dataclasses.dataclass(frozen=True)
class IdentitySource:
    """How people are identified: ``mode`` (``oidc``, ``header`` or ``local``) and in words."""

    mode: str
    description: str
    trusted_header: str | None = None
    email_verified_claim: str = "email_verified"


@dataclasses.dataclass(frozen=True)
class AccessConfig:
    """The people with roles, and the sign-in mode in force."""

    source: IdentitySource
    default_role: str  # "viewer", or "none" to refuse people not listed
    users: Mapping[str, User]  # casefolded identity -> User
    where: str
    borough_names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    server_addresses: tuple[str, ...] = ()  # addresses beyond loopback header/local may use


def load_access(
    config: PlannerConfig | AccessConfig,
    *,
    secrets_files: Sequence[str | Path] | None = None,
    server_address: str | None = None,
) -> AccessConfig:
    """The users of ``config/access.toml`` and the sign-in mode in force.

    Parameters
    ----------
    config
        The planner configuration (its ``access`` settings and borough names), or an
        :class:`AccessConfig` (returned as it is).
    secrets_files
        Streamlit secrets files looked at for an ``[auth]`` section; default
        ``./.streamlit/secrets.toml`` and ``~/.streamlit/secrets.toml``, where Streamlit
        reads them. Only the presence of ``[auth]`` is read, never a secret's value.
    server_address
        The address the app's server listens on (Streamlit's ``server.address``; ``""`` for
        every interface), checked for header and local mode; None (the command line, which
        serves nobody) skips the check.

    Returns
    -------
    AccessConfig

    Raises
    ------
    ConfigError
        An ambiguous or impossible sign-in setting (e.g. ``sign_in = "oidc"`` without
        ``[auth]``); no sign-in configured while ``allow_local_mode = false``; header or local
        mode on a server listening beyond loopback and ``server_addresses``; a secrets file
        that is not TOML.
    """
    if isinstance(config, AccessConfig):
        if server_address is not None:
            _check_bound(config.source.mode, server_address, config.server_addresses, config.where)
        return config
    where = str(config.file("access"))
    settings, names = config.access, config.borough_names
    users: dict[str, User] = {}
    for entry in settings.users.values():
        shown = normalise_identity(entry.identity)  # checked when the configuration loaded
        if shown.casefold() in users:
            raise ConfigError(
                f"{where}: [users.{entry.identity!r}] is the same identity as another entry "
                "once normalised; give each person once"
            )
        users[shown.casefold()] = User(
            f"{entry.name.strip()} <{shown}>" if entry.name else shown,
            entry.role,
            frozenset(entry.boroughs),
            borough_names=names,
        )
    source = _source(settings, where, _secrets_with_auth(secrets_files))
    if server_address is not None:
        _check_bound(source.mode, server_address, settings.server_addresses, where)
    return AccessConfig(
        source, settings.default_role, users, where, names, tuple(settings.server_addresses)
    )


def identity_source(
    config: PlannerConfig | AccessConfig,
    *,
    secrets_files: Sequence[str | Path] | None = None,
    server_address: str | None = None,
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
    ``local``. Parameters as :func:`load_access`; with *server_address* the sentence also says
    where the app listens (header and local mode refuse a server open beyond loopback).

    Returns
    -------
    IdentitySource
    """
    source = load_access(config, secrets_files=secrets_files, server_address=server_address).source
    if server_address is None or source.mode == "oidc":
        return source
    shown = server_address or "every interface"
    return dataclasses.replace(
        source, description=f"{source.description} The app listens on {shown} only."
    )


def user_from_identity(email_or_name: str, *, config: PlannerConfig | AccessConfig) -> User:
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
    if access.default_role == NO_ACCESS:
        raise PermissionDenied(
            f"{identity} is signed in but not listed in {access.where} [users], and "
            f'default_role = "{NO_ACCESS}": nobody else may use the planner. Ask the '
            "administrator to add this person with their role"
        )
    return User(identity, access.default_role, borough_names=access.borough_names)


def resolve_user(
    *,
    oidc_email: str | None,
    headers: Any,
    config: PlannerConfig | AccessConfig,
    oidc_claims: Mapping[str, Any] | None = None,
) -> User:
    """The user of one app session, from whichever sign-in is configured.

    A pure function of its arguments (given an :class:`AccessConfig`): the app passes
    ``st.user.email`` and the ID token's claims (when ``st.user.is_logged_in``) and
    ``st.context.headers`` itself (not ``dict()`` of it, which keeps one of repeated headers).

    Parameters
    ----------
    oidc_email
        The e-mail of the OpenID Connect sign-in, or None if nobody is signed in.
    headers
        The request headers, names matched ignoring case: an object with ``get_all(name)``
        (Streamlit's ``st.context.headers``), a mapping, or (name, value) pairs; or None.
    config
        As :func:`load_access`.
    oidc_claims
        The ID token's claims (``st.user.to_dict()``): the e-mail counts only when the claim
        ``email_verified_claim`` of ``config/access.toml`` is true.

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
        As :func:`user_from_identity`; also an OpenID Connect e-mail not verified by the
        provider, and a trusted header given more than once.
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
        _check_verified(oidc_claims, source.email_verified_claim, access.where)
        return user_from_identity(oidc_email, config=access)
    value = _header(headers, source.trusted_header or "")
    if value is None:
        raise SignInRequired(
            f"this request has no {source.trusted_header} header: the planner must be "
            "reached through the signing-in proxy that sets it, not directly"
        )
    return user_from_identity(value, config=access)


# --- private helpers --------------------------------------------------------------------


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


def _source(settings: AccessSettings, where: str, auth: Path | None) -> IdentitySource:
    mode, header = settings.sign_in, settings.trusted_header
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
    if mode == "local" and not settings.allow_local_mode:
        raise ConfigError(
            f"{where}: no sign-in is configured and allow_local_mode = false; configure "
            "OpenID Connect ([auth] in .streamlit/secrets.toml) or a trusted_header"
        )
    return IdentitySource(
        mode,
        _describe(mode, where, auth, header),
        header if mode == "header" else None,
        settings.email_verified_claim,
    )


_LOOPBACK = ("localhost",)


def _check_bound(mode: str, address: str, allowed: Sequence[str], where: str) -> None:
    """Header and local mode trust whoever reaches the server: loopback or listed only."""
    if mode == "oidc":
        return
    text = address.strip().strip("[]")
    try:
        loopback = text in _LOOPBACK or ipaddress.ip_address(text).is_loopback
    except ValueError:
        loopback = False
    listed = {a.strip().strip("[]") for a in allowed}
    if loopback or (text and text in listed):
        return
    shown = f"listens on {text}" if text else "listens on every interface (no server.address)"
    who = (
        "whoever reaches it can send the identity header"
        if mode == "header"
        else "everyone who reaches it acts as the local planner, with every permission"
    )
    raise ConfigError(
        f"{where}: the app {shown}, and in {mode} mode {who}. Set server.address = "
        '"127.0.0.1" in .streamlit/config.toml (or streamlit run app.py --server.address '
        "127.0.0.1)"
        + (
            ", or list the private address the proxy connects to in server_addresses"
            if mode == "header"
            else ", or configure sign-in (docs/security.md)"
        )
    )


def _check_verified(claims: Mapping[str, Any] | None, claim: str, where: str) -> None:
    """The OpenID Connect e-mail counts only when the provider says it is verified."""
    value = (claims or {}).get(claim)
    if value is True or (isinstance(value, str) and value.strip().lower() == "true"):
        return
    raise PermissionDenied(
        f"the sign-in provider does not say this e-mail address is verified (claim {claim!r} "
        f"is {'missing' if value is None else 'not true'}), so it cannot be trusted as an "
        f"identity. Verify the address with the provider, or set email_verified_claim in "
        f'{where} to the claim your provider uses (Microsoft Entra ID: "xms_edov")'
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
    try:
        return normalise_identity(value)
    except ValueError as exc:
        raise PermissionDenied(
            f"the signed-in identity is not usable: it has {exc}; check the sign-in provider "
            "or proxy"
        ) from None


def _header(headers: Any, name: str) -> str | None:
    """The one value of header *name* (ignoring case), or None when absent or blank.

    Raises
    ------
    PermissionDenied
        The header is given more than once: which copy the proxy set cannot be known.
    """
    if not headers:
        return None
    folded = name.casefold()
    get_all = getattr(headers, "get_all", None)
    if callable(get_all):
        values = [str(v) for v in get_all(name)]
    else:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        values = [str(v) for k, v in pairs if str(k).casefold() == folded]
    if len(values) > 1:
        raise PermissionDenied(
            f"this request carries the {name} header {len(values)} times, so which one the "
            "signing-in proxy set cannot be known; refused. Configure the proxy to overwrite "
            "the header a client sends (e.g. proxy_set_header in nginx), not to add another"
        )
    if not values or not values[0].strip():
        return None
    return values[0]
