"""pgtop against pg_activity, measured the same way in the same run (figures, not pass/fail).

Starts a lab and, for each load, runs each monitor in a real pty, one after the other, in rounds
that alternate which goes first, at each tool's default refresh and at 1 s. Each monitor logs in
as a role of its own (pg_monitor), so the server's side is read from pg_stat_statements filtered
by that role. Printed per run, then per monitor (mean and spread between rounds) with the
pgtop / pg_activity ratios:
  - client CPU seconds per minute of the monitor process (all its threads, from
    /proc/PID/task/*/schedstat in nanoseconds),
  - server ms per second: planning + execution of the monitor's statements
    (pg_stat_statements.track_planning is on in the lab),
  - resident memory at the end of the window (MB),
  - bytes written to the terminal per minute,
  - refresh period (window / ticks, a tick being a call of the monitor's most-called
    statement) and its drift from the refresh asked for.

Loads (``--loads``):
  idle      nothing but the monitor;
  pgbench   100 pgbench clients, unthrottled (every client busy all the time);
  incident  the same pgbench, plus a blocking chain (one holder, ``--chain`` sessions queued on
            its row), an ALTER TABLE pending behind an open transaction with readers queued
            behind it, idle transactions and long queries: what the server looks like when
            someone opens a monitor.

Then a lock-storm scaling run (``--storm 50,200,500``): one holder and N sessions queued on one
row, no other load; pgtop's collector polls once a second and the server time per tick is read
from pg_stat_statements, next to what pgtop's old activity query (pg_blocking_pids() per
waiting backend) costs on the same storm.

    python benchmarks/ui_vs_pg_activity.py [--seconds 40] [--rounds 2] [--size 200x50]
        [--loads idle,pgbench,incident] [--refresh default,1] [--storm 50,200,500]

pg_activity comes from PyPI: pip install pg_activity (the `bench` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import pty
import secrets
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from pgtop.collect.postgres import PostgresSource
from pgtop.collect.probes import resolve
from pgtop.config import MonitorSettings
from pgtop.lab import SUPERUSER, Lab, find_installation
from pgtop.workload import idle_in_transaction, long_query, pgbench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the storm lives with the tests
from tests.lock_storm import lock_storm, role_cost  # noqa: E402

WARM_UP_S = 5.0  # after the monitor's first ticks (startup takes seconds on a loaded machine)
STARTUP_LIMIT_S = 60.0
TOOLS = ("pgtop", "pg_activity")
ROLES = {"pgtop": "bench_pgtop", "pg_activity": "bench_pg_activity"}
DEFAULT_REFRESH = {"pgtop": MonitorSettings().refresh, "pg_activity": 2.0}  # pg_activity --help
TARGETS = "targets: server ≤ 0.5x in every load; CPU ≤ 0.5x under load, ≤ 1x idle"


@dataclass
class Run:
    tool: str
    first: bool
    cpu_s: float
    bytes_written: int
    seconds: float
    ticks: int
    server_ms: float
    rss_mb: float
    refresh_s: float

    @property
    def cpu_per_min(self) -> float:
        return self.cpu_s * 60 / self.seconds

    @property
    def kb_per_min(self) -> float:
        return self.bytes_written * 60 / self.seconds / 1024

    @property
    def server_ms_per_s(self) -> float:
        return self.server_ms / self.seconds

    @property
    def period_s(self) -> float:
        return self.seconds / self.ticks if self.ticks else float("nan")

    @property
    def drift_pct(self) -> float:
        return 100.0 * (self.period_s / self.refresh_s - 1)


METRICS: dict[str, Callable[[Run], float]] = {
    "CPU s/min": lambda r: r.cpu_per_min,
    "server ms/s": lambda r: r.server_ms_per_s,
    "RSS MB": lambda r: r.rss_mb,
    "KB/min": lambda r: r.kb_per_min,
    "period s": lambda r: r.period_s,
    "drift %": lambda r: r.drift_pct,
}


# --------------------------------------------------------------------------- the monitors


def cpu_seconds(pid: int) -> float:
    """CPU time of all the process's threads, from the scheduler's nanosecond counters
    (/proc/PID/task/*/schedstat): /proc/PID/stat counts 10 ms ticks, and an idle monitor
    uses ~0.1 s in a 40 s window (a tick either way was ±9 %)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int(stat.read_text().split()[0])
    return total / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spawn_in_pty(argv: list[str], env: dict[str, str], rows: int, cols: int) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # child: size the terminal before the program asks for it
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvpe(argv[0], argv, env)
    return pid, fd


CURSOR_QUERY = b"\x1b[6n"  # "where is the cursor?": pg_activity's terminal library waits 5 s


def drain(fd: int, seconds: float) -> int:
    """Read what the program writes for ``seconds``; answer its cursor position queries as a
    terminal would (unanswered, pg_activity starts drawing only 10 s later)."""
    deadline = time.monotonic() + seconds
    total = 0
    tail = b""
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            total += len(chunk)
            seen = tail + chunk
            for _ in range(seen.count(CURSOR_QUERY)):
                os.write(fd, b"\x1b[1;1R")
            tail = seen[1 - len(CURSOR_QUERY) :]  # a query cut between two reads
    return total


def server_cost(lab: Lab, role: str) -> tuple[int, float]:
    """(calls of the role's most-called statement, planning + execution ms of all of them)."""
    with psycopg.connect(lab.superuser_dsn()) as conn:
        return role_cost(conn, role)


def reset_statements(lab: Lab) -> None:
    with psycopg.connect(lab.superuser_dsn()) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def command(tool: str, dsn: str, refresh: float | None, pg_activity: str, home: Path) -> list[str]:
    every = [] if refresh is None else ["--refresh", f"{refresh:g}"]
    if tool == "pgtop":
        config = home / "config.toml"  # empty: the defaults, whatever the user's config says
        config.touch()
        return [sys.executable, "-m", "pgtop", dsn, *every, "--config", str(config)]
    return [pg_activity, *every, dsn]


def measure(
    tool: str, argv: list[str], lab: Lab, args: argparse.Namespace, home: Path, refresh_s: float
) -> Run:
    cols, rows = (int(v) for v in args.size.split("x"))
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "PGPASSFILE": lab.primary.passfile,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "XDG_STATE_HOME": str(home),
    }
    env.pop("NO_COLOR", None)
    pid, fd = spawn_in_pty(argv, env, rows, cols)
    try:
        reset_statements(lab)
        started = time.monotonic()
        while server_cost(lab, ROLES[tool])[0] < 2:  # connected and ticking
            if time.monotonic() - started > STARTUP_LIMIT_S:
                raise RuntimeError(f"{tool} did not start ticking in {STARTUP_LIMIT_S:g} s")
            drain(fd, 0.5)
        drain(fd, WARM_UP_S)
        reset_statements(lab)
        cpu_before = cpu_seconds(pid)
        written = drain(fd, args.seconds)
        cpu = cpu_seconds(pid) - cpu_before
        rss = rss_mb(pid)
        ticks, server_ms = server_cost(lab, ROLES[tool])
    finally:
        with contextlib.suppress(OSError, ChildProcessError):
            os.write(fd, b"q")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
                drain(fd, 0.1)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return Run(tool, False, cpu, written, args.seconds, ticks, server_ms, rss, refresh_s)


# --------------------------------------------------------------------------- the loads


@contextlib.contextmanager
def load(lab: Lab, name: str, args: argparse.Namespace, seconds: float) -> Iterator[str]:
    """Run the load ``name`` for the block; yields its description."""
    with contextlib.ExitStack() as stack:
        if name == "idle":
            yield "idle server"
            return
        proc = pgbench(
            lab.install.tool("pgbench"),
            host="127.0.0.1",
            port=lab.primary.port,
            passfile=lab.primary.passfile,
            clients=args.clients,
            duration_s=seconds + 60,
            application_name="pgbench-bench",
        )
        stack.callback(_stop, proc)
        time.sleep(3)
        what = f"{args.clients} pgbench clients, unthrottled"
        if name == "incident":
            app = lab.app_dsn()
            storm = stack.enter_context(
                lock_storm(app, args.chain, readers=args.readers, bound_s=seconds + 60)
            )
            for n in range(args.idle):
                stack.enter_context(idle_in_transaction(app, aborted=n == 0, bound_s=seconds + 60))
            for _ in range(args.long):
                stack.enter_context(long_query(app, seconds + 30))
            with psycopg.connect(lab.superuser_dsn()) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()
            backends = row[0] if row else 0
            what += (
                f" + {len(storm.waiters)} sessions queued on one row + an ALTER TABLE pending "
                f"with {len(storm.readers)} readers queued behind it + {args.idle} idle "
                f"transactions + {args.long} long queries ({backends} backends)"
            )
        yield what


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait()
    if proc.stderr:
        proc.stderr.close()


def run_load(
    lab: Lab, name: str, args: argparse.Namespace, dsns: dict[str, str], pg_activity: str
) -> list[tuple[str, list[Run]]]:
    refreshes = [None if r == "default" else float(r) for r in args.refresh.split(",")]
    per_window = WARM_UP_S + args.seconds + 20  # + startup and exit
    total = len(refreshes) * args.rounds * len(TOOLS) * per_window
    out: list[tuple[str, list[Run]]] = []
    with tempfile.TemporaryDirectory() as tmp, load(lab, name, args, total) as what:
        home = Path(tmp)
        for refresh in refreshes:
            runs: list[Run] = []
            for round_number in range(1, args.rounds + 1):
                order = list(TOOLS) if round_number % 2 else list(reversed(TOOLS))
                for position, tool in enumerate(order):
                    argv = command(tool, dsns[tool], refresh, pg_activity, home)
                    asked = refresh if refresh is not None else DEFAULT_REFRESH[tool]
                    run = measure(tool, argv, lab, args, home, asked)
                    run.first = position == 0
                    runs.append(run)
            defaults = ", ".join(f"{t} {DEFAULT_REFRESH[t]:g} s" for t in TOOLS)
            label = f"default ({defaults})" if refresh is None else f"{refresh:g} s"
            title = (
                f"{name}: {what}; refresh {label}; {args.rounds} rounds x {args.seconds:.0f} s "
                f"starting {WARM_UP_S:.0f} s after the first ticks, terminal {args.size}"
            )
            report(title, runs)
            out.append((f"{name} @ {'default' if refresh is None else f'{refresh:g} s'}", runs))
    return out


# --------------------------------------------------------------------------- report


def _mean(runs: list[Run], tool: str, metric: Callable[[Run], float]) -> float:
    return statistics.fmean(metric(r) for r in runs if r.tool == tool)


def _spread(runs: list[Run], tool: str, metric: Callable[[Run], float]) -> float:
    """(max - min) / mean between the rounds, in %."""
    values = [metric(r) for r in runs if r.tool == tool]
    mean = statistics.fmean(values)
    return 100.0 * (max(values) - min(values)) / mean if mean else 0.0


def report(title: str, runs: list[Run]) -> None:
    print(title)
    header = "".join(f"{name:>13}" for name in METRICS)
    print(f"{'':22}{header}")
    rounds: dict[str, int] = {}
    for run in runs:
        rounds[run.tool] = rounds.get(run.tool, 0) + 1
        label = f"{run.tool} #{rounds[run.tool]} ({'1st' if run.first else '2nd'})"
        print(f"{label:22}" + "".join(f"{m(run):13.2f}" for m in METRICS.values()))
    for tool in TOOLS:
        cells = "".join(
            f"{_mean(runs, tool, m):8.2f} ±{_spread(runs, tool, m):3.0f}%" for m in METRICS.values()
        )
        print(f"{tool + ' mean ± spread':22}{cells}")
    print("ratio pgtop/pg_activity: " + ", ".join(_ratios(runs)))
    print()


def _ratio(runs: list[Run], metric: Callable[[Run], float]) -> float:
    return _mean(runs, "pgtop", metric) / max(_mean(runs, "pg_activity", metric), 1e-9)


def _ratios(runs: list[Run]) -> list[str]:
    return [
        f"{name} {_ratio(runs, METRICS[name]):.2f}x"
        for name in ("CPU s/min", "server ms/s", "RSS MB", "KB/min")
    ]


def summary(results: list[tuple[str, list[Run]]]) -> None:
    print(f"summary, pgtop ÷ pg_activity in the same run ({TARGETS})")
    print(f"{'load @ refresh':22}{'CPU':>8}{'server':>8}  targets")
    for label, runs in results:
        cpu, server = _ratio(runs, METRICS["CPU s/min"]), _ratio(runs, METRICS["server ms/s"])
        cpu_target = 1.0 if label.startswith("idle") else 0.5
        verdicts = [
            f"server {'holds' if server <= 0.5 else 'MISSED'}",
            f"CPU {'holds' if cpu <= cpu_target else 'MISSED'} (≤ {cpu_target:g}x)",
        ]
        print(f"{label:22}{cpu:7.2f}x{server:7.2f}x  " + ", ".join(verdicts))
    print()


# --------------------------------------------------------------------------- lock storm


def old_activity_sql(version_num: int) -> str:
    """pgtop's activity query before issue 17: pg_blocking_pids() per backend waiting on a
    Lock (each call takes every lock-manager partition lock)."""
    probe = resolve("activity", version_num)
    assert probe is not None
    column = "coalesce(a.query, '') AS query"
    assert column in probe.text
    blocked = ",\n    CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END"
    return probe.text.replace(column, column + blocked)


@dataclass
class StormTicks:
    per_tick_ms: float  # planning + execution of all of pgtop's statements, per tick
    locks_ms: float  # of it, the lock graph's read of pg_locks
    poll_ms: float  # median client round trip


def storm_run(lab: Lab, sizes: list[int], ticks: int, dsn: str) -> None:
    socket_dsn = psycopg.conninfo.make_conninfo(
        host=str(lab.directory / "primary"),
        port=str(lab.primary.port),
        user=SUPERUSER,
        dbname="app",
    )
    print(
        "lock storm: one holder, N sessions queued on its row, an ALTER TABLE pending with 3 "
        f"readers queued behind it, no other load; pgtop's collector, {ticks} ticks at 1 s "
        "as shipped (the graph read again when the activity shows a change, or after 10 s), "
        f"then {ticks} ticks reading the graph every tick (the worst case: a pile-up that "
        "changes every tick); server ms per tick = planning + execution (pg_stat_statements); "
        "'old activity' = pgtop's activity query before issue 17 (pg_blocking_pids() per "
        "waiting backend), EXPLAIN ANALYZE, median of 10"
    )
    print(
        f"{'waiters':>8}{'backends':>9}{'steady ms/tick':>15}{'read ms/tick':>13}"
        f"{'of it pg_locks':>15}{'poll ms':>9}{'read ms/waiter':>15}{'old activity ms':>16}"
    )
    base: tuple[int, float, float] | None = None
    for size in sizes:
        with lock_storm(socket_dsn, size, readers=3, bound_s=300):
            steady, read = asyncio.run(_poll_storm(lab, dsn, ticks))
            old_ms = _old_activity_ms(socket_dsn)
            with psycopg.connect(socket_dsn) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()
        backends = row[0] if row else 0
        print(
            f"{size:8d}{backends:9d}{steady.per_tick_ms:15.2f}{read.per_tick_ms:13.2f}"
            f"{read.locks_ms:15.2f}{read.poll_ms:9.1f}{read.per_tick_ms / size:15.4f}"
            f"{old_ms:16.2f}"
        )
        if base is None:
            base = (size, read.per_tick_ms, old_ms)
            continue
        more = size / base[0]
        growth, old_growth = read.per_tick_ms / base[1], old_ms / base[2]
        verdict = "linear or better" if growth <= more else "WORSE than linear"
        print(
            f"{'':8}from {base[0]} waiters, x{more:g} waiters: pgtop reading each tick "
            f"x{growth:.2f} ({verdict}); the old activity query x{old_growth:.2f}"
        )
    print()


async def _poll_storm(lab: Lab, dsn: str, ticks: int) -> tuple[StormTicks, StormTicks]:
    """(as shipped, reading the lock graph every tick)."""
    source = PostgresSource(dsn)
    await source.connect()
    try:
        await source.poll()  # the queued readers are asked about from the next tick
        steady = await _storm_ticks(lab, source, ticks)
        source._locks.refresh_s = 0.0  # noqa: SLF001 - the worst case: read every tick
        read = await _storm_ticks(lab, source, ticks)
        return steady, read
    finally:
        await source.close()


async def _storm_ticks(lab: Lab, source: PostgresSource, ticks: int) -> StormTicks:
    reset_statements(lab)
    polls = []
    for _ in range(ticks):
        started = time.monotonic()
        sample = await source.poll()
        if sample.error:
            print(f"  tick error: {sample.error}")
        if sample.poll_ms is not None:
            polls.append(sample.poll_ms)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    with psycopg.connect(lab.superuser_dsn()) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(total_plan_time + total_exec_time), 0),"
            " coalesce(sum(total_plan_time + total_exec_time)"
            "  FILTER (WHERE query LIKE '%%FROM pg_locks%%'), 0)"
            " FROM pg_stat_statements"
            " WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (ROLES["pgtop"],),
        ).fetchone()
    assert row is not None
    return StormTicks(row[0] / ticks, row[1] / ticks, statistics.median(polls))


def _old_activity_ms(dsn: str, calls: int = 10) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        version = conn.info.server_version
        query = old_activity_sql(version).encode()
        times = []
        for _ in range(calls):
            cur = conn.execute(b"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) " + query)
            plan = cur.fetchone()
            assert plan is not None
            times.append(plan[0][0]["Planning Time"] + plan[0][0]["Execution Time"])
    return statistics.median(times)


# --------------------------------------------------------------------------- main


def monitor_roles(lab: Lab) -> dict[str, str]:
    """A pg_monitor role per tool (its DSN), with its password in the lab's passfile."""
    dsns = {}
    lines = []
    with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
        for tool, role in ROLES.items():
            password = secrets.token_urlsafe(18)
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pg_monitor").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            lines.append(f"127.0.0.1:*:*:{role}:{password}\n")
            dsns[tool] = lab.primary.dsn(role, "app")
    with open(lab.primary.passfile, "a", encoding="utf-8") as fh:
        fh.writelines(lines)
    return dsns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each monitor per setting")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--size", default="200x50", help="terminal COLSxROWS")
    parser.add_argument("--loads", default="idle,pgbench,incident")
    parser.add_argument("--refresh", default="default,1", help="'default' and/or seconds")
    parser.add_argument("--chain", type=int, default=60, help="incident: sessions on one row")
    parser.add_argument("--readers", type=int, default=10, help="incident: behind the ALTER")
    parser.add_argument("--idle", type=int, default=5, help="incident: idle transactions")
    parser.add_argument("--long", type=int, default=5, help="incident: long queries")
    parser.add_argument("--storm", default="50,200,500", help="lock-storm sizes ('' for none)")
    parser.add_argument("--storm-ticks", type=int, default=20)
    args = parser.parse_args()
    pg_activity = shutil.which("pg_activity") or os.path.join(
        os.path.dirname(sys.executable), "pg_activity"
    )
    if not os.access(pg_activity, os.X_OK):
        print("pg_activity is not installed: pip install pg_activity", file=sys.stderr)
        return 1
    settings = {"max_connections": "800", "pg_stat_statements.track_planning": "on"}
    with Lab(find_installation(), replica=False, pgbouncer=False, settings=settings) as lab:
        print(f"PostgreSQL {lab.install.major}, {os.cpu_count()} cores, load {os.getloadavg()}")
        print()
        dsns = monitor_roles(lab)
        results = []
        for name in [n for n in args.loads.split(",") if n]:
            results += run_load(lab, name, args, dsns, pg_activity)
        if results:
            summary(results)
        sizes = [int(v) for v in args.storm.split(",") if v]
        if sizes:
            storm_run(lab, sizes, args.storm_ticks, dsns["pgtop"])
        print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
