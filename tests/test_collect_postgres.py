"""PostgresSource against the lab's real servers, with real contention (no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import pq, sql

from pgtop.collect import postgres
from pgtop.collect.batch import Query, Scripts, _script, run_batch
from pgtop.collect.postgres import PostgresSource
from pgtop.collect.probes import compose, resolve
from pgtop.collect.rows import ACTIVITY_COLUMNS
from pgtop.collect.source import ConnectionLostError
from pgtop.config import ConnectionSettings
from pgtop.feed import ProbeGroup
from pgtop.lab import MONITOR_ROLE, REPLICATION_SLOT, Lab
from pgtop.model import Role, Sample
from pgtop.workload import blocking_chain, idle_in_transaction, pgbench
from tests.collect_fixtures import (
    connected,
    failing_archiver,
    inactive_slot,
    last_queryid,
    poll_until,
    scratch_database,
    scratch_role,
    su,
)
from tests.lock_storm import assert_storm_tree, lock_storm

# --------------------------------------------------------------------------- basics


def test_activity_rows_unpack_by_the_columns_the_query_returns(lab: Lab) -> None:
    """Activity rows come as tuples: their order is activity.sql's, as rows.py names them."""
    with psycopg.connect(lab.monitor_dsn()) as conn:
        probe = resolve("activity", conn.info.server_version, None)
        assert probe is not None
        cur = conn.execute(compose(probe))
        assert cur.description is not None
        assert tuple(column.name for column in cur.description) == ACTIVITY_COLUMNS


async def test_a_batch_script_is_bound_once_per_query_set(lab: Lab) -> None:
    """The same Query objects give the very same script, bound once; another set, other
    timeouts or parameters give a fresh one, equal to binding them anew. The source hands the
    batch the same Query objects tick after tick."""
    async with await psycopg.AsyncConnection.connect(lab.monitor_dsn(), autocommit=True) as conn:
        probe = resolve("activity", conn.info.server_version, None)
        assert probe is not None
        activity, one = Query(compose(probe), tuples=True), Query(sql.SQL("SELECT 1 AS one"))
        scripts = Scripts()
        first = scripts.script(conn, [activity, one], 1000, 500)
        assert first == _script(conn, [activity, one], 1000, 500)
        assert scripts.script(conn, [activity, one], 1000, 500) is first
        assert scripts.script(conn, [one], 1000, 500) == _script(conn, [one], 1000, 500)
        assert scripts.script(conn, [activity, one], 2000, 500) == _script(
            conn, [activity, one], 2000, 500
        )
        bound = [Query(sql.SQL("SELECT %(x)s AS x"), {"x": 1})]
        assert scripts.script(conn, bound, 1000, 500) is not scripts.script(conn, bound, 1000, 500)
        rows = await run_batch(
            conn, [activity, one], statement_timeout_ms=1000, lock_timeout_ms=500, scripts=scripts
        )
        assert rows[1] == [{"one": 1}]
    async with connected(lab.monitor_dsn()) as source:
        before = dict(zip(*source._tick_queries(), strict=True))
        await source.poll()
        after = dict(zip(*source._tick_queries(), strict=True))
        both = [key for key in before.keys() & after.keys() if before[key].params is None]
        assert "activity" in both
        assert all(before[key] is after[key] for key in both)


