"""A fresh server's warm-up: the app's modules and the first page's data, loaded at launch.

A new server process used to do everything on its first visitor's first page: import the
planner (pandas, geopandas, SQLAlchemy...), read the prepared-inputs snapshot, build the
display geometry and read the map's rendered base; about 1.5 s after the page itself had
loaded (``bench/bench_app.py``). ``streamlit run app.py`` now starts :func:`start` as soon as
the server is up (``app.py``'s lifespan hook), so that work overlaps the browser loading
Streamlit's own page, and a visitor who comes later finds it done.

The warm-up goes through the same cached functions, with the same keys, as a session's first
run (:func:`ui.shell.warm`, :func:`ui.map_component.ward_map_base`), so nothing is loaded
twice: a session that asks for the data while the warm-up is reading them waits for that
read (Streamlit's cache lock) under the usual "Loading the ward data" spinner. A session's
script waits only for the modules (:func:`wait_for_modules`): two threads importing the same
modules at once can see each other's half-imported modules. Nothing here is needed: if the
warm-up fails, it is logged and the first page does the work itself, as before.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["run", "start", "wait_for_modules", "warmed"]

log = logging.getLogger(__name__)

MODULES_TIMEOUT_S = 60.0
"""A session waits at most this long for the warm-up's imports (they take about a second)."""

_started = threading.Event()
_imported = threading.Event()
_done = threading.Event()


def start() -> None:
    """Start the warm-up in a background thread (once per process)."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=run, name="planner-warm-up", daemon=True).start()


def wait_for_modules(timeout: float = MODULES_TIMEOUT_S) -> None:
    """Return once the warm-up has imported the app's modules (at once if none was started)."""
    if _started.is_set():
        _imported.wait(timeout)


def warmed(timeout: float | None = None) -> bool:
    """Whether a warm-up was started and has finished (waiting up to *timeout* seconds)."""
    return _started.is_set() and _done.wait(timeout)


def run() -> None:
    """The warm-up itself, in this thread: modules, then the first page's data (never raises)."""
    began = time.perf_counter()
    try:
        _import_modules()
        _imported.set()
        _load_first_page()
    except Exception:  # the first page does the work itself: a warm-up never stops the app
        log.warning("warm-up failed; the first page loads its data itself", exc_info=True)
    finally:
        _imported.set()
        _done.set()
    log.info("app warmed in %.2f s", time.perf_counter() - began)


def _import_modules() -> None:
    # what the shell and the Map page import (the other pages import little more)
    from planner.outputs import views  # noqa: F401
    from ui import feasible, map_component, parts, shell  # noqa: F401


def _load_first_page() -> None:
    from planner.outputs import mapping
    from ui import map_component, shell

    ctx, missing = shell.warm()
    if ctx is None:
        log.info("nothing to warm: %s", missing)
        return
    if mapping.leaflet_assets() is not None:
        map_component.ward_map_base(ctx, ctx.display(), tiles=None)
