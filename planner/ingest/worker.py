"""Run an upload's parse in a worker process held to a time and a memory limit.

:func:`run_bounded` starts a fresh interpreter, ``python -m planner.ingest.worker JOB OUT``,
with a short list of environment variables (none of the app's secrets, such as a database
address in ``PLANNER_DB_URL``, and nothing of its memory). The worker limits its own address
space with ``resource.setrlimit(RLIMIT_AS)`` to ``planner.toml [limits] parse_memory_mb``
before it imports or parses anything; the caller waits at most ``parse_timeout_s`` and then
kills it. The job and the result are pickles in a private temporary folder (mode 0700), the
result written by the planner's own code in the worker.

Not multiprocessing: its ``spawn`` and ``forkserver`` workers import the parent's ``__main__``
module again, and under Streamlit that is the app script itself (Streamlit installs a
``__main__`` module whose ``__file__`` is ``app.py``), which would run the whole app in every
worker; ``fork`` would copy the app's memory and threads.

Whatever goes wrong in the worker reaches the person as one :class:`WorkerError` (a
:class:`~planner.errors.DataError`) naming the upload, the limit and the fix; a traceback
from a bug goes to the server's log, never to the page.
"""

from __future__ import annotations

import logging
import os
import pickle
import resource
import subprocess
import sys
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
_WHERE = "planner.toml [limits]"
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "PYTHONPATH")
_ENV_PREFIXES = ("GDAL_", "PROJ_", "CPL_", "OGR_")
_ENV_SET = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


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

    *task* must be a module-level function (the worker imports it by name, on this
    process's ``sys.path``) and *args* picklable.

    Raises
    ------
    WorkerError
        *task* raised a DataError (its message, as it is), ran out of memory
        (``parse_memory_mb``), took too long (``parse_timeout_s``), or failed otherwise.
    """
    with tempfile.TemporaryDirectory(prefix="planner-worker-") as tmp:
        job, out = Path(tmp) / "job.pickle", Path(tmp) / "result.pickle"
        with job.open("wb") as handle:
            pickle.dump((list(sys.path), limits.parse_memory_mb), handle)
            pickle.dump((task, args), handle)
        command = [sys.executable, "-m", "planner.ingest.worker", str(job), str(out)]
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=_environment())
        try:
            proc.wait(limits.parse_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise WorkerError(
                f"{label}: reading it took longer than {limits.parse_timeout_s:g} s, the limit "
                f"parse_timeout_s ({_WHERE}), so it was stopped. Upload a smaller file (e.g. "
                "fewer months, or simplified boundaries), or run `planner ingest` on your machine"
            ) from None
        if not out.is_file():
            log.error(
                "upload %s: the worker stopped without a result (exit %s)", label, proc.returncode
            )
            raise WorkerError(
                f"{label}: the worker reading it stopped without a result (exit "
                f"{proc.returncode}); it may have reached the memory limit parse_memory_mb = "
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


def _environment() -> dict[str, str]:
    """The worker's environment: what Python, GDAL and PROJ need, and no more."""
    keep = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith(_ENV_PREFIXES)}
    return keep | _ENV_SET


def _main(job: str, out: str) -> None:
    """The worker: limit the address space, run the job, write what happened to *out*."""
    with open(job, "rb") as handle:
        path, memory_mb = pickle.load(handle)
        limit = memory_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        sys.path[:] = path
        outcome: tuple[str, Any]
        try:
            task, args = pickle.load(handle)  # imports the task's module, under the limit
            outcome = ("ok", task(*args))
        except DataError as exc:
            outcome = ("refused", str(exc))
        except MemoryError:
            outcome = ("memory", "")
        except Exception:  # a bug, or a library's failure: the log gets the traceback
            outcome = ("failed", traceback.format_exc())
    peak_mb = _peak_mb()
    try:
        blob = pickle.dumps((*outcome, peak_mb))
    except Exception:  # an unpicklable result is a bug
        blob = pickle.dumps(("failed", traceback.format_exc(), peak_mb))
    Path(out).write_bytes(blob)


def _peak_mb() -> float:
    """This process's peak resident memory: VmHWM (``ru_maxrss`` would include the memory of
    the process that forked it before ``exec``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    _main(*sys.argv[1:3])
