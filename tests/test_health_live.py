"""Health statuses raised by real conditions on the lab, and cleared when the condition goes.

Each test stages an incident of the operations playbook on the real servers, polls with the real
collector (as the pg_monitor role) once a refresh, judges every sample with health.evaluate and
a HealthMemory as the sampler does, and checks the status is flagged within two refreshes of the
incident being there, with its culprit; then it removes the incident and checks the status
returns to OK. Thresholds are small so that an age crosses them within a test's patience.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
from psycopg import sql

from pgtop.collect.postgres import PostgresSource
from pgtop.config import Threshold, Thresholds
from pgtop.health import HealthMemory, evaluate
from pgtop.lab import Lab, PgInstall
from pgtop.model import Level, Sample, Status
from pgtop.workload import _Statement, blocking_chain, idle_in_transaction
from tests.collect_fixtures import connected, failing_archiver, inactive_slot, poll_until, su

# Small thresholds so the conditions cross them within a test's patience.
THRESHOLDS = dataclasses.replace(
    Thresholds(),
    idle_in_xact_s=Threshold(1, 3600),
    longest_xact_s=Threshold(1, 3600),
    lock_wait_s=Threshold(1, 3600),
    slot_retained_wal_bytes=Threshold(8 << 20, 16 << 20),
    # a refresh must hold enough calls of a statement seq-scanning 100,000 rows on a loaded
    # 2-core machine (40 ms a call seen): 5, not 20
    regression_min_calls=5,
)
REFRESH_S = 1.0
"""pgtop's refresh in these tests: one poll a second."""


def status(sample: Sample, metric: str) -> Status | None:
    return next((s for s in evaluate(sample, [], THRESHOLDS) if s.metric == metric), None)


def level(sample: Sample, metric: str) -> Level:
    found = status(sample, metric)
    return found.level if found is not None else Level.OK


class Judge:
    """The sampler's view of one source: a poll a refresh, each sample judged with the
    session's memory (statement regressions need what came before)."""

    def __init__(self, source: PostgresSource, thresholds: Thresholds = THRESHOLDS) -> None:
        self.source = source
        self.thresholds = thresholds
        self.memory = HealthMemory()
        self.last: dict[str, Status] = {}

    async def tick(self) -> dict[str, Status]:
        sample = await self.source.poll()
        assert sample.error is None, sample.error
        self.last = {s.metric: s for s in evaluate(sample, [], self.thresholds, self.memory)}
        return self.last

    async def within(
        self, refreshes: int, holds: Callable[[dict[str, Status]], bool], what: str
    ) -> dict[str, Status]:
        """The statuses of the first of the next ``refreshes`` polls where ``holds``."""
        for i in range(refreshes):
            if i:
                await asyncio.sleep(REFRESH_S)
            statuses = await self.tick()
            if holds(statuses):
                return statuses
        raise AssertionError(f"{what}: not within {refreshes} refreshes; last {self.last}")

    async def flagged(self, metric: str, at_least: Level = Level.WARN) -> Status:
        """The status once it is flagged, which it must be within two refreshes."""
        statuses = await self.within(
            2, lambda s: metric in s and s[metric].level >= at_least, f"{metric} flagged"
        )
        return statuses[metric]

    async def cleared(self, metric: str, refreshes: int = 20) -> None:
        """The metric back to OK (or gone), within ``refreshes``."""
        await self.within(
            refreshes,
            lambda s: metric not in s or s[metric].level is Level.OK,
            f"{metric} cleared",
        )


def alarm_named(found: Status, culprit: str) -> None:
    """A WARN/CRIT status names its culprit short (the bar) and in its message."""
    assert found.level >= Level.WARN, found
    assert found.culprit == culprit, found
    name = culprit.split(" ×")[0]
    assert name in found.message.replace('"', "").replace(", ", " "), found


