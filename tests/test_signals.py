"""Cancel and terminate, on the lab's real primary: what reaches the backend, and what the user
is told when it cannot (no privilege, the backend gone or replaced, no server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from pgtop.actions import Signal
from pgtop.collect.batch import Query, run_batch
from pgtop.collect.probes import compose, resolve
from pgtop.collect.signals import ACTION_SESSION_SUFFIX, BackendSignals
from pgtop.config import ConnectionSettings
from pgtop.lab import Lab
from tests.collect_fixtures import last_queryid, running, scratch_role, until

pytestmark = pytest.mark.lab

SLEEP = "SELECT pg_sleep(60) /* pgtop signal test */"


def _backend(dsn: str, pid: int) -> dict[str, Any] | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(
            "SELECT state, query, backend_start FROM pg_stat_activity WHERE pid = %s", (pid,)
        )
        row = cur.fetchone()
    if row is None:
        return None
    return {"state": row[0], "query": row[1], "backend_start": row[2]}


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _sleeping(dsn: str, pid: int) -> bool:
    row = _backend(dsn, pid)
    return row is not None and row["state"] == "active" and "pg_sleep" in row["query"]


def _started(dsn: str, pid: int) -> datetime:
    _wait_for(lambda: _sleeping(dsn, pid), "the backend to run its query")
    row = _backend(dsn, pid)
    assert row is not None
    started: datetime = row["backend_start"]
    return started


async def test_cancel_ends_the_query_and_keeps_the_session(lab: Lab) -> None:
    admin = lab.superuser_dsn()
    signals = BackendSignals(admin)
    try:
        with running(lab.app_dsn(), SLEEP) as pid:
            outcome = await signals.send(Signal.CANCEL, pid, _started(admin, pid))
            assert outcome.ok, outcome.message
            assert outcome.message == f"pid {pid}: cancel sent to its query"
            _wait_for(lambda: not _sleeping(admin, pid), "the query to end")
            row = _backend(admin, pid)
            assert row is not None, "cancel must not end the session"
            assert row["state"] == "idle"
    finally:
        await signals.close()


async def test_terminate_ends_the_session(lab: Lab) -> None:
    admin = lab.superuser_dsn()
    signals = BackendSignals(admin)
    try:
        with running(lab.app_dsn(), SLEEP) as pid:
            outcome = await signals.send(Signal.TERMINATE, pid, _started(admin, pid))
            assert outcome.ok, outcome.message
            assert outcome.message == f"pid {pid}: terminated"  # PostgreSQL 14+: waited for
            assert _backend(admin, pid) is None
    finally:
        await signals.close()


async def test_the_base_variant_terminates_too(lab: Lab) -> None:
    """PostgreSQL 13's statement (no wait), run on this server as it is."""
    admin = lab.superuser_dsn()
    probe = resolve("terminate_backend", 130000)
    assert probe is not None
    assert probe.file == "terminate_backend.sql"
    with running(lab.app_dsn(), SLEEP) as pid:
        started = _started(admin, pid)
        conn = await psycopg.AsyncConnection.connect(admin, autocommit=True)
        try:
            params = {"pid": pid, "backend_start": started}
            (rows,) = await run_batch(
                conn,
                [Query(compose(probe), params)],
                statement_timeout_ms=2000,
                lock_timeout_ms=500,
            )
        finally:
            await conn.close()
        assert rows[0]["done"] is True
        _wait_for(lambda: _backend(admin, pid) is None, "the backend to exit")


async def test_a_reused_pid_is_left_alone(lab: Lab) -> None:
    """The pid shown belongs to another backend now (backend_start differs): nothing is sent."""
    admin = lab.superuser_dsn()
    signals = BackendSignals(admin)
    try:
        with running(lab.app_dsn(), SLEEP) as pid:
            shown_start = _started(admin, pid) - timedelta(seconds=5)
            for signal in Signal:
                outcome = await signals.send(signal, pid, shown_start)
                assert not outcome.ok
                assert "another backend now" in outcome.message
            await asyncio.sleep(0.2)
            assert _sleeping(admin, pid), "a backend that was not chosen was signalled"
    finally:
        await signals.close()


async def test_a_gone_backend_is_reported(lab: Lab) -> None:
    admin = lab.superuser_dsn()
    with psycopg.connect(lab.app_dsn()) as conn:
        pid = conn.info.backend_pid
    _wait_for(lambda: _backend(admin, pid) is None, "the session to end")
    signals = BackendSignals(admin)
    try:
        outcome = await signals.send(Signal.TERMINATE, pid, None)
    finally:
        await signals.close()
    assert not outcome.ok
    assert outcome.message == f"pid {pid} has exited already: nothing to terminate"


