"""`pgtop baseline diff OLD NEW`."""

from __future__ import annotations

import argparse

from pgtop.conninfo import UsageError


def run_baseline(args: argparse.Namespace) -> int:
    raise UsageError(
        f"pgtop baseline {args.action} is not available in this version yet (it arrives with "
        "baseline documents): use 'pgtop snapshot --format json' meanwhile"
    )
