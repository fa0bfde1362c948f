"""`python -m pgtop.lab`: start a lab, print where its state file is, hold, stop."""

from __future__ import annotations

import json
import sys
import time

from pgtop.lab.cluster import Lab
from pgtop.lab.names import STATE_FILE


def _main(argv: list[str]) -> int:
    """`python -m pgtop.lab [--hold SECONDS]`: start a lab, print its state file, wait, stop."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pgtop.lab")
    parser.add_argument("--hold", type=float, default=3600.0)
    parser.add_argument("--workload", action="store_true")
    parser.add_argument("--no-replica", action="store_true")
    parser.add_argument("--no-pgbouncer", action="store_true")
    args = parser.parse_args(argv)
    lab = Lab(
        replica=not args.no_replica,
        pgbouncer=not args.no_pgbouncer,
        log=lambda m: print(m, file=sys.stderr, flush=True),  # noqa: T201
    )
    with lab:
        if args.workload:
            lab.start_workload(duration_s=args.hold)
        print(json.dumps({"ready": str(lab.directory / STATE_FILE)}), flush=True)  # noqa: T201
        time.sleep(args.hold)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
