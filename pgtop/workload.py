"""A bounded, telling workload for a lab: pgbench traffic, a blocking chain, idle transactions.

Each piece is a context manager the tests use directly; `python -m pgtop.workload --lab DIR` runs
them all in their own process (started by `Lab.start_workload`) and stops by itself after
`--duration` seconds, on SIGTERM, or when a server goes away.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psycopg

from pgtop.lab import APP_DATABASE, APP_ROLE, LabState

BLOCKER_APP = "lab-blocker"
WAITER_APPS = ("lab-waiter-1", "lab-waiter-2")
IDLE_APP = "lab-idle-in-xact"
ABORTED_APP = "lab-idle-aborted"
LONG_QUERY_APP = "lab-long-query"
PGBENCH_DIRECT_APP = "pgbench-direct"
PGBENCH_BOUNCER_APP = "pgbench-pgbouncer"


def _connect(
    dsn: str, application_name: str, bound_s: float
) -> psycopg.Connection[tuple[object, ...]]:
    """A session that ends by itself on the server side even if this process dies."""
    bound_ms = str(max(1000, int(bound_s * 1000)))
    conn = psycopg.connect(
        dsn,
        application_name=application_name,
        autocommit=True,
        options=(
            f"-c idle_in_transaction_session_timeout={bound_ms} -c statement_timeout={bound_ms}"
        ),
    )
    return conn


def _wait_until(dsn: str, condition_sql: str, params: tuple[object, ...], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(condition_sql, params).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for: {condition_sql}")


@dataclass(frozen=True, slots=True)
class Chain:
    holder: int
    waiter: int
    second_waiter: int


class _Statement(threading.Thread):
    """Runs one blocking statement on its own connection."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]], query: str) -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.query = query
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.conn.execute(self.query)
        except psycopg.Error as exc:
            self.error = exc


_LOCK_ROW = "UPDATE lab_lock SET v = v + 1 WHERE id = 1"
_WAITING_ON_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'"
)


@contextlib.contextmanager
def blocking_chain(dsn: str, bound_s: float = 300) -> Iterator[Chain]:
    """A holds a row lock in an open transaction; B waits on A; C waits behind B."""
    holder = _connect(dsn, BLOCKER_APP, bound_s)
    waiters: list[psycopg.Connection[tuple[object, ...]]] = []
    threads: list[_Statement] = []
    try:
        holder.execute("BEGIN")
        holder.execute(_LOCK_ROW)
        for app in WAITER_APPS:
            conn = _connect(dsn, app, bound_s)
            waiters.append(conn)
            thread = _Statement(conn, _LOCK_ROW)
            thread.start()
            threads.append(thread)
            _wait_until(dsn, _WAITING_ON_LOCK, (conn.info.backend_pid,), 15)
        yield Chain(
            holder.info.backend_pid, waiters[0].info.backend_pid, waiters[1].info.backend_pid
        )
    finally:
        with contextlib.suppress(psycopg.Error):
            holder.execute("ROLLBACK")
        holder.close()
        for thread in threads:
            thread.join(timeout=10)
        for conn in waiters:
            conn.close()


@contextlib.contextmanager
def idle_in_transaction(dsn: str, *, aborted: bool = False, bound_s: float = 300) -> Iterator[int]:
    """A session left idle in a transaction (optionally an aborted one); yields its pid."""
    conn = _connect(dsn, ABORTED_APP if aborted else IDLE_APP, bound_s)
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT txid_current()")
        if aborted:
            with contextlib.suppress(psycopg.errors.DivisionByZero):
                conn.execute("SELECT 1 / 0")
        yield conn.info.backend_pid
    finally:
        conn.close()


@contextlib.contextmanager
def long_query(dsn: str, seconds: float) -> Iterator[int]:
    """A query running for `seconds` (cancelled on exit); yields its pid."""
    conn = _connect(dsn, LONG_QUERY_APP, seconds + 5)
    thread = _Statement(conn, f"SELECT pg_sleep({float(seconds)!r})")
    thread.start()
    try:
        _wait_until(
            dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
            (conn.info.backend_pid,),
            15,
        )
        yield conn.info.backend_pid
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.cancel_safe(timeout=5)
        thread.join(timeout=10)
        conn.close()


def pgbench(
    pgbench_bin: str,
    *,
    host: str,
    port: int,
    passfile: str,
    clients: int,
    duration_s: float,
    application_name: str,
    rate: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start pgbench (TPC-B-like, simple protocol) for a bounded time."""
    # -N (simple-update): no pgbench_branches/tellers updates, so at scale 1 the clients do not
    # all queue on one branch row and the lab's deliberate blocking chain stays the story
    args = [
        pgbench_bin,
        "-n",
        "-N",
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(max(1, int(duration_s))),
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        APP_ROLE,
    ]
    if rate:
        args += ["-R", str(rate)]
    args.append(APP_DATABASE)
    env = {**os.environ, "PGPASSFILE": passfile, "PGAPPNAME": application_name}
    return subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )


def run(args: argparse.Namespace) -> int:
    state = LabState.load(Path(args.lab))
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.monotonic() + args.duration
    host, passfile = "127.0.0.1", state.passfile
    app_dsn = psycopg.conninfo.make_conninfo(
        host=host,
        port=str(state.primary_port),
        dbname=APP_DATABASE,
        user=APP_ROLE,
        passfile=passfile,
    )
    pgbench_bin = str(Path(state.bindir) / "pgbench")
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        try:
            if args.clients:
                procs.append(
                    pgbench(
                        pgbench_bin,
                        host=host,
                        port=state.primary_port,
                        passfile=passfile,
                        clients=args.clients,
                        duration_s=args.duration,
                        application_name=PGBENCH_DIRECT_APP,
                        rate=args.rate,
                    )
                )
            if args.bouncer_clients and state.bouncer_port:
                procs.append(
                    pgbench(
                        pgbench_bin,
                        host=host,
                        port=state.bouncer_port,
                        passfile=passfile,
                        clients=args.bouncer_clients,
                        duration_s=args.duration,
                        application_name=PGBENCH_BOUNCER_APP,
                        rate=args.rate,
                    )
                )
            if args.blocking_chain:
                stack.enter_context(blocking_chain(app_dsn, bound_s=args.duration))
            if args.idle_sessions:
                stack.enter_context(idle_in_transaction(app_dsn, bound_s=args.duration))
                stack.enter_context(
                    idle_in_transaction(app_dsn, aborted=True, bound_s=args.duration)
                )
            if args.long_query:
                stack.enter_context(long_query(app_dsn, args.duration))
            print("workload running", flush=True)  # noqa: T201
            while not stop.is_set() and time.monotonic() < deadline:
                if any(p.poll() not in (None, 0) for p in procs):
                    break
                stop.wait(0.5)
        except (psycopg.Error, TimeoutError) as exc:
            print(f"workload stopped: {exc}", file=sys.stderr, flush=True)  # noqa: T201
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgtop.workload")
    parser.add_argument("--lab", required=True, help="the lab directory (holds lab.json)")
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--bouncer-clients", type=int, default=10)
    parser.add_argument("--rate", type=int, default=None, help="pgbench -R per pgbench process")
    parser.add_argument("--no-blocking-chain", dest="blocking_chain", action="store_false")
    parser.add_argument("--no-idle-sessions", dest="idle_sessions", action="store_false")
    parser.add_argument("--no-long-query", dest="long_query", action="store_false")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
