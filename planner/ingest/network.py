"""The network side of ``planner fetch``: the urllib session and the quick reachability check.

:class:`Session` wraps the urllib opener (with the planner's User-Agent) and remembers what a run
learns: hosts that stopped answering, London Datastore records already read.
:func:`check_reachable` resolves and connects to the first server once, within the timeout, so
that an offline run stops in seconds with :data:`OFFLINE_HINT` instead of hanging;
:func:`failure_reason` says in a few words why a connection failed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from planner.errors import FetchError

__all__ = ["OFFLINE_HINT", "USER_AGENT", "Session", "check_reachable", "failure_reason"]

USER_AGENT = "london-ward-planner/0.1 (planner fetch; +https://www.python.org urllib)"
OFFLINE_HINT = (
    "no network? Import a local copy instead: planner fetch --from DIR (e.g. --from ../shared/data)"
)


class Session:
    """The opener plus what a run learns: unreachable hosts, Datastore records already read."""

    def __init__(self, opener: urllib.request.OpenerDirector, timeout: float, progress: bool):
        self.opener, self.timeout, self.progress = opener, timeout, progress
        self.dead_hosts: dict[str, str] = {}
        self._records: dict[str, Any] = {}
        handlers = getattr(opener, "handlers", [])
        proxy = next((h for h in handlers if isinstance(h, urllib.request.ProxyHandler)), None)
        self.proxies: dict[str, str] = dict(getattr(proxy, "proxies", {}) or {})

    def open(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        return self.opener.open(request, timeout=self.timeout)

    def json(self, url: str, *, cache: bool = False) -> Any:
        if cache and url in self._records:
            return self._records[url]
        with self.open(url) as response:
            data = json.load(response)
        if cache:
            self._records[url] = data
        return data


def check_reachable(url: str, timeout: float, proxies: Mapping[str, str]) -> None:
    """Resolve and connect to *url*'s host (or its proxy) once, within *timeout* seconds."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = proxies.get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "//" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname or "", proxy_parts.port or 80
    start = time.monotonic()
    try:
        _resolve(host, port, timeout)
        remaining = max(timeout - (time.monotonic() - start), 0.5)  # one deadline for both steps
        with socket.create_connection((host, port), timeout=remaining):
            pass
    except OSError as exc:
        raise FetchError(
            f"cannot reach {host} ({failure_reason(exc, timeout)}): {OFFLINE_HINT}"
        ) from None


def _resolve(host: str, port: int, timeout: float) -> None:
    """getaddrinfo with a deadline: a resolver that never answers must not hang the run."""
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise TimeoutError(f"name lookup gave no answer within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def failure_reason(exc: BaseException, timeout: float) -> str:
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(inner, socket.gaierror):
        return f"name lookup failed: {inner.strerror or inner}"
    if isinstance(inner, TimeoutError):
        return str(inner) if str(inner) not in ("", "timed out") else f"no answer in {timeout:g} s"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    return str(inner) or type(inner).__name__