async def test_connect_probes_capabilities_and_excludes_itself(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        info = source.info
        assert info is not None
        assert info.role is Role.PRIMARY
        assert info.version_num // 10000 == lab.install.major
        assert info.user == MONITOR_ROLE
        assert info.has_pg_monitor
        assert not info.is_superuser
        assert info.pg_stat_statements is not None
        assert info.max_connections == 300
        assert info.track_activity_query_size == 4096
        assert info.started_at is not None
        assert info.settings["track_io_timing"] == "on"
        assert info.settings["max_connections"] == "300"
        assert "archive_command" not in info.settings
        sample = await source.poll()
        assert sample.connected
        assert sample.error is None
        assert sample.messages == ()
        assert info.backend_pid not in {b.pid for b in sample.activity}
        assert sample.stats is not None
        assert sample.stats.connections >= 2
        assert sample.stats.tps is None  # first sample: no interval yet
        assert sample.statements_status is not None
        assert sample.statements_status.available
        second = await source.poll()
        assert second.interval_s is not None
        assert second.interval_s > 0
        assert second.stats is not None
        assert second.stats.tps is not None


async def test_blocking_chain_is_one_tree(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with blocking_chain(lab.app_dsn(), bound_s=60) as chain:
            sample = await poll_until(
                source,
                lambda s: any(r.pid == chain.holder and len(r.walk()) == 3 for r in s.locks),
                what="the chain as one tree",
            )
            (root,) = [r for r in sample.locks if r.pid == chain.holder]
            (b,) = root.children
            (c,) = b.children
            assert (b.pid, c.pid) == (chain.waiter, chain.second_waiter)
            assert root.mode is None  # the holder waits on nothing
            assert root.application == "lab-blocker"
            assert b.mode == "ShareLock"
            assert b.locktype == "transactionid"
            assert c.relation == "lab_lock"
            assert b.waited_s is not None
            assert b.waited_s >= 0
            relations = {lc.relation for lc in sample.lock_counts}
            assert "lab_lock" in relations
            assert sample.stats is not None
            assert sample.stats.waiting_on_locks >= 2
            waiter = next(x for x in sample.activity if x.pid == chain.second_waiter)
            assert waiter.blocked_by == (chain.waiter,)
            holder = next(x for x in sample.activity if x.pid == chain.holder)
            assert holder.blocked_by == ()  # pg_blocking_pids only for Lock waiters
        after = await poll_until(
            source,
            lambda s: all(r.pid != chain.holder for r in s.locks),
            what="the chain to go away",
        )
        assert not [lc for lc in after.lock_counts if lc.relation == "lab_lock"]


async def test_a_reader_behind_a_pending_alter_and_a_row_pile_up(lab: Lab) -> None:
    """One read of pg_locks a tick: the row's holder is the root of its waiters; a reader
    queued behind a pending ALTER TABLE (no holder blocks it) sits under the ALTER, placed by
    wait order at first and resolved by pg_blocking_pids() from the next tick on."""
    async with connected(lab.monitor_dsn()) as source:
        with lock_storm(lab.app_dsn(), 5, readers=2, bound_s=60) as storm:
            first = await source.poll()
            assert first.error is None
            assert set(source._locks.resolve) == set(storm.readers)  # asked at the next tick
            sample = await source.poll()
            assert sample.error is None
            by_pid = {b.pid: b for b in sample.activity}
            assert_storm_tree(first, storm)
            assert_storm_tree(sample, storm)
            (table_root,) = [r for r in sample.locks if r.pid == storm.table_holder]
            alter = table_root.children[0]
            assert (alter.mode, alter.relation) == ("AccessExclusiveLock", "pgtop_storm_alter")
            assert alter.waited_s is not None
            assert by_pid[storm.alter].blocked_by == (storm.table_holder,)
            for reader in storm.readers:
                assert by_pid[reader].blocked_by == (storm.alter,)  # the server's answer
            assert sample.locks_unresolved == 0
            assert first.locks_unresolved == len(storm.readers)  # new: placed by wait order
            assert by_pid[storm.holder].blocked_by == ()
            counts = {(c.relation, c.mode): c.count for c in sample.lock_counts}
            assert counts[("pgtop_storm_alter", "AccessShareLock")] == len(storm.readers)
        after = await poll_until(source, lambda s: not s.locks, what="the storm to go away")
        assert after.locks_unresolved == 0
        assert source._locks.resolve == ()


async def test_statements_hidden_are_read_every_background_interval_and_catch_up(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody shows the statements: they are read on the first tick, then every BACKGROUND_S
    (the ticks between carry the last read); shown again, the next tick reads them, and the
    rates cover the whole time since the previous read."""
    monkeypatch.setattr(postgres, "BACKGROUND_S", 2.0)
    marker = "SELECT 1 AS pgtop_cadence_marker"
    with psycopg.connect(lab.app_dsn(), autocommit=True) as app:
        app.execute(marker)  # known to pg_stat_statements before the first read
        row = (last_queryid(lab, app),)
        async with connected(lab.monitor_dsn()) as source:
            tracker = source._tracker
            assert not source.want(frozenset())  # the activity pane: nothing behind
            first = await source.poll()
            assert tracker.reads == 1
            for _ in range(30):
                app.execute(marker)
            skipped = await source.poll()
            assert tracker.reads == 1
            # the last read, carried (its texts fetched meanwhile filled in)
            assert [(q.queryid, q.calls) for q in skipped.statements] == [
                (q.queryid, q.calls) for q in first.statements
            ]
            assert first.statements_status is not None
            assert first.statements_status.read_now
            assert skipped.statements_status is not None
            assert not skipped.statements_status.read_now
            with monkeypatch.context() as budget:
                budget.setattr(tracker, "read_due", lambda: False)
                # a large pg_stat_statements on its read budget: a tick now would not read it
                assert not source.want(frozenset({ProbeGroup.STATEMENTS}))
            source.want(frozenset())
            assert source.want(frozenset({ProbeGroup.STATEMENTS}))  # behind: tick now
            assert not source.want(frozenset({ProbeGroup.STATEMENTS}))  # shown already
            read = await source.poll()
            assert tracker.reads == 2
            assert read.statements_status is not None
            assert read.statements_status.read_now
            assert first.interval_s is None
            assert skipped.interval_s is not None
            assert read.interval_s is not None
            seconds = skipped.interval_s + read.interval_s
            (mine,) = [q for q in read.statements if q.queryid == row[0] and q.user == "app"]
            assert mine.calls_per_s is not None
            assert mine.calls_per_s * seconds == pytest.approx(30, rel=0.01)  # both intervals
            source.want(frozenset())
            await source.poll()
            assert tracker.reads == 2
            await asyncio.sleep(2.0)
            await source.poll()
            assert tracker.reads == 3  # the background interval passed


async def test_each_entry_shows_its_own_text(lab: Lab) -> None:
    """Two roles run statements that differ only in aliases and comments: one queryid, two
    entries, and each is shown with its own text (a comment tag names the caller)."""
    roles = ("pgtop_text_a", "pgtop_text_b")
    with scratch_role(lab, roles[0]) as dsn_a, scratch_role(lab, roles[1]) as dsn_b:
        try:
            with psycopg.connect(dsn_a, autocommit=True) as a:
                a.execute("SELECT 1 AS one /* caller=a */")
                queryid = last_queryid(lab, a)
            with psycopg.connect(dsn_b, autocommit=True) as b:
                b.execute("SELECT 2 AS two /* caller=b */")
                assert last_queryid(lab, b) == queryid  # aliases and comments are not jumbled
            async with connected(lab.monitor_dsn()) as source:
                source.want(frozenset({ProbeGroup.STATEMENTS}))

                def texts(sample: Sample) -> dict[str | None, str]:
                    return {
                        s.user: s.query
                        for s in sample.statements
                        if s.queryid == queryid and s.user in roles and s.query
                    }

                sample = await poll_until(
                    source, lambda s: len(texts(s)) == 2, what="both entries with a text"
                )
            assert texts(sample) == {
                roles[0]: "SELECT $1 AS one /* caller=a */",
                roles[1]: "SELECT $1 AS two /* caller=b */",
            }
        finally:
            with su(lab) as conn:
                conn.execute(
                    "SELECT pg_stat_statements_reset(oid) FROM pg_roles WHERE rolname = ANY(%s)",
                    (list(roles),),
                )


async def test_prepared_probes_and_a_pooler_that_loses_them(lab: Lab) -> None:
    """The tick probes are prepared once per session and executed each tick; through a pooler
    in transaction mode, a tick sent to a server connection that does not know them switches
    preparing off and is sent again as plain statements (no failed tick)."""
    async with connected(lab.monitor_dsn()) as direct:
        assert direct._prepare
        assert {"server", "activity", "locks"} <= set(direct._prepared)
        sample = await direct.poll()
        assert sample.error is None
        assert direct._prepare
    async with connected(lab.bouncer_app_dsn()) as pooled:
        assert pooled._prepared  # on the server connection of the probe run
        with psycopg.connect(lab.bouncer_app_dsn(), autocommit=True) as other:
            other.execute("BEGIN")
            other.execute("SELECT 1")  # holds that server connection: the tick gets another
            sample = await pooled.poll()
            other.execute("ROLLBACK")
        assert sample.error is None
        assert sample.activity
        assert not pooled._prepare
        assert pooled._prepared == {}
        again = await pooled.poll()
        assert again.error is None


async def test_idle_in_transaction_appears_and_goes(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with idle_in_transaction(lab.app_dsn(), bound_s=60) as pid:
            await asyncio.sleep(0.3)
            sample = await poll_until(
                source,
                lambda s: any(
                    b.pid == pid and b.state == "idle in transaction" for b in s.activity
                ),
                what="the idle transaction",
            )
            assert sample.summary is not None
            assert sample.summary.by_state.get("idle in transaction", 0) >= 1
            assert sample.stats is not None
            assert sample.stats.idle_in_transaction >= 1
            assert sample.stats.longest_idle_in_transaction_s is not None
            assert sample.stats.longest_idle_in_transaction_s >= 0.2
            assert sample.stats.longest_transaction_s is not None
            assert sample.stats.longest_transaction_s >= 0.2
        after = await poll_until(
            source, lambda s: all(b.pid != pid for b in s.activity), what="the session to end"
        )
        assert after.summary is not None


# --------------------------------------------------------------------------- replication


async def test_replication_seen_from_both_sides(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as primary:
        sample = await poll_until(
            primary,
            lambda s: (
                s.replication is not None
                and any(r.state == "streaming" for r in s.replication.replicas)
            ),
            what="a streaming replica",
        )
        assert sample.replication is not None
        (replica,) = sample.replication.replicas
        assert replica.client == "127.0.0.1"
        assert replica.sync_state == "async"
        assert replica.replay_lag_bytes is not None
        slot = next(s for s in sample.replication.slots if s.name == REPLICATION_SLOT)
        assert slot.active
        assert slot.active_pid == replica.pid
        assert slot.slot_type == "physical"
        assert sample.replication.archiver is not None
        assert sample.replication.archiver.archive_mode == "on"
    async with connected(lab.replica_dsn(), name="replica") as standby:
        info = standby.info
        assert info is not None
        assert info.role is Role.STANDBY
        sample = await poll_until(
            standby,
            lambda s: (
                s.replication is not None
                and s.replication.standby is not None
                and s.replication.standby.replay_lag_s is not None
                and s.replication.standby.replay_lag_s < 1
            ),
            what="replay lag ~0 on the standby",
        )
        assert sample.replication is not None
        status = sample.replication.standby
        assert status is not None
        assert status.wal_receiver_status == "streaming"
        assert status.upstream == f"127.0.0.1:{lab.primary.port}"
        assert not status.replay_paused
        assert sample.replication.replicas == ()


async def test_replicas_are_read_while_a_wal_sender_runs(lab: Lab) -> None:
    """pg_stat_replication is read only when the tick before saw a WAL sender (the first tick
    reads it: nothing is known yet); the lab's replica streams from one."""
    async with connected(lab.monitor_dsn()) as source:
        assert "replicas" in source._tick_queries()[0]
        sample = await poll_until(
            source,
            lambda s: s.replication is not None and bool(s.replication.replicas),
            what="the replica",
        )
        assert source._walsenders
        source._walsenders = False  # as after a tick without a WAL sender
        assert "replicas" not in source._tick_queries()[0]
        sample = await source.poll()
        assert sample.replication is not None
        assert sample.replication.replicas == ()
        assert source._walsenders  # seen again: read at the next tick
        assert "replicas" in source._tick_queries()[0]


async def test_paused_replay_raises_lag_on_both_sides(lab: Lab) -> None:
    async with (
        connected(lab.monitor_dsn()) as primary,
        connected(lab.replica_dsn(), name="replica") as standby,
    ):
        with su(lab, "postgres", replica=True) as replica_su, su(lab) as writer:
            replica_su.execute("SELECT pg_wal_replay_pause()")
            try:
                deadline = time.monotonic() + 20
                sample: Sample | None = None
                while time.monotonic() < deadline:
                    writer.execute("CREATE TEMP TABLE IF NOT EXISTS pgtop_w (v int)")
                    writer.execute("INSERT INTO pgtop_w SELECT generate_series(1, 100)")
                    writer.execute("SELECT pg_current_wal_lsn()")
                    sample = await standby.poll()
                    status = sample.replication.standby if sample.replication else None
                    if status and status.replay_lag_s is not None and status.replay_lag_s > 1:
                        break
                    await asyncio.sleep(0.2)
                assert sample is not None
                assert sample.replication is not None
                status = sample.replication.standby
                assert status is not None
                assert status.replay_paused
                assert status.replay_lag_s is not None
                assert status.replay_lag_s > 1
                assert status.receive_replay_lag_bytes is not None
                assert status.receive_replay_lag_bytes > 0
                seen = await primary.poll()
                assert seen.replication is not None
                (replica,) = seen.replication.replicas
                assert replica.replay_lag_bytes is not None
                assert replica.replay_lag_bytes > 0
            finally:
                replica_su.execute("SELECT pg_wal_replay_resume()")
        await poll_until(
            standby,
            lambda s: (
                s.replication is not None
                and s.replication.standby is not None
                and not s.replication.standby.replay_paused
                and s.replication.standby.receive_replay_lag_bytes == 0
            ),
            what="replay to catch up",
        )


async def test_inactive_slot_retaining_wal(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with su(lab) as conn, inactive_slot(conn, "pgtop_test_slot"):
            sample = await poll_until(
                source,
                lambda s: (
                    s.replication is not None
                    and any(
                        x.name == "pgtop_test_slot" and (x.retained_wal_bytes or 0) > 0
                        for x in s.replication.slots
                    )
                ),
                what="the slot holding WAL",
            )
            assert sample.replication is not None
            slot = next(x for x in sample.replication.slots if x.name == "pgtop_test_slot")
            assert not slot.active
            assert slot.active_pid is None
            assert slot.wal_status == "reserved"
        sample = await source.poll()
        assert sample.replication is not None
        assert all(x.name != "pgtop_test_slot" for x in sample.replication.slots)


async def test_failing_archive_command(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with su(lab) as conn, failing_archiver(conn):
            sample = await poll_until(
                source,
                lambda s: (
                    s.replication is not None
                    and s.replication.archiver is not None
                    and s.replication.archiver.failing
                ),
                what="the archiver failing",
                timeout_s=20,
            )
            assert sample.replication is not None
            archiver = sample.replication.archiver
            assert archiver is not None
            assert archiver.failed_count > 0
            assert archiver.last_failed_wal is not None
            assert archiver.last_failed_age_s is not None
            # the finished segment it fails on waits (counted from the last one archived)
            assert archiver.archived_count == 0 or (archiver.pending_segments or 0) >= 1
        await poll_until(
            source,
            lambda s: (
                s.replication is not None
                and s.replication.archiver is not None
                and not s.replication.archiver.failing
                and s.replication.archiver.pending_segments == 0  # caught up: nothing waits
            ),
            what="the archiver to recover and catch up",
            timeout_s=90,
            every_s=0.5,
        )


# --------------------------------------------------------------------------- statements


def _accounts_updates(sample: Sample) -> list[float]:
    return [
        s.calls_per_s
        for s in sample.statements
        if s.query.startswith("UPDATE pgbench_accounts") and s.calls_per_s is not None
    ]


def _no_negative_rates(sample: Sample) -> None:
    for s in sample.statements:
        for value in (
            s.calls_per_s,
            s.exec_ms_per_s,
            s.mean_ms_interval,
            s.rows_per_s,
            s.shared_hit_per_s,
            s.shared_read_per_s,
            s.temp_blks_per_s,
            s.io_ms_per_s,
        ):
            assert value is None or value >= 0, s
    if sample.stats is not None:
        for value in (sample.stats.tps, sample.stats.commits_per_s, sample.stats.rollbacks_per_s):
            assert value is None or value >= 0


async def test_statement_rates_under_pgbench_and_reset(lab: Lab) -> None:
    proc = pgbench(
        lab.install.tool("pgbench"),
        host=lab.primary.host,
        port=lab.primary.port,
        passfile=lab.primary.passfile,
        clients=4,
        duration_s=12,
        application_name="pgbench-test",
        rate=200,
    )
    try:
        async with connected(lab.monitor_dsn()) as source:
            sample = await poll_until(
                source,
                lambda s: any(r > 0 for r in _accounts_updates(s)),
                every_s=1.0,
                what="pgbench UPDATEs with a rate",
            )
            rates = _accounts_updates(sample)
            assert all(0 < r <= 5000 for r in rates)
            top = sample.statements[0]
            assert top.exec_ms_per_s is not None
            ordered = [s.exec_ms_per_s for s in sample.statements if s.exec_ms_per_s is not None]
            assert ordered == sorted(ordered, reverse=True)
            upd = next(s for s in sample.statements if s.query.startswith("UPDATE pgbench_acc"))
            assert upd.user == "app"
            assert upd.database == "app"
            assert upd.calls > 0
            assert upd.mean_ms_interval is None or upd.mean_ms_interval >= 0
            _no_negative_rates(sample)

            with su(lab) as conn:
                conn.execute("SELECT pg_stat_statements_reset()")
            after = await source.poll()
            assert after.statements_status is not None
            assert after.statements_status.reset_detected
            _no_negative_rates(after)
            for _ in range(2):
                await asyncio.sleep(0.5)
                later = await source.poll()
                _no_negative_rates(later)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


async def test_statements_absent_gives_a_clear_status(lab: Lab) -> None:
    with scratch_database(lab, "pgtop_no_pss") as db:
        async with connected(lab.monitor_dsn(db)) as source:
            assert source.info is not None
            assert source.info.pg_stat_statements is None
            sample = await source.poll()
            assert sample.error is None
            assert sample.statements == ()
            assert sample.statements_status is not None
            assert not sample.statements_status.available
            assert sample.statements_status.reason == (
                'pg_stat_statements is not installed in "pgtop_no_pss": run CREATE EXTENSION '
                "pg_stat_statements (needs shared_preload_libraries = pg_stat_statements)"
            )
            assert sample.activity
            assert sample.stats is not None


# --------------------------------------------------------------------------- one round trip


@contextlib.contextmanager
def traced(source: PostgresSource) -> Iterator[Path]:
    """libpq's own protocol trace of the source's session, to a file."""
    conn = source._conn  # noqa: SLF001 - the test inspects the real session
    assert conn is not None
    fd, name = tempfile.mkstemp(prefix="pgtop-trace-")
    conn.pgconn.trace(fd)
    conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
    try:
        yield Path(name)
    finally:
        conn.pgconn.untrace()
        os.close(fd)


def _frontend(path: Path, message: str) -> int:
    return sum(
        1
        for line in path.read_text(errors="replace").splitlines()
        if line.startswith("F\t") and line.split("\t")[2].startswith(message)
    )


async def test_one_round_trip_per_poll_including_text_fetch(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        messages = []
        with_texts = 0
        for _ in range(3):
            with traced(source) as path:
                sample = await source.poll()
            assert sample.error is None
            # one simple-protocol Query message carries the whole transaction
            messages.append((_frontend(path, "Query"), _frontend(path, "Sync")))
            text = path.read_text(errors="replace")
            with_texts += "pg_stat_statements(true)" in text
            path.unlink()
        assert messages == [(1, 0), (1, 0), (1, 0)]
        assert with_texts >= 1  # the text fetch rode in a tick's single round trip
        assert any(s.query for s in sample.statements)


# --------------------------------------------------------------------------- hostile text


async def test_invalid_utf8_from_a_sql_ascii_database(lab: Lab) -> None:
    with scratch_database(lab, "pgtop_sql_ascii", sql_ascii=True) as db:
        assert lab.state is not None
        from pgtop.lab import SUPERUSER

        dsn = lab.primary.dsn(SUPERUSER, db, client_encoding="SQL_ASCII")
        with psycopg.connect(dsn, autocommit=True) as sleeper:
            pid = sleeper.info.backend_pid
            import threading

            def run() -> None:
                with contextlib.suppress(psycopg.Error):
                    sleeper.execute(b"SELECT pg_sleep(5) /* \xff\xfe */")

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            try:
                for monitor_db in ("app", db):
                    async with connected(lab.monitor_dsn(monitor_db)) as source:
                        sample = await poll_until(
                            source,
                            lambda s: any(
                                b.pid == pid and "pg_sleep" in b.query for b in s.activity
                            ),
                            what="the sleeping query",
                        )
                        backend = next(b for b in sample.activity if b.pid == pid)
                        assert "\ufffd" in backend.query
                        assert backend.query.startswith("SELECT pg_sleep(5) /* ")
            finally:
                with su(lab, "postgres") as conn:
                    conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
                thread.join(timeout=10)
            # pg_stat_statements now holds a text that is invalid UTF-8: a UTF-8 database's
            # pg_stat_statements(true) refuses to return any text. Texts go off; ticks go on.
            sleeper.execute(b"SELECT 42 /* \xff\xfe */")
        async with connected(lab.monitor_dsn()) as source:
            samples = [await source.poll() for _ in range(3)]
            assert all(s.error is None for s in samples)
            assert any("query texts switched off" in m for m in samples[-1].messages)
            assert samples[-1].statements


# --------------------------------------------------------------------------- privileges


async def test_role_without_pg_monitor(lab: Lab) -> None:
    with (
        scratch_role(lab, "pgtop_test_nomon") as dsn,
        idle_in_transaction(lab.app_dsn(), bound_s=60) as other,
    ):
        async with connected(dsn) as source:
            info = source.info
            assert info is not None
            assert not info.has_pg_monitor
            assert not info.has_read_all_stats
            sample = await source.poll()
            assert sample.error is None
            hidden = next(b for b in sample.activity if b.pid == other)
            assert hidden.query == "<insufficient privilege>"
            grant = 'GRANT pg_monitor TO "pgtop_test_nomon"'
            assert any(m.startswith("activity:") and grant in m for m in sample.messages)
            assert any(m.startswith("replication:") and grant in m for m in sample.messages)
            assert sample.stats is not None
            assert sample.statements_status is not None
            assert sample.statements_status.available
            assert sample.replication is not None
            for replica in sample.replication.replicas:
                assert replica.replay_lag_bytes is None


async def test_probe_without_privilege_is_switched_off_once(lab: Lab) -> None:
    with (
        scratch_database(lab, "pgtop_revoked", extension_version="1.8") as db,
        scratch_role(lab, "pgtop_test_revoked") as dsn,
    ):
        with su(lab, db) as conn:
            conn.execute("REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC")
        dsn = dsn.replace("dbname=app", f"dbname={db}")
        async with connected(dsn) as source:
            samples = [await source.poll() for _ in range(2)]
            for sample in samples:
                assert sample.error is None
                assert sample.activity
                statements = [m for m in sample.messages if m.startswith("statements:")]
                assert len(statements) == 1
                assert "GRANT EXECUTE ON FUNCTION" in statements[0]
                assert '"pgtop_test_revoked"' in statements[0]
                assert sample.statements_status is not None
                assert not sample.statements_status.available


async def test_role_level_settings_cannot_break_the_session(lab: Lab) -> None:
    hostile = {
        "statement_timeout": "1ms",
        "lock_timeout": "1ms",
        "default_transaction_read_only": "on",
    }
    with scratch_role(lab, "pgtop_test_hostile", role_settings=hostile) as dsn:
        async with connected(dsn) as source:
            assert source.info is not None
            assert source.info.settings["statement_timeout"] == "1ms"
            samples = [await source.poll() for _ in range(5)]
            # The role's 1 ms still bounds BEGIN and the SET LOCAL itself (both far below it);
            # a descheduled backend may overrun once, but the probes run under pgtop's timeout.
            ok = [s for s in samples if s.error is None and s.stats is not None]
            assert len(ok) >= 4
            assert all(
                s.error in (None, "poll timed out after 2000 ms (statement_timeout)")
                for s in samples
            )


# --------------------------------------------------------------------------- failing ticks


async def test_statement_timeout_tick_keeps_the_connection(lab: Lab) -> None:
    settings = ConnectionSettings(statement_timeout_ms=300, lock_timeout_ms=10_000)
    async with connected(lab.monitor_dsn(), settings=settings) as source:
        with su(lab) as conn:
            conn.execute("BEGIN")
            conn.execute("LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
            try:
                sample = await source.poll()
            finally:
                conn.execute("ROLLBACK")
        assert sample.connected
        assert sample.error == "poll timed out after 300 ms (statement_timeout)"
        assert sample.stats is None
        assert sample.activity == ()
        again = await source.poll()
        assert again.error is None
        assert again.stats is not None


async def test_lock_timeout_tick(lab: Lab) -> None:
    settings = ConnectionSettings(statement_timeout_ms=10_000, lock_timeout_ms=100)
    async with connected(lab.monitor_dsn(), settings=settings) as source:
        with su(lab) as conn:
            conn.execute("BEGIN")
            conn.execute("LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
            try:
                sample = await source.poll()
            finally:
                conn.execute("ROLLBACK")
        assert sample.connected
        assert sample.error == "poll waited too long for a lock (lock_timeout 100 ms)"
        assert (await source.poll()).error is None


async def test_terminated_session_raises_connection_lost_then_reconnects(lab: Lab) -> None:
    source = PostgresSource(lab.monitor_dsn())
    info = await source.connect()
    try:
        with su(lab) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (info.backend_pid,))
        await asyncio.sleep(0.3)
        with pytest.raises(ConnectionLostError) as caught:
            await source.poll()
        assert "\n" not in str(caught.value)
        again = await source.connect()
        assert again.backend_pid != info.backend_pid
        assert (await source.poll()).error is None
    finally:
        await source.close()


async def test_connect_failure_is_one_line_without_password(lab: Lab) -> None:
    from pgtop.lab import free_port

    dsn = f"host=127.0.0.1 port={free_port()} dbname=app user=x password=s3cretpassw0rd"
    source = PostgresSource(dsn)
    with pytest.raises(ConnectionLostError) as caught:
        await source.connect()
    message = str(caught.value)
    assert "\n" not in message
    assert "s3cretpassw0rd" not in message
    assert "connection refused" in message
    with pytest.raises(ConnectionLostError):
        await source.poll()


# --------------------------------------------------------------------------- index advice


async def test_index_advice_on_demand(lab: Lab) -> None:
    with psycopg.connect(lab.app_dsn(), autocommit=True) as app:
        app.execute("DROP TABLE IF EXISTS pgtop_advice")
        app.execute("CREATE TABLE pgtop_advice (id int, v int)")
        app.execute("CREATE INDEX pgtop_advice_v ON pgtop_advice (v)")
        app.execute("INSERT INTO pgtop_advice SELECT g, g FROM generate_series(1, 1000) g")
        try:
            with psycopg.connect(lab.app_dsn(), autocommit=True) as reader:
                for _ in range(3):
                    reader.execute("SELECT count(*) FROM pgtop_advice")
            source = PostgresSource(lab.monitor_dsn())
            deadline = time.monotonic() + 10
            while True:
                scans, unused = await source.index_advice()
                scan = next((t for t in scans if t.table == "pgtop_advice"), None)
                if scan is not None and scan.seq_tup_read >= 3000:
                    break
                assert time.monotonic() < deadline, "seq scans never showed"
                await asyncio.sleep(0.3)
            assert scan.schema == "public"
            assert scan.seq_scan >= 3
            assert any(u.index == "pgtop_advice_v" and u.size_bytes > 0 for u in unused)
            assert all(not u.index.endswith("_pkey") for u in unused)
        finally:
            app.execute("DROP TABLE pgtop_advice")
