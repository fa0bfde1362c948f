"""Command line: parse, dispatch, and turn every failure into one line on stderr + an exit code.

Exit codes: 0 ok, 1 runtime failure (server unreachable …), 2 usage error (bad arguments, bad DSN,
bad config). No traceback reaches the user: anything unexpected is reported in one line too, with
the full traceback written to the log file for a bug report.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from pgtop import __version__, logs
from pgtop.config import ConfigError
from pgtop.conninfo import PgtopError, UsageError

log = logging.getLogger("pgtop")

SUBCOMMANDS = ("demo", "snapshot", "baseline")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _refresh(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"refresh {value!r} is not a number") from None
    if not 0.5 <= seconds <= 60:
        raise argparse.ArgumentTypeError(f"refresh {value} s is outside 0.5 – 60")
    return seconds


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
    parser.add_argument("--refresh", type=_refresh, metavar="SECONDS", help="0.5 – 60, default 2")
    parser.add_argument(
        "--read-only", action="store_true", default=None, help="no cancel/terminate/EXPLAIN ANALYZE"
    )
    parser.add_argument("--theme", metavar="NAME", help="dark, light, high-contrast or your own")
    parser.add_argument("--baseline", metavar="FILE", help="compare against a saved baseline")
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
    mode.add_argument("--stop", metavar="DIR", help="stop a lab started with --keep")
    parser.add_argument(
        "--duration",
        type=float,
        default=3600,
        metavar="SECONDS",
        help="how long the workload runs (default 3600)",
    )
    parser.add_argument("--clients", type=int, default=8, help="pgbench clients (default 8)")
    parser.add_argument("--refresh", type=_refresh, metavar="SECONDS")
    parser.add_argument("--theme", metavar="NAME")
    _add_common(parser)
    return parser


def snapshot_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgtop snapshot",
        description="Sample for a window without a terminal and write one document: a Markdown "
        "baseline or the data layer's JSON.",
    )
    _add_targets(parser)
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--interval", type=_refresh, default=1.0, metavar="SECONDS")
    parser.add_argument("--format", choices=("markdown", "json"), default="json")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument("--redact", action="store_true", help="replace literals in query texts")
    _add_common(parser)
    return parser


def baseline_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pgtop baseline", description="Work with baseline documents.")
    sub = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
    diff = sub.add_parser("diff", help="what got slower, faster, new, gone (Markdown to stdout)")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
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
