"""`pgtop [DSN]`: the live monitor."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pgtop import logs
from pgtop.commands.targets import Targets, make_actions, make_sources, preflight
from pgtop.config import (
    BaselineSettings,
    Config,
    ConfigError,
    Source,
    default_state_path,
    effective_theme,
    load_config,
    load_state,
)
from pgtop.conninfo import UsageError
from pgtop.themes import DEFAULT_THEME, resolve_theme_name

if TYPE_CHECKING:
    from pgtop.baseline.live import LiveBaseline

log = logging.getLogger("pgtop.monitor")


def not_available(option: str) -> UsageError:
    """An accepted option whose feature has not landed: refused before anything starts."""
    return UsageError(
        f"{option} is not available in this version yet (it arrives with baseline documents)"
    )


def config_from_args(args: argparse.Namespace) -> Config:
    overrides: dict[str, object] = {
        "monitor.refresh": getattr(args, "refresh", None),
        "monitor.theme": getattr(args, "theme", None),
        "monitor.read_only": getattr(args, "read_only", None),
    }
    name = getattr(args, "config", None)
    path = Path(name) if name is not None else None  # --config '' is no file: an error
    return load_config(path, overrides=overrides)


def require_terminal() -> None:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "pgtop needs a terminal (stdout or stdin is not one): for headless output use "
            "'pgtop snapshot --format json' (or --format markdown)"
        )


def ui_themes() -> list[str]:
    """The names of the themes the UI offers (textual's own and pgtop's theme files that
    load), asked of the UI itself: the check before starting and the app's choice at start
    read one list through one rule, :func:`pgtop.themes.resolve_theme_name`."""
    from pgtop.feed import RecordedFeed
    from pgtop.ui.app import make_app

    app = make_app(Config(), RecordedFeed(()), theme=DEFAULT_THEME)  # never run
    return list(app.available_themes)


def check_theme(config: Config) -> str | None:
    """Refuse a theme the user asked for (``--theme``, ``PGTOP_THEME``, ``monitor.theme`` in
    config.toml) that the UI does not have: a usage error listing the themes.

    A theme remembered in state.toml (picked in the app) that is gone is no error: the app
    starts with the default and says so on screen; the line returned is for the log.
    """
    available = ui_themes()
    origin = config.origin("monitor.theme")
    wanted = config.monitor.theme
    if origin is not Source.DEFAULT and resolve_theme_name(wanted, available) is None:
        where = {Source.CLI: "--theme", Source.ENV: "PGTOP_THEME"}.get(
            origin, f"monitor.theme in {config.path}"
        )
        names = sorted(available, key=lambda name: (not name.startswith("pgtop-"), name))
        raise UsageError(f'unknown theme "{wanted}" ({where}); available: {", ".join(names)}')
    try:
        state = load_state()
    except ConfigError:
        return None  # the app reports a corrupt state file on screen
    remembered = effective_theme(config, state)
    if remembered == state.theme and resolve_theme_name(remembered, available) is None:
        return (
            f'theme "{remembered}" remembered in {default_state_path()} is no longer '
            "available: starting with the default"
        )
    return None


def run_monitor(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    targets = Targets.from_args(args)
    note = check_theme(config)
    baseline = load_baseline(Path(args.baseline), config) if args.baseline is not None else None
    preflight(targets.primary, config.connection)
    require_terminal()
    return run_ui(config, targets, notes=[note] if note else [], baseline=baseline)


def load_baseline(path: Path, config: Config) -> LiveBaseline:
    """``--baseline FILE``, read before anything starts: a missing, corrupt or foreign file is
    one line naming it (exit 1)."""
    from pgtop.baseline import load
    from pgtop.baseline.live import LiveBaseline

    check_ratios(config.baseline)
    return LiveBaseline(load(path), path.name, config.baseline)


def check_ratios(rules: BaselineSettings) -> None:
    """``[baseline]``'s crit ratio may not be below its warn ratio (a usage error)."""
    if rules.crit_ratio < rules.warn_ratio:
        raise UsageError(
            f"[baseline] crit_ratio ({rules.crit_ratio:g}) is below "
            f"warn_ratio ({rules.warn_ratio:g})"
        )


def run_ui(
    config: Config,
    targets: Targets,
    *,
    notes: Sequence[str] = (),
    baseline: LiveBaseline | None = None,
) -> int:
    """Start the sampler and the app over the targets; returns the app's exit code.

    The app picks the theme itself (``--theme``/``PGTOP_THEME`` > state.toml > config.toml >
    default, :func:`pgtop.config.effective_theme`); ``notes`` go to the log first.
    """
    from pgtop.collect.sampler import Sampler
    from pgtop.ui.app import make_app

    logs.configure()
    for note in notes:
        log.warning("%s", note)
    sampler = Sampler(
        make_sources(targets, config),
        interval=config.monitor.refresh,
        thresholds=config.thresholds,
        history_minutes=config.monitor.history_minutes,
        also_judge=baseline.judge if baseline is not None else None,
    )
    actions = make_actions(targets, config)
    app = make_app(
        config,
        sampler,
        targets=targets.describe(),
        read_only=config.monitor.read_only,
        signaller=actions.signaller,
        inspector=actions.inspector,
        explainer=actions.explainer,
        runbook=actions.runbook,
        baseline=baseline,
    )
    app.run()
    return app.return_code or 0
