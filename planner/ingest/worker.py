"""Run an upload's parse in a worker process held to a time and a memory limit.

:func:`run_bounded` starts a worker from multiprocessing's ``forkserver``: a fresh
interpreter started once, which has imported the readers and nothing of the app (no secrets,
no sessions), forks one worker per upload. The worker limits its own address space with
``resource.setrlimit(RLIMIT_AS)`` to ``planner.toml [limits] parse_memory_mb`` before it
parses anything; the caller waits at most ``parse_timeout_s`` and then kills it. The result
comes back as a pickle in a private temporary folder, written by the planner's own code in
the worker (the upload's bytes never reach the parent's unpickler as such).

Whatever goes wrong in the worker reaches the person as one :class:`WorkerError` (a
:class:`~planner.errors.DataError`) naming the upload, the limit and the fix; a traceback
from a bug goes to the server's log, never to the page.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import resource
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from planner.config import UploadLimits
from planner.errors import DataError

__all__ = ["WorkerError", "run_bounded"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_PRELOAD = ("planner.ingest.uploads",)  # imported once by the fork server, not per upload
_WHERE = "planner.toml [limits]"


class WorkerError(DataError):
    """An upload refused or failed in the worker.

    ``peak_mb`` is the worker's peak resident memory (MB) where it could say, else None.
    """

    def __init__(self, message: str, peak_mb: float | None = None) -> None:
        super().__init__(message)
        self.peak_mb = peak_mb


def run_bounded(
    task: Callable[..., T], *args: Any, label: str, limits: UploadLimits
) -> tuple[T, float]:
    """``task(*args)`` in a worker process; (its result, the worker's peak memory in MB).

    *task* must be a module-level function (it is imported by name in the worker), and
    *args* picklable. Like every multiprocessing start method but fork, the worker imports
    the process's main module, which must therefore be safe to import (Streamlit's, pytest's
    and any script with an ``if __name__ == "__main__":`` guard are).

    Raises
    ------
    WorkerError
        *task* raised a DataError (its message, as it is), ran out of memory
        (``parse_memory_mb``), took too long (``parse_timeout_s``), or failed otherwise.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(_PRELOAD))  # before the server starts; later calls no-op
    with tempfile.TemporaryDirectory(prefix="planner-worker-") as tmp:
        out = Path(tmp) / "result.pickle"
        proc = ctx.Process(
            target=_work, args=(task, args, str(out), limits.parse_memory_mb), daemon=True
        )
        proc.start()
        proc.join(limits.parse_timeout_s)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise WorkerError(
                f"{label}: reading it took longer than {limits.parse_timeout_s:g} s, the limit "
                f"parse_timeout_s ({_WHERE}), so it was stopped. Upload a smaller file (e.g. "
                "fewer months, or simplified boundaries), or run `planner ingest` on your machine"
            )
        if not out.is_file():
            log.error(
                "upload %s: the worker stopped without a result (exit %s)", label, proc.exitcode
            )
            raise WorkerError(
                f"{label}: the worker reading it stopped without a result (exit "
                f"{proc.exitcode}); it may have reached the memory limit parse_memory_mb = "
                f"{limits.parse_memory_mb} ({_WHERE}). Upload a smaller file, or run "
                "`planner ingest` on your machine"
            )
        outcome, payload, peak_mb = pickle.loads(out.read_bytes())
    if outcome == "ok":
        return payload, peak_mb
    if outcome == "refused":
        raise WorkerError(payload, peak_mb)
    if outcome == "memory":
        raise WorkerError(
            f"{label}: reading it needed more memory than the limit parse_memory_mb = "
            f"{limits.parse_memory_mb} MB of address space ({_WHERE}). Upload a smaller file, "
            "or run `planner ingest` on your machine",
            peak_mb,
        )
    log.error("upload %s: the worker failed:\n%s", label, payload)
    raise WorkerError(
        f"{label}: the file could not be read ({payload.splitlines()[-1].split(':')[0]}); "
        "check it is the type its name says, or report it with the server's log",
        peak_mb,
    )


def _work(task: Callable[..., Any], args: tuple[Any, ...], out: str, memory_mb: int) -> None:
    """The worker: limit the address space, run *task*, write what happened to *out*."""
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    outcome: tuple[str, Any]
    try:
        outcome = ("ok", task(*args))
    except DataError as exc:
        outcome = ("refused", str(exc))
    except MemoryError:
        outcome = ("memory", "")
    except Exception:  # a bug, or a library's failure: the log gets the traceback
        outcome = ("failed", traceback.format_exc())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        blob = pickle.dumps((*outcome, peak_mb))
    except Exception:  # an unpicklable result is a bug
        blob = pickle.dumps(("failed", traceback.format_exc(), peak_mb))
    Path(out).write_bytes(blob)
