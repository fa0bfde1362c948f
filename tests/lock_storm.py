"""A lock storm on a real server, for the tests and the benchmarks: a holder with a row lock and
N sessions queued on that row (the first waits for the holder's transaction, the others for the
row's tuple lock), plus an ALTER TABLE pending behind an open transaction with readers queued
behind the ALTER (no holder blocks them: a queue-order, "soft" block).

The waiting statements are sent without waiting for their results (libpq's send_query), so a
storm of 500 costs no thread; each session has a statement_timeout and an
idle_in_transaction_session_timeout, so the server ends the storm by itself even if the process
that made it dies.

The storm is handed over once the server has settled: each waiter runs the deadlock check once,
deadlock_timeout (1 s) after it queued, holding every lock-manager partition lock; with hundreds
queued at once those checks stall every session that needs a partition lock (a read of pg_locks,
and even a new connection) for seconds. A measurement should not start in that wave.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgtop.model import Sample

__all__ = ["Storm", "assert_storm_tree", "lock_storm", "role_cost"]

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Storm:
    holder: int  # holds the row lock in an open transaction: the root blocker
    waiters: tuple[int, ...]  # queued on the row, in the order they were sent
    table_holder: int  # reads the ALTER's table in an open transaction
    alter: int  # ALTER TABLE, pending behind table_holder
    readers: tuple[int, ...]  # SELECTs queued behind the ALTER

    @property
    def sessions(self) -> int:
        return 3 + len(self.waiters) + len(self.readers)


def _connect(dsn: str, application: str, bound_s: float) -> Conn:
    bound_ms = max(1000, int(bound_s * 1000))
    options = f"-c statement_timeout={bound_ms} -c idle_in_transaction_session_timeout={bound_ms}"
    return psycopg.connect(dsn, autocommit=True, application_name=application, options=options)


def _send(conn: Conn, statement: sql.Composable) -> None:
    """Start ``statement`` on the server and return at once (its result is never read)."""
    conn.pgconn.send_query(statement.as_bytes(conn))
    while conn.pgconn.flush():
        time.sleep(0.001)


def _wait_for_locks(conn: Conn, pids: Sequence[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
            (list(pids),),
        ).fetchone()
        if row is not None and row[0] == len(pids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pids)} sessions did not all wait on a lock in time")
        time.sleep(0.05)


def _settled(conn: Conn) -> None:
    """Wait past the deadlock checks of the waiters just queued (see the module's docstring)."""
    row = conn.execute("SELECT current_setting('deadlock_timeout')::interval").fetchone()
    assert row is not None
    time.sleep(row[0].total_seconds() + 0.2)
    conn.execute("SELECT count(*) FROM pg_locks")  # waits for the partition locks


@contextlib.contextmanager
def lock_storm(
    dsn: str,
    waiters: int,
    *,
    readers: int = 1,
    prefix: str = "pgtop_storm",
    bound_s: float = 300,
) -> Iterator[Storm]:
    """The storm for the block; ``dsn``'s role creates (and drops) two tables named after
    ``prefix``. Every session it opened is terminated on the way out."""
    rows, altered = sql.Identifier(f"{prefix}_rows"), sql.Identifier(f"{prefix}_alter")
    admin = _connect(dsn, f"{prefix}-admin", bound_s)
    conns: list[Conn] = []
    try:
        admin.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(rows, altered))
        admin.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, v int)").format(rows))
        admin.execute(sql.SQL("INSERT INTO {} VALUES (1, 0)").format(rows))
        admin.execute(sql.SQL("CREATE TABLE {} (v int)").format(altered))
        apps = [f"{prefix}-waiter-{n}" for n in range(waiters)]
        apps += [f"{prefix}-reader-{n}" for n in range(readers)]
        apps += [f"{prefix}-holder", f"{prefix}-table-holder", f"{prefix}-alter"]
        with ThreadPoolExecutor(16) as pool:
            conns = list(pool.map(lambda app: _connect(dsn, app, bound_s), apps))
        waiting, reading = conns[:waiters], conns[waiters : waiters + readers]
        holder, table_holder, alter = conns[waiters + readers :]
        holder.execute("BEGIN")
        holder.execute(sql.SQL("UPDATE {} SET v = v + 1 WHERE id = 1").format(rows))
        table_holder.execute("BEGIN")
        table_holder.execute(sql.SQL("SELECT count(*) FROM {}").format(altered))
        update = sql.SQL("UPDATE {} SET v = v + 1 WHERE id = 1").format(rows)
        for conn in waiting:
            _send(conn, update)
        _send(alter, sql.SQL("ALTER TABLE {} ADD COLUMN w int").format(altered))
        _wait_for_locks(admin, [alter.info.backend_pid], 30)
        for conn in reading:
            _send(conn, sql.SQL("SELECT count(*) FROM {}").format(altered))
        pids = [c.info.backend_pid for c in (*waiting, *reading)]
        _wait_for_locks(admin, pids, 60)
        _settled(admin)
        yield Storm(
            holder=holder.info.backend_pid,
            waiters=tuple(c.info.backend_pid for c in waiting),
            table_holder=table_holder.info.backend_pid,
            alter=alter.info.backend_pid,
            readers=tuple(c.info.backend_pid for c in reading),
        )
    finally:
        everyone = [c.info.backend_pid for c in conns]
        with contextlib.suppress(psycopg.Error):
            admin.execute("SELECT pg_terminate_backend(p) FROM unnest(%s::int[]) AS p", (everyone,))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                left = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (everyone,)
                ).fetchone()
                if left is None or left[0] == 0:
                    break
                time.sleep(0.05)
        for conn in conns:
            conn.close()
        with contextlib.suppress(psycopg.Error):
            admin.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(rows, altered))
        admin.close()


def assert_storm_tree(sample: Sample, storm: Storm) -> None:
    """The blocking tree names both root blockers: the row's holder above every session queued
    on the row, and the table's reader above the pending ALTER TABLE above its readers."""
    (row_root,) = [r for r in sample.locks if r.pid == storm.holder]
    assert {n.pid for _, n in row_root.walk()} == {storm.holder, *storm.waiters}
    (table_root,) = [r for r in sample.locks if r.pid == storm.table_holder]
    assert [(d, n.pid) for d, n in table_root.walk()] == [
        (0, storm.table_holder),
        (1, storm.alter),
        *((2, pid) for pid in sorted(storm.readers)),
    ]


def role_cost(conn: Conn, role: str) -> tuple[int, float]:
    """(calls of the role's most-called statement, planning + execution ms of all of them)
    since pg_stat_statements was last reset (planning counts with track_planning on)."""
    row = conn.execute(
        "SELECT coalesce(max(calls), 0), coalesce(sum(total_plan_time + total_exec_time), 0)"
        " FROM pg_stat_statements WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = %s)",
        (role,),
    ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])