def wait_for(conn: psycopg.Connection[tuple], query: str, params: tuple[object, ...],  # type: ignore[type-arg]
             what: str, timeout_s: float = 20.0) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while not conn.execute(query, params).fetchone()[0]:  # type: ignore[index]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Running(_Statement):
    """One statement running on its own session until it ends or is cancelled."""

    def stop(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.cancel_safe(timeout=5)
        self.join(timeout=15)
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()
        self.conn.close()


def session(dsn: str, app: str, *, autocommit: bool = True) -> psycopg.Connection[tuple]:  # type: ignore[type-arg]
    """A session bounded server-side (it ends by itself if the test dies)."""
    return psycopg.connect(
        dsn,
        application_name=app,
        autocommit=autocommit,
        options="-c statement_timeout=60000 -c idle_in_transaction_session_timeout=60000",
    )


# --------------------------------------------------------------------------- lock waits


async def test_blocking_chain_with_a_queued_alter_table_names_the_root_blocker(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        judge = Judge(source)
        with su(lab) as admin, blocking_chain(lab.app_dsn(), bound_s=60) as chain:
            migration = session(lab.app_dsn(), "lab-migration", autocommit=False)
            alter = Running(migration, "ALTER TABLE lab_lock ADD COLUMN pgtop_probe int")
            alter.start()
            try:
                wait_for(
                    admin,
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
                    " AND wait_event_type = 'Lock'",
                    (migration.info.backend_pid,),
                    "the ALTER TABLE queued",
                )
                await asyncio.sleep(THRESHOLDS.lock_wait_s.warn)  # the waits reach 1 s
                found = await judge.flagged("lock_waits")
                alarm_named(found, f"pid {chain.holder} lab-blocker")
                assert f'root blocker pid {chain.holder} "lab-blocker"' in found.message
                assert found.message.endswith("blocks 3")  # two updates and the migration
                assert found.label.startswith("locks 3 ")
            finally:
                alter.stop()
        await judge.cleared("lock_waits")


# --------------------------------------------------------------------------- slots


async def test_inactive_slot_retaining_wal_warns_then_crits_and_clears(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        judge = Judge(source)
        with su(lab) as conn, inactive_slot(conn, "pgtop_health_slot"):
            found = await judge.flagged("slot_retention")
            alarm_named(found, "pgtop_health_slot")
            # more WAL than the crit level (16 MiB here): a segment switch and a few writes
            conn.execute("INSERT INTO pgtop_wal_filler SELECT generate_series(1, 20000)")
            conn.execute("SELECT pg_switch_wal()")
            conn.execute("INSERT INTO pgtop_wal_filler SELECT generate_series(1, 20000)")
            conn.execute("SELECT pg_switch_wal()")
            found = await judge.flagged("slot_retention", Level.CRIT)
            alarm_named(found, "pgtop_health_slot")
            assert "inactive, retaining" in found.message
            assert "of WAL ≥ crit 16 MiB" in found.message
        await judge.cleared("slot_retention")


# --------------------------------------------------------------------------- regressions


class Lookups(threading.Thread):
    """A steady lookup workload: one session asking for a row by an indexed key, in a loop."""

    def __init__(self, dsn: str, table: str) -> None:
        super().__init__(daemon=True)
        self.conn = session(dsn, "lab-lookups")
        self.query = sql.SQL("SELECT * FROM {} WHERE k = %s").format(sql.SQL(table))
        self.done = threading.Event()
        self.calls = 0

    def run(self) -> None:
        rng = random.Random(0)
        with contextlib.suppress(psycopg.Error):
            while not self.done.is_set():
                self.conn.execute(self.query, (rng.randrange(100_000),)).fetchall()
                self.calls += 1

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=30)
        self.conn.close()


@contextlib.contextmanager
def lookup_table(lab: Lab, name: str) -> Iterator[Callable[[bool], None]]:
    """A 100,000-row table with an index on k, and a switch that drops or builds it again.
    ``name`` is a plain lower-case name (unquoted in the statement's text)."""
    ident = sql.Identifier(name)
    index = sql.Identifier(f"{name}_k")
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} AS SELECT g AS id, g AS k, repeat('x', 40) AS pad"
                " FROM generate_series(1, 100000) AS g"
            ).format(ident)
        )
        conn.execute(sql.SQL("CREATE INDEX {} ON {} (k)").format(index, ident))
        conn.execute(sql.SQL("ANALYZE {}").format(ident))

        def indexed(yes: bool) -> None:
            if yes:
                conn.execute(sql.SQL("CREATE INDEX {} ON {} (k)").format(index, ident))
                conn.execute(sql.SQL("ANALYZE {}").format(ident))
            else:
                conn.execute(sql.SQL("DROP INDEX {}").format(index))

        try:
            yield indexed
        finally:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))


