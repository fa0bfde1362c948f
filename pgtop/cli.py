"""Command line: parse, dispatch, and turn every failure into one line on stderr + an exit code.

Exit codes: 0 ok, 1 runtime failure (server unreachable …), 2 usage error (bad arguments, bad DSN,
bad config). No traceback reaches the user: anything unexpected is reported in one line too, with
the full traceback written to the log file for a bug report.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Sequence
from typing import Final, NoReturn, TypeVar

from pgtop import __version__, logs
from pgtop.config import ConfigError
from pgtop.conninfo import PgtopError, UsageError

log = logging.getLogger("pgtop")

SUBCOMMANDS = ("demo", "snapshot", "baseline")
GATE_EXIT = 3
"""``baseline diff --fail-on``: a change at or above the level (1 and 2 are errors)."""

_N = TypeVar("_N", int, float)


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


REFRESH_S: Final = (0.5, 60.0)
"""--refresh and --interval: seconds between polls, the range of ``[monitor] refresh``
(tests/test_cli_options.py holds the two together)."""
SNAPSHOT_S: Final = (1.0, 86_400.0)
"""snapshot --duration: the range of ``[snapshot] duration_s``."""
DEMO_S: Final = (1.0, 86_400.0)
"""demo --duration: how long the workload runs (a day at most: the lab is throwaway)."""
DEMO_CLIENTS: Final = (1, 200)
"""demo --clients: pgbench clients on the lab's primary (max_connections 300 leaves room for
the pool, the blocking chain, the idle sessions, the replica and the monitor)."""


def _span(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g} – {bounds[1]:g}"


def _within(
    convert: Callable[[str], _N], what: str, bounds: tuple[_N, _N], unit: str = ""
) -> Callable[[str], _N]:
    """An argparse type: ``convert(value)``, a finite number within ``bounds``."""
    low, high = bounds

    def number(value: str) -> _N:
        try:
            result = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}") from None
        if not math.isfinite(result):
            raise argparse.ArgumentTypeError(f"{value} is not a finite number")
        if not low <= result <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {_span(bounds)}{unit}")
        return result

    return number


def _seconds(bounds: tuple[float, float]) -> Callable[[str], float]:
    return _within(float, "a number of seconds", bounds, " seconds")


def _name(value: str) -> str:
    """An argparse type: a name that is not blank."""
    if not value.strip():
        raise argparse.ArgumentTypeError("a name is needed, got an empty one")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="settings file (default: user config)")


def _add_targets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dsn",
        nargs="?",
        default=None,
        metavar="DSN",
        help="libpq URI or key=value string; PG* variables, service files and .pgpass apply",
    )
    parser.add_argument("--pgbouncer", metavar="DSN", help="PgBouncer admin console to watch")
    parser.add_argument(
        "--replica", metavar="DSN", action="append", default=[], help="a standby (repeatable)"
    )


def monitor_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgtop",
        description="A terminal UI for operating PostgreSQL: activity, locks, replication, "
        "PgBouncer pools, top statements.",
        epilog="sub-commands: pgtop demo | pgtop snapshot | pgtop baseline diff "
        "(each has --help). Keys: press ? in the app.",
    )
    parser.add_argument("--version", action="version", version=f"pgtop {__version__}")
    _add_targets(parser)
    parser.add_argument(
        "--refresh",
        type=_seconds(REFRESH_S),
        metavar="SECONDS",
        help=f"seconds between polls: {_span(REFRESH_S)}, default 2",
    )
    parser.add_argument(
        "--read-only", action="store_true", default=None, help="no cancel/terminate/EXPLAIN ANALYZE"
    )
    parser.add_argument(
        "--theme", type=_name, metavar="NAME", help="dark, light, high-contrast or your own"
    )
    parser.add_argument(
        "--baseline", metavar="FILE", help="judge live statements against a saved baseline document"
    )
    _add_common(parser)
    return parser


def demo_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgtop demo",
        description="Start a throwaway primary, streaming replica and PgBouncer with a workload "
        "on loopback, monitor it, and tear everything down on exit.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--keep",
        action="store_true",
        help="start the lab and its workload, print connection strings and return",
    )
    mode.add_argument(
        "--stop", metavar="DIR", help="stop a lab started with --keep (takes no other option)"
    )
    parser.add_argument(
        "--duration",
        type=_seconds(DEMO_S),
        metavar="SECONDS",
        help=f"how long the workload runs: {_span(DEMO_S)}, default 3600",
    )
    parser.add_argument(
        "--clients",
        type=_within(int, "a whole number", DEMO_CLIENTS),
        metavar="N",
        help=f"pgbench clients: {_span(DEMO_CLIENTS)}, default 8",
    )
    parser.add_argument(
        "--refresh",
        type=_seconds(REFRESH_S),
        metavar="SECONDS",
        help="the monitor's (with --keep: added to the pgtop command printed)",
    )
    parser.add_argument(
        "--theme",
        type=_name,
        metavar="NAME",
        help="the monitor's (with --keep: added to the command printed)",
    )
    _add_common(parser)
    return parser


def snapshot_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgtop snapshot",
        description="Sample for a window without a terminal and write one document: a Markdown "
        "baseline or the data layer's JSON.",
    )
    _add_targets(parser)
    parser.add_argument(
        "--duration",
        type=_seconds(SNAPSHOT_S),
        default=None,
        metavar="SECONDS",
        help=f"the sampling window: {_span(SNAPSHOT_S)}, default [snapshot] duration_s (30)",
    )
    parser.add_argument(
        "--interval",
        type=_seconds(REFRESH_S),
        default=1.0,
        metavar="SECONDS",
        help=f"between samples: {_span(REFRESH_S)} and at most the window, default 1",
    )
    parser.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="markdown: a baseline document (default); json: the data layer's records",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write here ('-' for stdout); default: markdown into [snapshot] output_dir "
        "(snapshots/HOST-PORT-DB-UTCTIME.md), json to stdout",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing -o FILE")
    parser.add_argument(
        "--redact",
        action="store_true",
        help="leave query texts out (each statement by its queryid and first keyword)",
    )
    _add_common(parser)
    return parser


def baseline_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pgtop baseline", description="Work with baseline documents.")
    sub = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser
    )
    diff = sub.add_parser("diff", help="what got slower, faster, new, gone (Markdown to stdout)")
    diff.add_argument("old", metavar="OLD", help="the earlier baseline document (.md)")
    diff.add_argument("new", metavar="NEW", help="the later one")
    diff.add_argument(
        "--fail-on",
        choices=("warn", "crit"),
        default=None,
        help=f"exit {GATE_EXIT} when a change reaches this level (a deploy gate in CI)",
    )
    _add_common(diff)
    return parser


def run(argv: Sequence[str]) -> int:
    args_list = list(argv)
    command = args_list[0] if args_list and args_list[0] in SUBCOMMANDS else None
    if command == "demo":
        args = demo_parser().parse_args(args_list[1:])
        from pgtop.commands.demo import run_demo

        return run_demo(args)
    if command == "snapshot":
        args = snapshot_parser().parse_args(args_list[1:])
        from pgtop.commands.snapshot import run_snapshot

        return run_snapshot(args)
    if command == "baseline":
        args = baseline_parser().parse_args(args_list[1:])
        from pgtop.commands.baseline import run_baseline

        return run_baseline(args)
    args = monitor_parser().parse_args(args_list)
    from pgtop.commands.monitor import run_monitor

    return run_monitor(args)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except PgtopError as exc:
        _fail(str(exc))
        return exc.exit_code
    except ConfigError as exc:
        _fail(str(exc))
        return 2
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Exception as exc:  # the last line of defence: never a traceback on the terminal
        where = logs.configure()
        log.exception("unexpected error")
        detail = " ".join(str(exc).split())
        _fail(f"unexpected error: {type(exc).__name__}: {detail} (traceback in {where})")
        return 1


def _fail(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"pgtop: {one_line}", file=sys.stderr)  # noqa: T201
