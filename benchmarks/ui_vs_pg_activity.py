"""pgtop against pg_activity, measured the same way in the same run (figures, not pass/fail).

Starts a lab, puts ~100 pgbench clients on the primary, then runs each monitor in a real pty at a
1 s refresh for the same window, one after the other, in rounds (pgtop first in odd rounds,
pg_activity first in even ones), and prints per run and totalled per monitor:
  - CPU seconds per minute of the monitor process over the steady-state window (/proc/PID/stat),
  - bytes it wrote to the terminal per minute,
  - its ticks in the window (from pg_stat_statements: calls of its most-called statement) and
    the resulting refresh period,
  - what its statements cost the server: execution ms per second (pg_stat_statements),
and the pgtop / pg_activity ratios.

    python benchmarks/ui_vs_pg_activity.py [--seconds 60] [--clients 100] [--rates 0,300]
                                           [--size 200x50] [--rounds 2]

Two loads by default: unthrottled pgbench (every client busy all the time: the table changes
on every line each tick, what an incident looks like) and a rate-limited one (-R 300: most
clients idle, the table quiet; what monitoring costs on an ordinary day).

pg_activity comes from PyPI: pip install pg_activity (the `bench` extra).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pgtop.lab import MONITOR_ROLE, Lab, find_installation
from pgtop.workload import pgbench

WARM_UP_S = 5.0


@dataclass
class Run:
    name: str
    cpu_s: float
    bytes_written: int
    seconds: float
    ticks: int
    statements_calls: int
    exec_ms: float

    @property
    def bytes_per_min(self) -> float:
        return self.bytes_written * 60 / self.seconds

    @property
    def period_s(self) -> float:
        return self.seconds / self.ticks if self.ticks else float("nan")

    @property
    def exec_ms_per_s(self) -> float:
        return self.exec_ms / self.seconds


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def spawn_in_pty(argv: list[str], env: dict[str, str], rows: int, cols: int) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # child: size the terminal before the program asks for it
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvpe(argv[0], argv, env)
    return pid, fd


def drain(fd: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    total = 0
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            try:
                total += len(os.read(fd, 65536))
            except OSError:
                break
    return total


def server_cost(lab: Lab) -> tuple[int, int, float]:
    """(calls of the most-called statement, all calls, total exec ms) of the monitor role."""
    with psycopg.connect(lab.superuser_dsn()) as conn:
        row = conn.execute(
            "SELECT coalesce(max(calls), 0), coalesce(sum(calls), 0), "
            "coalesce(sum(total_exec_time), 0) FROM pg_stat_statements s "
            "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = %s",
            (MONITOR_ROLE,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2])


def reset_statements(lab: Lab) -> None:
    with psycopg.connect(lab.superuser_dsn()) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def measure(name: str, argv: list[str], lab: Lab, seconds: float, size: tuple[int, int]) -> Run:
    env = {**os.environ, "TERM": "xterm-256color", "PGPASSFILE": lab.primary.passfile}
    env.pop("NO_COLOR", None)
    pid, fd = spawn_in_pty(argv, env, *size)
    try:
        drain(fd, WARM_UP_S)
        reset_statements(lab)
        cpu_before = cpu_seconds(pid)
        written = drain(fd, seconds)
        cpu = cpu_seconds(pid) - cpu_before
        ticks, calls, exec_ms = server_cost(lab)
    finally:
        try:
            os.write(fd, b"q")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
                drain(fd, 0.1)
        except (OSError, ChildProcessError):
            pass
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    return Run(name, cpu, written, seconds, ticks, calls, exec_ms)


def run_scenario(
    lab: Lab, rate: int, args: argparse.Namespace, pg_activity: str, size: tuple[int, int]
) -> list[Run]:
    """Both monitors under one load, one at a time, in rounds: pgtop first in odd rounds,
    pg_activity first in even ones (a load that drifts over the run, as pgbench's does in its
    first minutes, then weighs on both alike)."""
    dsn = lab.monitor_dsn()
    commands = {
        "pgtop": [sys.executable, "-m", "pgtop", dsn, "--refresh", "1"],
        "pg_activity": [pg_activity, "--refresh", "1", dsn],
    }
    load = pgbench(
        lab.install.tool("pgbench"),
        host="127.0.0.1",
        port=lab.primary.port,
        passfile=lab.primary.passfile,
        clients=args.clients,
        duration_s=2 * args.rounds * (args.seconds + WARM_UP_S + 5) + 60,
        application_name="pgbench-bench",
        rate=rate or None,
    )
    runs: list[Run] = []
    try:
        time.sleep(3)
        for round_number in range(1, args.rounds + 1):
            order = ["pgtop", "pg_activity"]
            if round_number % 2 == 0:
                order.reverse()
            for name in order:
                runs.append(measure(name, commands[name], lab, args.seconds, size))
        return runs
    finally:
        load.terminate()
        load.wait()
        if load.stderr:
            load.stderr.close()


def _total(name: str, runs: list[Run]) -> Run:
    mine = [run for run in runs if run.name == name]
    return Run(
        name=name,
        cpu_s=sum(run.cpu_s for run in mine),
        bytes_written=sum(run.bytes_written for run in mine),
        seconds=sum(run.seconds for run in mine),
        ticks=sum(run.ticks for run in mine),
        statements_calls=sum(run.statements_calls for run in mine),
        exec_ms=sum(run.exec_ms for run in mine),
    )


def report(title: str, runs: list[Run]) -> None:
    print(title)
    print(
        f"{'':12} {'CPU s/min':>10} {'KB/min':>9} {'ticks':>6} {'period s':>9} {'server ms/s':>12}"
    )
    rounds = len(runs) // 2
    for index, run in enumerate(runs):
        label = f"{run.name} #{index // 2 + 1}" if rounds > 1 else run.name
        _row(label, run)
    ours, theirs = _total("pgtop", runs), _total("pg_activity", runs)
    if rounds > 1:
        _row("pgtop", ours)
        _row("pg_activity", theirs)
    per_min_ours = ours.cpu_s * 60 / ours.seconds
    per_min_theirs = theirs.cpu_s * 60 / theirs.seconds
    print(
        "ratio pgtop/pg_activity: "
        f"CPU {per_min_ours / max(per_min_theirs, 1e-9):.2f}x, "
        f"terminal bytes {ours.bytes_per_min / max(theirs.bytes_per_min, 1e-9):.2f}x, "
        f"server cost {ours.exec_ms_per_s / max(theirs.exec_ms_per_s, 1e-9):.2f}x"
    )
    print()


def _row(label: str, run: Run) -> None:
    print(
        f"{label:14} {run.cpu_s * 60 / run.seconds:8.2f} {run.bytes_per_min / 1024:9.1f} "
        f"{run.ticks:6d} {run.period_s:9.3f} {run.exec_ms_per_s:12.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument(
        "--rates",
        default="0,300",
        help="pgbench -R per scenario, comma-separated; 0 = unthrottled (every client busy)",
    )
    parser.add_argument("--size", default="200x50", help="terminal COLSxROWS")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="runs of each monitor per load, alternating which goes first (default 2)",
    )
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.split("x"))
    rates = [int(v) for v in args.rates.split(",")]
    pg_activity = shutil.which("pg_activity") or os.path.join(
        os.path.dirname(sys.executable), "pg_activity"
    )
    if not os.access(pg_activity, os.X_OK):
        print("pg_activity is not installed: pip install pg_activity", file=sys.stderr)
        return 1
    with Lab(find_installation(), replica=False, pgbouncer=False) as lab:
        major = lab.install.major
        for rate in rates:
            runs = run_scenario(lab, rate, args, pg_activity, (rows, cols))
            load = "unthrottled" if not rate else f"-R {rate}"
            report(
                f"{args.clients} pgbench clients ({load}), {args.rounds} x {args.seconds:.0f} s "
                f"windows after {WARM_UP_S:.0f} s warm-up each, terminal {cols}x{rows}, "
                f"PostgreSQL {major}",
                runs,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
