"""`pgtop demo`: a throwaway lab with a workload, monitored live, torn down on exit."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from pgtop.commands.monitor import check_theme, config_from_args, require_terminal, run_ui
from pgtop.commands.targets import Targets
from pgtop.conninfo import PgtopError, UsageError
from pgtop.lab import Lab, LabError, LabState, stop_lab

DURATION_S = 3600.0
CLIENTS = 8


def _say(message: str) -> None:
    print(f"pgtop demo: {message}", file=sys.stderr, flush=True)  # noqa: T201


def run_demo(args: argparse.Namespace) -> int:
    if args.stop is not None:
        given = [
            f"--{dest.replace('_', '-')}"
            for dest, value in vars(args).items()
            if dest not in ("stop", "keep") and value is not None
        ]
        if given:
            raise UsageError(f"--stop takes no other option (got {', '.join(given)})")
        return _stop(Path(args.stop))
    duration = DURATION_S if args.duration is None else args.duration
    clients = CLIENTS if args.clients is None else args.clients
    config = config_from_args(args)
    note = check_theme(config)
    if not args.keep:
        require_terminal()
    lab = Lab(log=_say)
    try:
        if args.keep:
            return _keep(lab, args, duration, clients)
        with lab:
            lab.start_workload(duration_s=duration, clients=clients)
            targets = Targets(
                primary=lab.monitor_dsn(),
                replicas=(lab.replica_dsn(),) if lab.replica else (),
                pgbouncer=lab.bouncer_admin_dsn() if lab.pgbouncer else None,
            )
            _say("lab ready; starting the monitor (q quits and tears the lab down)")
            return run_ui(config, targets, notes=[note] if note else [])
    except LabError as exc:
        raise PgtopError(f"the demo lab could not start: {exc}") from None


def _monitor_options(args: argparse.Namespace) -> list[str]:
    """The monitor's options given to ``demo --keep``, for the pgtop command it prints."""
    options: list[str] = []
    if args.refresh is not None:
        options += ["--refresh", f"{args.refresh:g}"]
    if args.theme is not None:
        options += ["--theme", args.theme]
    if args.config is not None:
        options += ["--config", str(Path(args.config).expanduser().resolve())]
    return options


def _keep(lab: Lab, args: argparse.Namespace, duration: float, clients: int) -> int:
    try:
        lab.start()
        lab.start_workload(duration_s=duration, clients=clients)
    except BaseException:
        lab.stop()
        raise
    info = lab.server_info()
    state = lab.detach()
    out = sys.stdout
    print(f"pgtop lab running in {state.directory} (workload for {duration:.0f} s)", file=out)  # noqa: T201
    print(f"export PGPASSFILE={shlex.quote(state.passfile)}", file=out)  # noqa: T201
    for name, dsn in info.items():
        print(f"{name:16} {dsn}", file=out)  # noqa: T201
    command = (
        f"pgtop {shlex.quote(info['monitor'])}"
        + (f" --replica {shlex.quote(info['replica'])}" if "replica" in info else "")
        + (
            f" --pgbouncer {shlex.quote(info['pgbouncer_stats'])}"
            if "pgbouncer_stats" in info
            else ""
        )
        + "".join(f" {shlex.quote(option)}" for option in _monitor_options(args))
    )
    print(f"monitor it:      {command}", file=out)  # noqa: T201
    print(f"stop it:         pgtop demo --stop {shlex.quote(state.directory)}", file=out)  # noqa: T201
    return 0


def _stop(directory: Path) -> int:
    try:
        state = LabState.load(directory)
    except LabError as exc:
        raise PgtopError(str(exc)) from None
    problems = stop_lab(state)
    if problems:
        raise PgtopError("; ".join(problems))
    _say(f"stopped the lab in {directory}")
    return 0
