"""Command line: ``planner COMMAND ...`` (or ``python -m planner``).

Commands: ``fetch``, ``ingest``, ``datasets``, ``score``, ``plan``, ``priorities``, ``pack``,
``register``. :mod:`planner.cli.options` turns options into a
:class:`~planner.scenario.Scenario`, :mod:`planner.cli.commands` calls :mod:`planner.api` and
:mod:`planner.cli.show` prints. Every domain error is printed as one message (file, row,
column, fix) and the exit status is 2; 0 means success.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from planner.cli.commands import COMMANDS
from planner.cli.options import global_parser, parser
from planner.config import load_config
from planner.errors import PlannerError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first, _ = global_parser().parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if first.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    _route_warnings()
    try:
        config = load_config(first.config)
    except PlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    p = parser(config, COMMANDS)
    args = p.parse_args(argv)
    if not getattr(args, "command", None):
        p.print_help()
        return 0
    try:
        if args.data:
            config = config.with_data_dir(args.data)
        if args.cache:
            config = config.with_cache_dir(args.cache)
        return int(args.run(config, args))
    except PlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


def _route_warnings() -> None:
    """Show the planner's data warnings as one 'warning:' line each, once."""
    seen: set[str] = set()

    def show(message: Any, category: Any, filename: Any, lineno: Any, file: Any = None,
             line: Any = None) -> None:  # fmt: skip
        text = str(message)
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)

    warnings.showwarning = show
