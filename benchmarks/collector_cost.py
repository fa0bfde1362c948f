"""What pgtop's PostgreSQL collector costs the server it watches (not a test: prints figures).

Starts a lab (primary + replica), runs pgbench with ~100 clients (rate-limited so a small
machine survives), polls the primary once a second for 30 s as the pg_monitor role, then reads
pg_stat_statements for the monitor role's own statements and prints:

- pgtop's execution time per second on the primary (target: <= 4.5 ms/s),
- round trips (libpq Sync messages) per tick, from libpq's protocol trace,
- client-side poll time.

Then (unless --no-entries) it fills pg_stat_statements with ~10,000 distinct entries and
measures a few ticks again: the statements probe transfers every entry's numeric columns
(binary) each tick, and this is what that costs.

    python benchmarks/collector_cost.py [--seconds 30] [--clients 100] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import pq, sql

from pgtop.collect.postgres import PostgresSource
from pgtop.lab import MONITOR_ROLE, Lab
from pgtop.workload import pgbench

_OWN_COST = """
SELECT coalesce(sum(s.total_exec_time), 0)::float8, coalesce(sum(s.calls), 0)::bigint, count(*)
FROM pg_stat_statements AS s
WHERE s.userid = (SELECT oid FROM pg_roles WHERE rolname = %s)
"""


async def _ticks(
    source: PostgresSource, seconds: float, every_s: float
) -> tuple[list[int], list[float]]:
    """Poll on a 1 s cadence; Syncs per tick (libpq trace) and client poll ms."""
    conn = source._conn  # noqa: SLF001 - a benchmark may look inside
    assert conn is not None
    syncs: list[int] = []
    poll_ms: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        fd, name = tempfile.mkstemp(prefix="pgtop-bench-trace-")
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        sample = await source.poll()
        conn.pgconn.untrace()
        os.close(fd)
        syncs.append(_count_syncs(name))
        if sample.error:
            print(f"  tick error: {sample.error}")
        if sample.poll_ms is not None:
            poll_ms.append(sample.poll_ms)
        await asyncio.sleep(max(0.0, every_s - (time.monotonic() - started)))
    return syncs, poll_ms


def _count_syncs(trace_file: str) -> int:
    path = Path(trace_file)
    lines = path.read_text(errors="replace").splitlines()
    path.unlink()
    return sum(1 for line in lines if line.startswith("F\t") and "\tSync" in line)


def _own_cost(lab: Lab) -> tuple[float, int, int]:
    with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
        row = conn.execute(_OWN_COST, (MONITOR_ROLE,)).fetchone()
    assert row is not None
    return float(row[0]), int(row[1]), int(row[2])


_BREAKDOWN = """
SELECT s.calls, s.total_exec_time::float8, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 70)
FROM pg_stat_statements AS s
WHERE s.userid = (SELECT oid FROM pg_roles WHERE rolname = %s)
ORDER BY s.total_exec_time DESC
LIMIT 12
"""


def _breakdown(lab: Lab) -> None:
    with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
        for calls, total, query in conn.execute(_BREAKDOWN, (MONITOR_ROLE,)):
            print(f"    {total / max(1, calls):7.3f} ms x {calls:4}  {query}")


def _reset(lab: Lab) -> None:
    with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def _fill_statements(lab: Lab, tables: int = 100, columns: int = 10) -> int:
    """~tables x columns x columns distinct pg_stat_statements entries."""
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        cols = sql.SQL(", ").join(
            sql.SQL("{} int").format(sql.Identifier(f"c{j}")) for j in range(columns)
        )
        for i in range(tables):
            table = sql.Identifier(f"pgtop_bench_{i}")
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, cols))
        count = 0
        with conn.pipeline():
            for i in range(tables):
                table = sql.Identifier(f"pgtop_bench_{i}")
                for j in range(columns):
                    for k in range(columns):
                        conn.execute(
                            sql.SQL("SELECT {} FROM {} WHERE {} = 1").format(
                                sql.Identifier(f"c{j}"), table, sql.Identifier(f"c{k}")
                            )
                        )
                        count += 1
    return count


def _drop_fill(lab: Lab, tables: int = 100) -> None:
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        for i in range(tables):
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(f"pgtop_bench_{i}"))
            )


def _summary(
    label: str, seconds: float, syncs: list[int], poll_ms: list[float], cost: tuple[float, int, int]
) -> None:
    exec_ms, calls, entries = cost
    print(f"{label}:")
    print(f"  ticks                     {len(syncs)} over {seconds:.1f} s")
    print(f"  pgtop exec ms/s (server)  {exec_ms / seconds:.2f}   (target <= 4.5)")
    per_tick = exec_ms / max(1, len(syncs))
    print(
        f"  pgtop exec ms per tick    {per_tick:.2f}  ({calls} statements, {entries} pss entries)"
    )
    print(f"  Syncs per tick            min {min(syncs)} max {max(syncs)}")
    if poll_ms:
        p95 = sorted(poll_ms)[max(0, int(len(poll_ms) * 0.95) - 1)]
        median, top = statistics.median(poll_ms), max(poll_ms)
        print(f"  client poll ms            median {median:.1f}  p95 {p95:.1f}  max {top:.1f}")


async def main(args: argparse.Namespace) -> None:
    with Lab(pgbouncer=False, log=lambda m: print(f"lab: {m}")) as lab:
        proc = pgbench(
            lab.install.tool("pgbench"),
            host=lab.primary.host,
            port=lab.primary.port,
            passfile=lab.primary.passfile,
            clients=args.clients,
            duration_s=args.seconds + 15,
            application_name="pgbench-bench",
            rate=args.rate,
        )
        try:
            source = PostgresSource(lab.monitor_dsn())
            await source.connect()
            await asyncio.sleep(3)  # pgbench connects its clients
            await source.poll()
            _reset(lab)
            t0 = time.monotonic()
            syncs, poll_ms = await _ticks(source, args.seconds, 1.0)
            elapsed = time.monotonic() - t0
            cost = _own_cost(lab)
            last = await source.poll()
            print(
                f"PostgreSQL {lab.install.major}, pgbench {args.clients} clients -R {args.rate}, "
                f"{len(last.activity)} backends, {len(last.statements)} statements entries"
            )
            _summary("steady state", elapsed, syncs, poll_ms, cost)
            _breakdown(lab)

            if args.entries:
                n = _fill_statements(lab)
                await source.poll()  # first sight of the new entries
                await source.poll()  # their texts ride along (top 1000 only)
                _reset_kept = _own_cost(lab)
                t0 = time.monotonic()
                syncs, poll_ms = await _ticks(source, 10, 1.0)
                elapsed = time.monotonic() - t0
                after = _own_cost(lab)
                last = await source.poll()
                delta = (after[0] - _reset_kept[0], after[1] - _reset_kept[1], after[2])
                _summary(
                    f"with ~{n} extra distinct statements ({len(last.statements)} entries polled)",
                    elapsed,
                    syncs,
                    poll_ms,
                    delta,
                )
                _drop_fill(lab)
            await source.close()
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--no-entries", dest="entries", action="store_false")
    asyncio.run(main(parser.parse_args()))