async def test_without_privilege_the_grant_is_named(lab: Lab) -> None:
    """A role with neither pg_signal_backend nor the app's role may not signal its backends."""
    admin = lab.superuser_dsn()
    with scratch_role(lab, "pgtop_test_nosignal") as plain:
        signals = BackendSignals(plain)
        try:
            with running(lab.app_dsn(), SLEEP) as pid:
                started = _started(admin, pid)
                for signal in Signal:
                    outcome = await signals.send(signal, pid, started)
                    assert not outcome.ok
                    assert "\n" not in outcome.message
                    assert outcome.message.startswith("primary: not allowed to ")
                    assert 'GRANT pg_signal_backend TO "pgtop_test_nosignal"' in outcome.message
                assert _sleeping(admin, pid)
                # the session survives a refused action: the next one runs on it
                outcome = await signals.send(Signal.CANCEL, pid, started)
                assert "not allowed" in outcome.message
        finally:
            await signals.close()


async def test_the_monitoring_role_may_signal_but_not_a_superuser(lab: Lab) -> None:
    """The lab's monitoring role has pg_signal_backend (as the README advises): the app's
    backends yes, a superuser's no."""
    admin = lab.superuser_dsn()
    signals = BackendSignals(lab.monitor_dsn())
    try:
        with running(admin, SLEEP) as pid:
            outcome = await signals.send(Signal.CANCEL, pid, _started(admin, pid))
            assert not outcome.ok
            assert "a superuser's backends only a superuser can signal" in outcome.message
        with running(lab.app_dsn(), SLEEP) as pid:
            outcome = await signals.send(Signal.CANCEL, pid, _started(admin, pid))
            assert outcome.ok, outcome.message
    finally:
        await signals.close()


async def test_the_action_session_is_named_and_reopened_when_lost(lab: Lab) -> None:
    admin = lab.superuser_dsn()
    settings = ConnectionSettings()
    signals = BackendSignals(admin, settings=settings)
    try:
        with running(lab.app_dsn(), SLEEP) as pid:
            started = _started(admin, pid)
            await signals.send(Signal.CANCEL, pid, started)
            with psycopg.connect(admin, autocommit=True) as conn:
                name = settings.application_name + ACTION_SESSION_SUFFIX
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid, 2000) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (name,),
                ).fetchall()
            assert rows == [(True,)], "one action session, under its own name"
        with running(lab.app_dsn(), SLEEP) as pid:
            started = _started(admin, pid)
            lost = await signals.send(Signal.CANCEL, pid, started)
            assert not lost.ok
            assert "session was lost" in lost.message
            assert _sleeping(admin, pid), "nothing reached the backend"
            again = await signals.send(Signal.CANCEL, pid, started)
            assert again.ok, again.message
    finally:
        await signals.close()


async def test_no_server_is_one_line() -> None:
    signals = BackendSignals("host=127.0.0.1 port=1 user=nobody dbname=d password=secret")
    outcome = await signals.send(Signal.CANCEL, 12345, None)
    assert not outcome.ok
    assert outcome.message.startswith("primary: no session for the action: ")
    assert "connection refused" in outcome.message
    assert "\n" not in outcome.message
    assert "secret" not in outcome.message


