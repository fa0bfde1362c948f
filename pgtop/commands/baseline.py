"""`pgtop baseline diff OLD NEW`."""

from __future__ import annotations

import argparse

from pgtop.conninfo import PgtopError


def run_baseline(args: argparse.Namespace) -> int:
    raise PgtopError(
        f"pgtop baseline {args.action} is not available in this version yet: baseline documents "
        "arrive with the baselines feature; use 'pgtop snapshot --format json' meanwhile"
    )
