#!/usr/bin/env bash
# Sets up and runs `pgtop demo` on a fresh Debian machine: a throwaway primary, streaming replica
# and PgBouncer with a workload on loopback, monitored live; everything is removed on exit (q).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo pgbouncer
exec .venv/bin/pgtop demo "$@"