async def test_locks_of_one_backend_held_and_awaited(lab: Lab) -> None:
    """The backend details' ``l``: what a holder holds and a waiter awaits, counted, on the
    action session, as the monitoring role; a reused pid reads nothing."""
    admin = lab.superuser_dsn()
    with psycopg.connect(admin, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS pgtop_locks_probe (id int)")
    inspector = BackendSignals(lab.monitor_dsn())
    holder = psycopg.connect(lab.superuser_dsn(), autocommit=False)
    try:
        holder.execute("LOCK TABLE pgtop_locks_probe IN ACCESS EXCLUSIVE MODE")
        holder_pid = holder.info.backend_pid
        with running(admin, "SELECT count(*) FROM pgtop_locks_probe /* waiter */") as waiter:
            _wait_for(
                lambda: (_backend(admin, waiter) or {}).get("state") == "active",
                "the waiter to queue",
            )
            held = await inspector.locks(holder_pid, None)
            assert held.error is None, held.error
            exclusive = [
                lock
                for lock in held.locks
                if lock.target == "pgtop_locks_probe" and lock.mode == "AccessExclusiveLock"
            ]
            assert len(exclusive) == 1
            assert exclusive[0].granted
            awaited = await inspector.locks(waiter, None)
            assert awaited.error is None, awaited.error
            waiting = [lock for lock in awaited.locks if not lock.granted]
            assert [(w.target, w.mode) for w in waiting] == [
                ("pgtop_locks_probe", "AccessShareLock")
            ]
            other_start = datetime(2000, 1, 1).astimezone()
            assert (await inspector.locks(holder_pid, other_start)).locks == ()
        holder.rollback()
    finally:
        holder.close()
        await inspector.close()
        with psycopg.connect(admin, autocommit=True) as cleanup:
            cleanup.execute("DROP TABLE IF EXISTS pgtop_locks_probe")


async def test_every_counter_of_one_statement(lab: Lab) -> None:
    """Statement details: every column the server's pg_stat_statements has, by its own name,
    and the server's total for the share; a statement that is gone says so."""
    marker = "SELECT 42 AS pgtop_counters_probe"
    with psycopg.connect(lab.app_dsn(), autocommit=True) as app:
        for _ in range(3):
            app.execute(marker)
        queryid = last_queryid(lab, app)
    with psycopg.connect(lab.superuser_dsn("app"), autocommit=True) as admin:
        row = admin.execute(
            "SELECT s.queryid, r.rolname, d.datname FROM pg_stat_statements s"
            " JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid"
            " WHERE s.queryid = %s AND r.rolname = 'app'",
            (queryid,),
        ).fetchone()
    assert row is not None
    queryid, user, database = row
    inspector = BackendSignals(lab.monitor_dsn())
    try:
        report = await inspector.statement(queryid, user, database)
        assert report.error is None, report.error
        counters = dict(report.counters)
        assert counters["calls"] >= 3
        assert {"total_exec_time", "mean_exec_time", "shared_blks_hit", "wal_bytes"} <= set(
            counters
        )
        assert "query" not in counters
        names = [name for name, _ in report.counters]
        # the server's column order, as \d pg_stat_statements lists them
        assert names.index("userid") < names.index("calls") < names.index("total_exec_time")
        assert names.index("total_exec_time") < names.index("rows") < names.index("wal_bytes")
        assert report.server_total_ms is not None
        assert report.server_total_ms >= counters["total_exec_time"]
        gone = await inspector.statement(1, user, database)
        assert gone.error == "statement 1 is no longer in pg_stat_statements"
    finally:
        await inspector.close()


async def test_bulk_terminate_in_one_statement_reports_the_gone(lab: Lab) -> None:
    """K on many rows: every one still there is terminated in one statement; one that ended
    before the confirm is reported, not an error; a reused pid is left alone."""
    admin = lab.superuser_dsn()
    signals = BackendSignals(lab.monitor_dsn())
    try:
        with (
            running(lab.app_dsn(), SLEEP) as first,
            running(lab.app_dsn(), SLEEP) as second,
            running(lab.app_dsn(), SLEEP) as reused,
        ):
            starts = {pid: _started(admin, pid) for pid in (first, second, reused)}
            gone = 999_999  # no such backend
            outcome = await signals.send_many(
                Signal.TERMINATE,
                [
                    (first, starts[first]),
                    (second, starts[second]),
                    (reused, starts[reused] - timedelta(seconds=1)),  # another backend now
                    (gone, None),
                ],
            )
            assert outcome.message == "terminated 2 of 4; 2 already gone"
            assert outcome.ok
            assert sorted(outcome.signalled) == sorted([first, second])
            _wait_for(lambda: _backend(admin, first) is None, "the first to exit")
            _wait_for(lambda: _backend(admin, second) is None, "the second to exit")
            assert _sleeping(admin, reused), "a reused pid is never signalled"
    finally:
        await signals.close()


async def test_bulk_without_privilege_names_the_grant_and_sends_nothing(lab: Lab) -> None:
    admin = lab.superuser_dsn()
    with scratch_role(lab, "pgtop_test_nobulk") as plain:
        signals = BackendSignals(plain)
        try:
            with (
                running(lab.app_dsn(), SLEEP) as one,
                running(lab.app_dsn(), SLEEP) as two,
            ):
                targets = [(one, _started(admin, one)), (two, _started(admin, two))]
                outcome = await signals.send_many(Signal.TERMINATE, targets)
                assert not outcome.ok
                assert outcome.message.startswith(
                    "nothing sent: not allowed to terminate 2 of the 2"
                )
                assert 'GRANT pg_signal_backend TO "pgtop_test_nobulk"' in outcome.message
                assert _sleeping(admin, one)
                assert _sleeping(admin, two)
        finally:
            await signals.close()


@pytest.mark.parametrize("how", ["closed", "cancelled"])
async def test_a_session_opening_when_the_app_quits_is_not_left_open(lab: Lab, how: str) -> None:
    """q while the first look-up still opens its session: the session is closed once open,
    whether the app closes the inspector meanwhile or cancels the look-up (no connection left
    on the server, none left for the garbage collector)."""
    name = f"pgtop-quit-{how}"
    inspector = BackendSignals(
        lab.monitor_dsn(), settings=ConnectionSettings(application_name=name)
    )
    lookup = asyncio.create_task(inspector.statement(1, "app", "app"))
    await asyncio.sleep(0)  # the look-up is opening its session now
    if how == "closed":
        await inspector.close()
        report = await lookup
        assert report.error is not None
    else:
        lookup.cancel()
        with pytest.raises(asyncio.CancelledError):
            await lookup
        await inspector.close()

    def left() -> int:
        with psycopg.connect(lab.superuser_dsn(), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
                (name + "%",),
            ).fetchone()
        assert row is not None
        return int(row[0])

    await until(lambda: left() == 0 or None, "no session left on the server", 10)