def calls_reach(lookups: Lookups, n: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    start = lookups.calls
    while lookups.calls - start < n:
        assert lookups.is_alive(), "the lookups stopped"
        assert time.monotonic() < deadline, f"fewer than {n} lookups in {timeout_s:g} s"
        time.sleep(0.05)


async def test_index_dropped_with_pgtop_running_names_the_statement(lab: Lab) -> None:
    with lookup_table(lab, "pgtop_rb") as indexed:
        lookups = Lookups(lab.app_dsn(), "pgtop_rb")
        lookups.start()
        try:
            async with connected(lab.monitor_dsn()) as source:
                judge = Judge(source)
                for _ in range(3):  # pgtop watches the fast lookups
                    statuses = await judge.tick()
                    assert statuses["statement_regression"].level is Level.OK
                    await asyncio.sleep(REFRESH_S)
                indexed(False)
                calls_reach(lookups, 20)  # slow ones: the incident is there
                found = await judge.flagged("statement_regression")
                alarm_named(found, "SELECT * FROM pgtop_rb WHERE k = $1")
                assert found.level is Level.CRIT, found  # exact: the counted mean was fast
                assert "the mean of its" in found.message
                indexed(True)
                await judge.cleared("statement_regression")
        finally:
            lookups.stop()


async def test_index_dropped_before_pgtop_started_names_the_statement(lab: Lab) -> None:
    with lookup_table(lab, "pgtop_ra") as indexed:
        lookups = Lookups(lab.app_dsn(), "pgtop_ra")
        lookups.start()
        try:
            calls_reach(lookups, 500)  # fast
            indexed(False)
            calls_reach(lookups, 200)  # slow, before pgtop starts
            async with connected(lab.monitor_dsn()) as source:
                judge = Judge(source)
                first = await judge.tick()  # the counters already mix fast and slow calls
                assert first["statement_regression"].level is Level.OK  # nothing before yet
                await asyncio.sleep(REFRESH_S)
                found = await judge.flagged("statement_regression")
                alarm_named(found, "SELECT * FROM pgtop_ra WHERE k = $1")
                indexed(True)
                await judge.cleared("statement_regression")
        finally:
            lookups.stop()


# --------------------------------------------------------------------------- progress


SLOW_KEY = """
CREATE OR REPLACE FUNCTION pgtop_slow_key(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.001);
    RETURN $1;
END $$
"""


async def test_create_index_concurrently_shows_phase_and_progress(lab: Lab) -> None:
    """An index build slowed down by its expression (a millisecond a row): its phase and %
    shown as an info status naming the table, gone once it is cancelled."""
    async with connected(lab.monitor_dsn()) as source:
        judge = Judge(source)
        with su(lab) as admin:
            admin.execute("DROP TABLE IF EXISTS pgtop_cic")
            admin.execute("CREATE TABLE pgtop_cic AS SELECT g AS k FROM generate_series(1, 5000) g")
            admin.execute(SLOW_KEY)
            builder = Running(
                session(lab.superuser_dsn(), "lab-index-build"),
                "CREATE INDEX CONCURRENTLY pgtop_cic_slow ON pgtop_cic (pgtop_slow_key(k))",
            )
            builder.start()
            try:
                wait_for(
                    admin,
                    "SELECT count(*) FROM pg_stat_progress_create_index"
                    " WHERE pid = %s AND phase LIKE 'building index%%' AND blocks_done > 0",
                    (builder.conn.info.backend_pid,),
                    "the index build scanning the table",
                )
                found = await judge.flagged("progress", Level.OK)
                assert found.level is Level.OK  # information, not an alarm
                assert found.label.startswith("idx ")
                assert found.label.endswith("%")
                assert found.culprit == "pgtop_cic"
                assert found.message.startswith(
                    "CREATE INDEX CONCURRENTLY on pgtop_cic: building index"
                )
                assert f"(pid {builder.conn.info.backend_pid}, database app)" in found.message
            finally:
                builder.stop()
            await judge.within(20, lambda s: "progress" not in s, "progress gone")
            admin.execute("DROP TABLE pgtop_cic")
            admin.execute("DROP FUNCTION pgtop_slow_key(int)")


# --------------------------------------------------------------------------- transactions


async def test_repeatable_read_transaction_left_idle_names_its_pid(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        judge = Judge(source)
        with session(lab.app_dsn(), "lab-report") as report:
            report.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            report.execute("SELECT count(*) FROM pgbench_accounts")  # the snapshot is taken
            await asyncio.sleep(THRESHOLDS.idle_in_xact_s.warn)
            pid = report.info.backend_pid
            found = await judge.flagged("idle_in_xact")
            alarm_named(found, f"pid {pid} lab-report")
            xact = judge.last["longest_xact"]
            alarm_named(xact, f"pid {pid} lab-report")
            report.execute("ROLLBACK")
            await judge.cleared("idle_in_xact")


async def test_idle_in_transaction_raises_and_clears(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with idle_in_transaction(lab.app_dsn(), bound_s=60) as pid:
            sample = await poll_until(
                source, lambda s: level(s, "idle_in_xact") >= Level.WARN, what="idle_in_xact"
            )
            raised = status(sample, "idle_in_xact")
            assert raised is not None
            assert str(pid) in raised.message
            assert raised.culprit == f"pid {pid} lab-idle-in-xact"
            assert "warn" in raised.message
        await poll_until(
            source, lambda s: level(s, "idle_in_xact") == Level.OK, what="idle_in_xact cleared"
        )


# --------------------------------------------------------------------------- connections


async def test_connections_held_by_one_application_name_it(pg_install: PgInstall) -> None:
    """90 % of max_connections held idle in transaction by one application, on a scratch
    server with room for 20 sessions (the lab's 300 would cost a process each)."""
    settings = {"max_connections": "20", "superuser_reserved_connections": "0"}
    if pg_install.major >= 16:
        settings["reserved_connections"] = "0"
    with Lab(pg_install, replica=False, pgbouncer=False, settings=settings) as scratch:
        async with connected(scratch.monitor_dsn()) as source:  # one of the 20
            judge = Judge(source)
            leaked: list[psycopg.Connection[tuple]] = []  # type: ignore[type-arg]
            try:
                for _ in range(17):  # 17 + pgtop = 18 of 20
                    conn = session(scratch.app_dsn(), "lab-leaky-app", autocommit=False)
                    conn.execute("SELECT 1")  # idle in transaction from here
                    leaked.append(conn)
                found = await judge.flagged("connections", Level.CRIT)
                alarm_named(found, "lab-leaky-app ×17")
                assert found.message.startswith("connections 18/20 (90%) ≥ crit 85%")
                assert (
                    'application "lab-leaky-app" holds the most: 17 (17 idle in transaction)'
                    in (found.message)
                )
            finally:
                for conn in leaked:
                    conn.close()
            await judge.cleared("connections")


# --------------------------------------------------------------------------- archiving, replicas


async def test_failing_archiver_raises_and_clears(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with su(lab) as conn, failing_archiver(conn):
            sample = await poll_until(
                source,
                lambda s: level(s, "archiver") == Level.CRIT,
                what="archiver failing",
                timeout_s=30,
            )
            raised = status(sample, "archiver")
            assert raised is not None
            assert "fail" in raised.message
            assert raised.culprit == "archive_command"
        await poll_until(
            source,
            lambda s: level(s, "archiver") == Level.OK,
            what="archiver recovered",
            timeout_s=90,
            every_s=0.5,
        )


async def test_paused_replay_raises_replication_lag_and_clears(lab: Lab) -> None:
    async with connected(lab.replica_dsn(), name="replica") as standby:
        with su(lab, "postgres", replica=True) as replica_su, su(lab) as writer:
            replica_su.execute("SELECT pg_wal_replay_pause()")
            try:
                writer.execute("CREATE TEMP TABLE IF NOT EXISTS t_lag (v int)")

                def lagging(sample: Sample) -> bool:
                    writer.execute("INSERT INTO t_lag SELECT generate_series(1, 100)")
                    return level(sample, "replication_lag") >= Level.WARN

                sample = await poll_until(
                    standby, lagging, what="replication_lag", timeout_s=30, every_s=0.3
                )
                raised = status(sample, "replication_lag")
                assert raised is not None
                assert "lag" in raised.message
                assert raised.culprit == "replay paused"
                assert "replay paused" in raised.message
            finally:
                replica_su.execute("SELECT pg_wal_replay_resume()")
        await poll_until(
            standby,
            lambda s: level(s, "replication_lag") == Level.OK,
            what="replication lag cleared",
            timeout_s=30,
        )
