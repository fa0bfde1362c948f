"""EXPLAIN and EXPLAIN ANALYZE on the lab's real primary and standby (collect/explain.py): what
is explained, from which text, and that every guard holds — the server refuses a second
statement, the read-only transaction a write, the timeouts a wait, DISCARD ALL what a rollback
leaves — with every failure one line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from pgtop.collect import explain as explain_module
from pgtop.collect.explain import EXPLAIN_SESSION_SUFFIX, PlanExplainer
from pgtop.config import ConnectionSettings
from pgtop.explaining import (
    BackendTarget,
    ExplainFailure,
    ExplainResult,
    Explanation,
    StatementTarget,
    TextSource,
)
from pgtop.lab import APP_DATABASE, APP_ROLE, SUPERUSER, Lab
from pgtop.plan import parse_plan
from tests.collect_fixtures import running, scratch_database, scratch_role, su, until

pytestmark = pytest.mark.lab

SETTINGS = ConnectionSettings(application_name="pgtop-explain-test")
EXPLAIN_APP = SETTINGS.application_name + EXPLAIN_SESSION_SUFFIX
TABLE = "pgtop_explain_t"
ROWS = 10


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def table(lab: Lab) -> Iterator[str]:
    """A small table of the app role's (so its sessions can read it), gone after the test."""
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)")
        conn.execute(f"INSERT INTO {TABLE} (id) SELECT generate_series(1, {ROWS})")
    try:
        yield TABLE
    finally:
        with su(lab) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name"
                " = %s",
                (EXPLAIN_APP,),
            )
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _servers(lab: Lab) -> dict[str, str]:
    assert lab.replica is not None
    return {
        "primary": lab.superuser_dsn(),
        "replica": lab.replica.dsn(SUPERUSER, APP_DATABASE),
    }


def _explain_sessions(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT pid, state, datname FROM pg_stat_activity WHERE application_name = %s",
        (EXPLAIN_APP,),
    ).fetchall()


def _assert_left_clean(lab: Lab) -> None:
    """Every explain session is idle (no transaction left open) and holds no lock at all."""
    for replica in (False, True):
        with su(lab, replica=replica) as conn:
            sessions = _explain_sessions(conn)
            assert all(state == "idle" for _, state, _ in sessions), sessions
            pids = [pid for pid, _, _ in sessions]
            locks = conn.execute(
                "SELECT locktype, mode, granted FROM pg_locks WHERE pid = ANY(%s)", (pids,)
            ).fetchall()
            assert locks == [], locks


@contextlib.asynccontextmanager
async def explainer(lab: Lab, **kwargs: Any) -> AsyncIterator[PlanExplainer]:
    explain = PlanExplainer(_servers(lab), settings=SETTINGS, **kwargs)
    try:
        yield explain
        _assert_left_clean(lab)
    finally:
        await explain.close()


def _plan(result: ExplainResult) -> Explanation:
    assert isinstance(result, Explanation), result
    return result


def _failure(result: ExplainResult) -> ExplainFailure:
    assert isinstance(result, ExplainFailure), result
    assert "\n" not in result.message
    return result


