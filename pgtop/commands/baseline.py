"""`pgtop baseline diff OLD NEW [--fail-on warn|crit]`: what got slower, faster, new, gone, as
Markdown on stdout; the exit code gates a deploy (0 below the level, GATE_EXIT at or above)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pgtop.baseline import diff, load, render_diff
from pgtop.cli import GATE_EXIT
from pgtop.commands.monitor import check_ratios, config_from_args

_ORDER = {"ok": 0, "warn": 1, "crit": 2}


def run_baseline(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    old, new = load(Path(args.old)), load(Path(args.new))
    rules = config.baseline
    check_ratios(rules)
    result = diff(
        old,
        new,
        warn_ratio=rules.warn_ratio,
        crit_ratio=rules.crit_ratio,
        min_calls=rules.min_calls,
        min_total_ms=rules.min_total_ms,
        thresholds=config.thresholds,
    )
    sys.stdout.write(render_diff(result))
    if args.fail_on is not None and _ORDER[result.worst] >= _ORDER[args.fail_on]:
        return GATE_EXIT
    return 0
