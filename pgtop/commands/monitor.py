"""`pgtop [DSN]`: the live monitor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pgtop import logs
from pgtop.commands.targets import Targets, make_signaller, make_sources, preflight
from pgtop.config import Config, load_config
from pgtop.conninfo import UsageError


def config_from_args(args: argparse.Namespace) -> Config:
    overrides: dict[str, object] = {
        "monitor.refresh": getattr(args, "refresh", None),
        "monitor.theme": getattr(args, "theme", None),
        "monitor.read_only": getattr(args, "read_only", None),
    }
    path = Path(args.config) if getattr(args, "config", None) else None
    return load_config(path, overrides=overrides)


def require_terminal() -> None:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "pgtop needs a terminal (stdout or stdin is not one): for headless output use "
            "'pgtop snapshot --format json' (or --format markdown)"
        )


def run_monitor(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    targets = Targets.from_args(args)
    preflight(targets.primary, config.connection)
    require_terminal()
    return run_ui(config, targets)


def run_ui(config: Config, targets: Targets) -> int:
    """Start the sampler and the app over the targets; returns the app's exit code."""
    from pgtop.collect.sampler import Sampler
    from pgtop.ui.app import make_app

    logs.configure()
    sampler = Sampler(
        make_sources(targets, config),
        interval=config.monitor.refresh,
        thresholds=config.thresholds,
        history_minutes=config.monitor.history_minutes,
    )
    app = make_app(
        config,
        sampler,
        targets=targets.describe(),
        read_only=config.monitor.read_only,
        theme=config.monitor.theme,
        signaller=make_signaller(targets, config),
    )
    app.run()
    return app.return_code or 0