async def _started(lab: Lab, pid: int, *, replica: bool = False, active: bool = True) -> datetime:
    def seen() -> tuple[Any, ...] | None:
        with su(lab, replica=replica) as conn:
            row = conn.execute(
                "SELECT backend_start, state FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
        return row if row is not None and (row[1] == "active" or not active) else None

    row = await until(seen, f"pid {pid} to run its query")
    started: datetime = row[0]
    return started


def _count(lab: Lab, where: str = "true") -> int:
    with su(lab) as conn:
        row = conn.execute(f"SELECT count(*), sum(v) FROM {TABLE} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0]) * 1000 + int(row[1] or 0)  # rows and their values, in one figure


def _queryid(lab: Lab, text: str, user: str) -> int:
    """The queryid of the entry whose text starts with ``text`` (pgbench's own may have come
    first, with a trailing semicolon)."""
    with su(lab) as conn:
        row = conn.execute(
            "SELECT s.queryid FROM pg_stat_statements AS s JOIN pg_roles AS r ON r.oid = s.userid"
            " WHERE left(s.query, length(%s)) = %s AND r.rolname = %s",
            (text, text, user),
        ).fetchone()
    assert row is not None, f"{text!r} is not in pg_stat_statements"
    queryid: int = row[0]
    return queryid


@contextlib.contextmanager
def _pgbench_select_only(lab: Lab) -> Iterator[None]:
    """pgbench's select-only clients (simple protocol: texts with their values), rate-limited,
    for the block."""
    env = {**os.environ, "PGPASSFILE": lab.primary.passfile, "PGAPPNAME": "pgtop-explain-pgb"}
    args = [lab.install.tool("pgbench"), "-n", "-S", "-c", "2", "-T", "30", "-R", "40"]
    args += ["-h", lab.primary.host, "-p", str(lab.primary.port), "-U", APP_ROLE, APP_DATABASE]
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    try:
        yield
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# --------------------------------------------------------------------------- what is explained


async def test_a_running_query_by_pid(lab: Lab, table: str) -> None:
    query = f"SELECT count(*) FROM {table}, pg_sleep(30) /* pgtop explain running */"
    async with explainer(lab) as explain:
        with running(lab.app_dsn(), query) as pid:
            target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
            plan = _plan(await explain.explain(target))
    assert plan.server == "primary"
    assert plan.database == APP_DATABASE
    assert plan.source is TextSource.ACTIVITY
    assert plan.query == query
    assert (plan.analyzed, plan.generic, plan.parameters, plan.standby) == (False, False, 0, False)
    assert not plan.activity_truncated
    assert plan.track_activity_query_size == "4kB"  # the lab's setting, as the server shows it
    assert plan.notes == ()
    top = plan.plan[0]
    assert top["Plan"]["Node Type"] == "Aggregate"
    assert "Settings" in top  # SETTINGS, and BUFFERS' planning figures without ANALYZE
    assert "Planning" in top
    assert plan.text[0].startswith("Aggregate")
    assert any(table in line for line in plan.text)
    assert parse_plan(plan.plan).root.node_type == "Aggregate"  # what the plan view reads


async def test_a_pgbench_backend_by_pid(lab: Lab) -> None:
    """pgbench's select-only clients (simple protocol: texts with their values)."""
    with _pgbench_select_only(lab):

        def pgbench_backend() -> tuple[Any, ...] | None:
            with su(lab) as conn:
                return conn.execute(
                    "SELECT pid, backend_start FROM pg_stat_activity"
                    " WHERE application_name = 'pgtop-explain-pgb'"
                    " AND query LIKE 'SELECT abalance FROM pgbench_accounts%' LIMIT 1"
                ).fetchone()

        pid, started = await until(pgbench_backend, "a pgbench client's SELECT")
        async with explainer(lab) as explain:
            plan = _plan(await explain.explain(BackendTarget("primary", pid, started, "app")))
        assert plan.source is TextSource.ACTIVITY
        assert plan.query.startswith("SELECT abalance FROM pgbench_accounts WHERE aid = ")
        assert plan.plan[0]["Plan"]["Relation Name"] == "pgbench_accounts"
        assert not plan.generic
        # between two transactions the client is idle: its last query was explained
        assert plan.notes in ((), (f"pid {pid} is idle: its last query was explained",))


async def test_a_normalized_statement_gets_its_generic_plan(lab: Lab) -> None:
    """pgbench's SELECT as pg_stat_statements keeps it ($1 for the value): PREPARE, then
    EXPLAIN EXECUTE with NULLs under force_generic_plan, on every major. ANALYZE is refused."""
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        conn.execute("SELECT abalance FROM pgbench_accounts WHERE aid = 42")
    normalized = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
    queryid = _queryid(lab, normalized, APP_ROLE)
    target = StatementTarget("primary", queryid, APP_DATABASE, user=APP_ROLE)
    async with explainer(lab) as explain:
        plan = _plan(await explain.explain(target))
        refused = _failure(await explain.explain(target, analyze=True))
    assert plan.source is TextSource.STATEMENTS
    assert plan.query.startswith(normalized)
    assert (plan.generic, plan.parameters, plan.analyzed) == (True, 1, False)
    assert plan.plan[0]["Plan"]["Node Type"] == "Index Scan"
    assert "  Index Cond: (aid = $1)" in plan.text
    assert plan.notes[0].startswith("generic plan: the text has 1 parameter ($1 …)")
    assert refused.message.startswith("EXPLAIN ANALYZE needs values: the text has 1 parameter")
    assert "pg_stat_statements does not show" in refused.message
    assert not refused.cancelled


async def test_a_truncated_activity_text_is_completed_from_pg_stat_statements(
    lab: Lab, table: str
) -> None:
    """The lab's track_activity_query_size is 4kB: a longer text is cut in pg_stat_activity,
    and its full (normalized) text comes from pg_stat_statements by query_id — once a run of
    it has ended (pg_stat_statements hides an entry until then); once that entry is gone, the
    explain is refused with the reason."""
    query = f"SELECT count(*) FROM {table}, pg_sleep(%s) /* {'pgtop ' * 1000}*/"
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        conn.execute(query.replace("%s", "0"))  # a first, short run of the same statement
    query = query.replace("%s", "30")
    async with explainer(lab) as explain:
        with running(lab.app_dsn(), query) as pid:
            target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
            plan = _plan(await explain.explain(target))
            with su(lab) as conn:
                conn.execute(
                    "SELECT pg_stat_statements_reset(usesysid, datid, query_id)"
                    " FROM pg_stat_activity WHERE pid = %s",
                    (pid,),
                )
            gone = _failure(await explain.explain(target))
    assert plan.activity_truncated
    assert plan.track_activity_query_size == "4kB"
    assert plan.source is TextSource.STATEMENTS
    assert plan.notes[0] == (
        "activity text truncated at 4095 bytes (track_activity_query_size = 4kB); "
        "explained the full text from pg_stat_statements"
    )
    assert plan.query.startswith(f"SELECT count(*) FROM {table}, pg_sleep($1) /* pgtop")
    assert plan.query.endswith("*/")
    assert plan.generic  # pg_sleep($1): the constant is gone
    assert gone.message.startswith("activity text truncated at 4095 bytes")
    assert "is not in pg_stat_statements (it shows a statement once a run of it has ended" in (
        gone.message
    )


async def test_a_standby_row_is_explained_on_the_standby(lab: Lab, table: str) -> None:
    def replayed() -> bool:
        with su(lab, replica=True) as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        return bool(row and row[0])

    await until(replayed, "the table on the standby")
    assert lab.replica is not None
    query = f"SELECT count(*) FROM {table}, pg_sleep(30) /* pgtop explain standby */"
    async with explainer(lab) as explain:
        with running(lab.replica.dsn(SUPERUSER, APP_DATABASE), query) as pid:
            started = await _started(lab, pid, replica=True)
            plan = _plan(await explain.explain(BackendTarget("replica", pid, started, "app")))
            with su(lab, replica=True) as conn:
                assert [db for _, _, db in _explain_sessions(conn)] == [APP_DATABASE]
    assert plan.server == "replica"
    assert plan.standby
    assert plan.query == query
    assert plan.plan[0]["Plan"]["Node Type"] == "Aggregate"


# --------------------------------------------------------------------------- guards


async def test_several_statements_are_refused_by_the_server(lab: Lab, table: str) -> None:
    """The text reaches the server in one extended-protocol message: a second statement is
    refused there (never parsed by pgtop), plain and under ANALYZE, and the table is intact."""
    before = _count(lab)
    with psycopg.connect(lab.app_dsn(), autocommit=True) as backend:
        backend.execute("SET default_transaction_read_only = on")  # its own DELETE fails
        with contextlib.suppress(psycopg.errors.ReadOnlySqlTransaction):
            backend.execute(f"SELECT 1; DELETE FROM {table}")
        pid = backend.info.backend_pid
        started = await _started(lab, pid, active=False)
        async with explainer(lab) as explain:
            target = BackendTarget("primary", pid, started, APP_DATABASE)
            for analyze in (False, True):
                refused = _failure(await explain.explain(target, analyze=analyze))
                assert refused.sqlstate == "42601"
                assert "cannot insert multiple commands into a prepared statement" in (
                    refused.message
                )
    assert _count(lab) == before


async def test_analyze_of_an_update_is_refused_and_changes_nothing(lab: Lab, table: str) -> None:
    with psycopg.connect(lab.app_dsn(), autocommit=True) as backend:
        backend.execute(f"UPDATE {table} SET v = v + 1 WHERE id = 3")
        pid = backend.info.backend_pid
        started = await _started(lab, pid, active=False)
        before = _count(lab)
        async with explainer(lab) as explain:
            target = BackendTarget("primary", pid, started, APP_DATABASE)
            refused = _failure(await explain.explain(target, analyze=True))
            plain = _plan(await explain.explain(target))  # planning a write is harmless
    assert _count(lab) == before
    assert refused.sqlstate == "25006"
    assert refused.message == (
        "refused: cannot execute UPDATE in a read-only transaction (pgtop runs EXPLAIN "
        "ANALYZE read-only); to run it for real, in psql: BEGIN; EXPLAIN ANALYZE …; ROLLBACK;"
    )
    assert plain.plan[0]["Plan"]["Operation"] == "Update"
    assert plain.notes == (f"pid {pid} is idle: its last query was explained",)


async def test_read_only_refuses_analyze_and_allows_plain(lab: Lab, table: str) -> None:
    query = f"SELECT count(*) FROM {table}, pg_sleep(30) /* pgtop explain read-only */"
    async with explainer(lab, read_only=True) as explain:
        assert explain.read_only
        with running(lab.app_dsn(), query) as pid:
            target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
            refused = _failure(await explain.explain(target, analyze=True))
            with su(lab) as conn:
                assert _explain_sessions(conn) == [], "nothing was even connected"
            plan = _plan(await explain.explain(target))
    assert refused.message == (
        "EXPLAIN ANALYZE is off in read-only mode (--read-only): plain EXPLAIN only"
    )
    assert not plan.analyzed


async def test_analyze_stops_at_statement_timeout(lab: Lab) -> None:
    query = "SELECT pg_sleep(30) /* pgtop explain timeout */"
    async with explainer(lab, statement_timeout_ms=1000) as explain:
        with running(lab.app_dsn(), query) as pid:
            target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
            began = time.monotonic()
            stopped = _failure(await explain.explain(target, analyze=True))
            took = time.monotonic() - began
    assert stopped.message == "stopped by statement_timeout (1 s)"
    assert stopped.sqlstate == "57014"
    assert not stopped.cancelled
    assert took < 10, took


async def test_cancel_stops_a_long_analyze_on_the_server(lab: Lab) -> None:
    query = "SELECT pg_sleep(30) /* pgtop explain cancel */"
    async with explainer(lab) as explain:
        assert not await explain.cancel(), "nothing runs yet"
        with running(lab.app_dsn(), query) as pid:
            target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
            task = asyncio.create_task(explain.explain(target, analyze=True))

            def analyzing() -> bool:
                with su(lab) as conn:
                    rows = conn.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE application_name = %s"
                        " AND state = 'active' AND query LIKE 'EXPLAIN (ANALYZE%%pg_sleep(30)%%'",
                        (EXPLAIN_APP,),
                    ).fetchall()
                return bool(rows)

            await until(analyzing, "the explain session to run the query")
            began = time.monotonic()
            assert await explain.cancel()
            cancelled = _failure(await task)
            took = time.monotonic() - began
            with su(lab) as conn:
                states = [state for _, state, _ in _explain_sessions(conn)]
            assert states in ([], ["idle"]), "the server still runs the EXPLAIN"
            again = _plan(await explain.explain(target))  # the next one runs
    assert cancelled.message == "cancelled"
    assert cancelled.cancelled
    assert took < 10, took
    assert again.query == query


async def test_a_lock_wait_gives_up_at_lock_timeout_and_leaves_nothing_waiting(
    lab: Lab, table: str
) -> None:
    """A reader holds the table, an ALTER TABLE waits for AccessExclusiveLock behind it, and
    EXPLAIN of the reader's query would queue behind the ALTER: it gives up after lock_timeout."""
    reader_query = f"SELECT count(*) FROM {table}, pg_sleep(30) /* pgtop explain reader */"
    alter = f"ALTER TABLE {table} ADD COLUMN w int"
    async with explainer(lab, lock_timeout_ms=500) as explain:
        with running(lab.app_dsn(), reader_query) as reader:
            started = await _started(lab, reader)
            with running(lab.app_dsn(), alter) as altering:

                def waiting() -> bool:
                    with su(lab) as conn:
                        row = conn.execute(
                            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                            (altering,),
                        ).fetchone()
                    return row is not None and row[0] == "Lock"

                await until(waiting, "the ALTER TABLE to wait for its lock")
                target = BackendTarget("primary", reader, started, APP_DATABASE)
                began = time.monotonic()
                gave_up = _failure(await explain.explain(target))
                took = time.monotonic() - began
                with su(lab) as conn:
                    waits = conn.execute(
                        "SELECT a.application_name FROM pg_locks AS l"
                        " JOIN pg_stat_activity AS a USING (pid) WHERE NOT l.granted"
                    ).fetchall()
                assert (EXPLAIN_APP,) not in waits, "the explain session still waits"
    assert gave_up.sqlstate == "55P03"
    assert gave_up.message.startswith("gave up waiting for a lock after lock_timeout (500 ms)")
    assert took < 10, took


async def test_a_table_held_by_an_alter_gives_up_at_lock_timeout(lab: Lab, table: str) -> None:
    """An ALTER TABLE holds AccessExclusiveLock in an open transaction: planning the query of a
    backend that reads the table would wait for it; it gives up after lock_timeout."""
    with psycopg.connect(lab.app_dsn(), autocommit=True) as backend:
        backend.execute(f"SELECT count(*) FROM {table} WHERE v >= 0")
        pid = backend.info.backend_pid
        target = BackendTarget("primary", pid, await _started(lab, pid, active=False), "app")
        with psycopg.connect(lab.app_dsn()) as holder:  # a transaction, left open
            holder.execute(f"ALTER TABLE {table} ADD COLUMN w int")
            async with explainer(lab, lock_timeout_ms=300) as explain:
                gave_up = _failure(await explain.explain(target))
            holder.rollback()
    assert gave_up.sqlstate == "55P03"
    assert gave_up.message.startswith("gave up waiting for a lock after lock_timeout (300 ms)")


async def test_an_advisory_lock_taken_under_analyze_is_released(lab: Lab, table: str) -> None:
    """A session-level advisory lock survives ROLLBACK; DISCARD ALL after the run drops it."""
    query = f"SELECT pg_advisory_lock(max(id)) FROM {table}"  # no constant: kept as written
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        conn.execute(query)
        conn.execute("SELECT pg_advisory_unlock_all()")  # or the explain would wait for it
    queryid = _queryid(lab, query, APP_ROLE)
    async with explainer(lab) as explain:
        target = StatementTarget("primary", queryid, APP_DATABASE, user=APP_ROLE)
        plan = _plan(await explain.explain(target, analyze=True))
    # the explainer's exit checked that its sessions hold no lock at all
    assert plan.analyzed
    assert not plan.generic
    assert plan.text == ()  # ANALYZE runs the query once: JSON only
    top = plan.plan[0]
    assert "Execution Time" in top
    assert top["Plan"]["Actual Rows"] == 1  # pg_advisory_lock() ran
    assert "WAL Records" in top["Plan"]  # WAL and BUFFERS under ANALYZE
    assert "Shared Hit Blocks" in top["Plan"]


# --------------------------------------------------------------------------- refusals


async def test_a_role_that_may_not_read_the_table_is_told_which_privilege_it_lacks(
    lab: Lab, table: str
) -> None:
    """A monitoring role set up as the README's minimum (it sees every query, reads no table)
    is told which grant EXPLAIN needs."""
    query = f"SELECT count(*) FROM {table}, pg_sleep(30) /* pgtop explain privilege */"
    with scratch_role(lab, "pgtop_test_noread") as dsn:
        with psycopg.connect(lab.superuser_dsn(), autocommit=True) as admin:
            admin.execute('GRANT pg_read_all_stats TO "pgtop_test_noread"')
        explain = PlanExplainer({"primary": dsn}, settings=SETTINGS)
        try:
            with running(lab.app_dsn(), query) as pid:
                target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
                refused = _failure(await explain.explain(target))
        finally:
            await explain.close()
    assert refused.sqlstate == "42501"
    assert refused.message.startswith(f"not allowed: permission denied for table {table}: ")
    assert 'GRANT SELECT ON it TO "pgtop_test_noread"' in refused.message
    assert 'GRANT pg_read_all_data TO "pgtop_test_noread"' in refused.message


async def test_a_role_that_cannot_read_others_queries_is_told(lab: Lab, table: str) -> None:
    """Without pg_read_all_stats, neither the activity text nor the pg_stat_statements text of
    another role can be read: the grant is named."""
    query = f"SELECT count(*) FROM {table}, pg_sleep(30) /* pgtop explain stats */"
    with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
        conn.execute("SELECT abalance FROM pgbench_accounts WHERE aid = 7")
    queryid = _queryid(lab, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", APP_ROLE)
    with scratch_role(lab, "pgtop_test_nostats") as dsn:
        explain = PlanExplainer({"primary": dsn}, settings=SETTINGS)
        try:
            with running(lab.app_dsn(), query) as pid:
                target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
                activity = _failure(await explain.explain(target))
            statement = StatementTarget("primary", queryid, APP_DATABASE, user=APP_ROLE)
            text = _failure(await explain.explain(statement))
        finally:
            await explain.close()
    grant = (
        "needs pg_read_all_stats to read other roles' queries: "
        'GRANT pg_read_all_stats TO "pgtop_test_nostats"'
    )
    assert activity.message == f"cannot read the query of pid {pid}: {grant}"
    assert text.message == (
        f'queryid {queryid} is not among the pg_stat_statements entries "pgtop_test_nostats" '
        f"may read ({grant})"
    )


async def test_no_usable_text_says_why(lab: Lab, table: str) -> None:
    async with explainer(lab) as explain:
        with psycopg.connect(lab.app_dsn(), autocommit=True) as fresh:
            pid = fresh.info.backend_pid
            started = await _started(lab, pid, active=False)
            target = BackendTarget("primary", pid, started, APP_DATABASE)
            empty = _failure(await explain.explain(target))
            fresh.execute("SHOW work_mem")
            utility = _failure(await explain.explain(target))
            other = BackendTarget("primary", pid, started.replace(year=2000), APP_DATABASE)
            reused = _failure(await explain.explain(other))

        def exited() -> bool:
            with su(lab) as conn:
                return (
                    conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
                    is None
                )

        await until(exited, "the backend to exit")
        gone = _failure(await explain.explain(target))
        nodb = _failure(await explain.explain(BackendTarget("primary", pid, None, None)))
        unknown = _failure(await explain.explain(BackendTarget("elsewhere", pid, None, "app")))
        with scratch_database(lab, "pgtop_explain_nopss") as db:
            missing = _failure(await explain.explain(StatementTarget("primary", 1, db)))
            await explain.close()  # its session goes before the database does
        absent = _failure(await explain.explain(StatementTarget("primary", 1, APP_DATABASE)))
    assert empty.message == f"pid {pid} (idle) has no query to explain"
    assert utility.sqlstate == "42601"
    assert utility.message.startswith('cannot be explained: syntax error at or near "SHOW"')
    assert reused.message.startswith(f"pid {pid} is another backend now")
    assert gone.message == f"pid {pid} has exited: nothing to explain"
    assert nodb.message == f"pid {pid} has no database: nothing to explain there"
    assert unknown.message == "no explain session is set up for elsewhere"
    assert missing.message == (
        'pg_stat_statements is not installed in "pgtop_explain_nopss": '
        "no statement text to explain there"
    )
    assert absent.message == (
        'queryid 1 is not in pg_stat_statements for "app" any more (evicted or reset)'
    )


async def test_a_lost_session_is_reopened(lab: Lab, table: str) -> None:
    query = f"SELECT count(*) FROM {table}, pg_sleep(30) /* pgtop explain reopen */"
    async with explainer(lab) as explain:
        with running(lab.app_dsn(), query) as pid:
            target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
            _plan(await explain.explain(target))
            with su(lab) as conn:
                (first,) = [p for p, _, _ in _explain_sessions(conn)]
                conn.execute("SELECT pg_terminate_backend(%s, 5000)", (first,))
            again = _plan(await explain.explain(target))
            with su(lab) as conn:
                (second,) = [p for p, _, _ in _explain_sessions(conn)]
    assert second != first
    assert again.query == query


async def test_one_session_per_server_and_database_the_least_recent_closed(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explain_module, "MAX_SESSIONS", 1)

    def databases() -> list[str]:
        with su(lab) as conn:
            return sorted(db for _, _, db in _explain_sessions(conn))

    async with explainer(lab) as explain:
        for _ in range(2):  # the same database twice: one session
            _failure(await explain.explain(StatementTarget("primary", 1, "postgres")))
        assert databases() == ["postgres"]
        _failure(await explain.explain(StatementTarget("primary", 1, APP_DATABASE)))
        await until(lambda: databases() == [APP_DATABASE], "the older session to close")


async def test_secrets_are_redacted_in_the_text_and_the_plan(lab: Lab, table: str) -> None:
    query = (
        f"SELECT count(*) FROM {table}, pg_sleep(30)"
        f" WHERE v::text <> 'host=db password=hunter2' /* pgtop explain redact */"
    )
    async with explainer(lab) as explain:
        with running(lab.app_dsn(), query) as pid:
            target = BackendTarget("primary", pid, await _started(lab, pid), APP_DATABASE)
            plan = _plan(await explain.explain(target))
    assert "hunter2" not in plan.query
    assert "password=•••" in plan.query
    assert not [line for line in plan.text if "hunter2" in line]
    assert any("password=•••" in line for line in plan.text)  # the Filter quotes the literal
    assert "hunter2" not in json.dumps(plan.plan)
