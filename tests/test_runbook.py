"""Resume replay and drop a slot, on the lab's real primary and replica: what the server does,
and what the user is told when it cannot (no privilege, nothing to do, a slot in use)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgtop.collect.batch import Query, run_batch
from pgtop.collect.probes import compose, resolve
from pgtop.collect.runbook import RunbookActions
from pgtop.collect.signals import ACTION_SESSION_SUFFIX
from pgtop.config import ConnectionSettings
from pgtop.lab import MONITOR_ROLE, REPLICATION_SLOT, SUPERUSER, Lab
from tests.collect_fixtures import scratch_role, su

pytestmark = pytest.mark.lab

SLOT = "pgtop_test_slot"
DEADLINE_S = 30.0  # generous: the machine may be loaded


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _one(conn: psycopg.Connection[tuple], query: str, *args: object) -> object:  # type: ignore[type-arg]
    row = conn.execute(query, args or None).fetchone()
    assert row is not None
    return row[0]


def _replica_superuser(lab: Lab) -> str:
    assert lab.replica is not None
    return lab.replica.dsn(SUPERUSER, "app")


def _on_replica(lab: Lab, dsn: str) -> str:
    """The same role and database as ``dsn``, on the replica."""
    assert lab.replica is not None
    params = conninfo_to_dict(dsn)
    params.update(host=lab.replica.host, port=str(lab.replica.port))
    return make_conninfo("", **params)


def _paused(replica: psycopg.Connection[tuple]) -> bool:  # type: ignore[type-arg]
    return _one(replica, "SELECT pg_get_wal_replay_pause_state()") == "paused"


@contextlib.contextmanager
def _replay_paused(lab: Lab) -> Iterator[psycopg.Connection[tuple]]:  # type: ignore[type-arg]
    """The replica's replay paused for the block (a superuser session on it); never left
    paused afterwards."""
    with su(lab, replica=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            _wait_for(lambda: _paused(replica), "replay to pause")
            yield replica
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")
            _wait_for(
                lambda: _one(replica, "SELECT pg_is_wal_replay_paused()") is False,
                "replay to run again",
            )


def _write_wal(primary: psycopg.Connection[tuple]) -> str:  # type: ignore[type-arg]
    """Some WAL on the primary; the primary's WAL position after it."""
    primary.execute("CREATE TABLE IF NOT EXISTS pgtop_runbook_filler (v int)")
    primary.execute("INSERT INTO pgtop_runbook_filler SELECT generate_series(1, 20000)")
    return str(_one(primary, "SELECT pg_current_wal_lsn()::text"))


def _reached(
    replica: psycopg.Connection[tuple],  # type: ignore[type-arg]
    column: str,
    lsn: str,
) -> bool:
    return bool(_one(replica, f"SELECT {column}() >= %s::pg_lsn", lsn))


_RESUME = "pg_catalog.pg_wal_replay_resume()"


@contextlib.contextmanager
def _may_resume(primary: psycopg.Connection[tuple], role: str) -> Iterator[None]:  # type: ignore[type-arg]
    """EXECUTE on pg_wal_replay_resume() for ``role`` in the app database, for the block (a
    role holding a grant could not be dropped)."""
    primary.execute(f'GRANT EXECUTE ON FUNCTION {_RESUME} TO "{role}"')
    try:
        yield
    finally:
        primary.execute(f'REVOKE EXECUTE ON FUNCTION {_RESUME} FROM "{role}"')


async def test_resume_replay_brings_the_lag_down(lab: Lab) -> None:
    """Replay paused, WAL written on the primary: the replica receives it and falls behind.
    Roles without EXECUTE on pg_wal_replay_resume() are refused with the grant and replay
    stays paused; a role with just that grant resumes, and replay reaches the primary's
    position."""
    with (
        su(lab) as primary,
        scratch_role(lab, "pgtop_test_noresume") as plain,
        scratch_role(lab, "pgtop_test_resume") as granted,
        _may_resume(primary, "pgtop_test_resume"),
    ):
        servers = {
            "replica": _on_replica(lab, granted),
            "plain": _on_replica(lab, plain),
            "monitor": lab.replica_dsn(),
            "primary": lab.superuser_dsn(),
        }
        setup = str(_one(primary, "SELECT pg_current_wal_lsn()::text"))
        with su(lab, replica=True) as replica:  # the roles and the grant are replayed
            _wait_for(lambda: _reached(replica, "pg_last_wal_replay_lsn", setup), "setup replay")
        actions = RunbookActions(servers, settings=ConnectionSettings())
        try:
            with _replay_paused(lab) as replica:
                target = _write_wal(primary)
                _wait_for(lambda: _reached(replica, "pg_last_wal_receive_lsn", target), "receipt")
                assert not _reached(replica, "pg_last_wal_replay_lsn", target), "not replayed"
                behind = _one(
                    replica,
                    "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
                    "::bigint",
                )
                assert isinstance(behind, int)
                assert behind > 0, "the replica fell behind"

                for server, role in (("plain", "pgtop_test_noresume"), ("monitor", MONITOR_ROLE)):
                    outcome = await actions.resume_replay(server)
                    assert not outcome.ok
                    assert outcome.message == (
                        f"{server}: not allowed to resume replay: needs EXECUTE on "
                        f"pg_wal_replay_resume() (superuser only by default), granted in "
                        f'database "app": GRANT EXECUTE ON FUNCTION {_RESUME} TO "{role}"'
                    )
                    assert _paused(replica), "a refused resume changed nothing"

                outcome = await actions.resume_replay("replica")
                assert outcome.ok, outcome.message
                assert re.fullmatch(
                    r"replay resumed on replica \(it was paused; replay lag was [\d.]+ s, "
                    r"[\d.]+ (B|KiB|MiB) received not yet replayed\)",
                    outcome.message,
                ), outcome.message
                _wait_for(lambda: _reached(replica, "pg_last_wal_replay_lsn", target), "replay")
                assert not _paused(replica)

            again = await actions.resume_replay("replica")
            assert not again.ok
            assert again.message == "replay on replica is not paused: nothing to resume"
            on_primary = await actions.resume_replay("primary")
            assert not on_primary.ok
            assert on_primary.message == (
                "primary is not in recovery (not a standby): no replay to resume"
            )
        finally:
            await actions.close()
            primary.execute("DROP TABLE IF EXISTS pgtop_runbook_filler")


@pytest.mark.parametrize("version", [130000, 140000])
async def test_each_variant_resumes_a_paused_replay(lab: Lab, version: int) -> None:
    """PostgreSQL 13's statement (pg_is_wal_replay_paused) and 14's, run on this server."""
    probe = resolve("resume_replay", version)
    assert probe is not None
    with _replay_paused(lab) as replica:
        conn = await psycopg.AsyncConnection.connect(_replica_superuser(lab), autocommit=True)
        try:
            (rows,) = await run_batch(
                conn, [Query(compose(probe))], statement_timeout_ms=5000, lock_timeout_ms=1000
            )
            assert rows[0]["pause_state"] == "paused"
            assert rows[0]["resumed"] is True
            _wait_for(lambda: not _paused(replica), "replay to resume")
            (rows,) = await run_batch(
                conn, [Query(compose(probe))], statement_timeout_ms=5000, lock_timeout_ms=1000
            )
            assert rows[0]["pause_state"] == "not paused"
            assert rows[0]["resumed"] is None
        finally:
            await conn.close()


def _slots(conn: psycopg.Connection[tuple]) -> dict[str, tuple[bool, int | None]]:  # type: ignore[type-arg]
    rows = conn.execute("SELECT slot_name, active, active_pid FROM pg_replication_slots")
    return {name: (active, pid) for name, active, pid in rows}


@contextlib.contextmanager
def _inactive_slot(primary: psycopg.Connection[tuple]) -> Iterator[str]:  # type: ignore[type-arg]
    """An inactive physical slot reserving WAL, with a segment switch and writes after it; gone
    afterwards, whether the test dropped it or not."""
    primary.execute("SELECT pg_create_physical_replication_slot(%s, true)", (SLOT,))
    try:
        primary.execute("CREATE TABLE IF NOT EXISTS pgtop_runbook_filler (v int)")
        primary.execute("SELECT pg_switch_wal()")
        primary.execute("INSERT INTO pgtop_runbook_filler SELECT generate_series(1, 20000)")
        yield SLOT
    finally:
        primary.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (SLOT,),
        )
        primary.execute("DROP TABLE IF EXISTS pgtop_runbook_filler")


_MIB = 1024 * 1024


def _size_bytes(message: str) -> float:
    """The size in "… it held 16.1 MiB of WAL", in bytes."""
    match = re.search(r"it held ([\d.]+) (B|KiB|MiB|GiB) of WAL$", message)
    assert match, message
    scale = {"B": 1, "KiB": 1024, "MiB": _MIB, "GiB": 1024 * _MIB}[match[2]]
    return float(match[1]) * scale


async def test_drop_an_inactive_slot_frees_its_wal(lab: Lab) -> None:
    """Refused without the REPLICATION attribute (the slot stays); with just that attribute,
    dropped, the WAL it held named; gone on the server; a second drop finds nothing."""
    with (
        su(lab) as primary,
        _inactive_slot(primary) as slot,
        scratch_role(lab, "pgtop_test_slots") as plain,
    ):
        retained = _one(
            primary,
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
            " FROM pg_replication_slots WHERE slot_name = %s",
            slot,
        )
        assert isinstance(retained, int)
        assert retained > 0
        actions = RunbookActions(
            {"primary": plain, "monitor": lab.monitor_dsn()}, settings=ConnectionSettings()
        )
        try:
            for server, role in (("primary", "pgtop_test_slots"), ("monitor", MONITOR_ROLE)):
                outcome = await actions.drop_slot(server, slot)
                assert not outcome.ok
                assert outcome.message == (
                    f"{server}: not allowed to drop slot {slot}: needs the REPLICATION "
                    f"attribute (or superuser) to use replication slots: "
                    f'ALTER ROLE "{role}" REPLICATION'
                )
                assert _slots(primary)[slot] == (False, None), "a refused drop changed nothing"

            primary.execute('ALTER ROLE "pgtop_test_slots" REPLICATION')  # the hint, followed
            outcome = await actions.drop_slot("primary", slot)
            assert outcome.ok, outcome.message
            assert outcome.message.startswith(f"dropped slot {slot} on primary: it held ")
            held = _size_bytes(outcome.message)
            assert held >= retained * 0.95, (held, retained)  # the size rounds to 3 digits
            assert slot not in _slots(primary), "the slot is gone on the server"
            again = await actions.drop_slot("primary", slot)
            assert not again.ok
            assert again.message == (
                f"primary: slot {slot} does not exist (any more): nothing to drop"
            )
        finally:
            await actions.close()


async def test_an_active_slot_is_left_alone(lab: Lab) -> None:
    """A temporary slot held by its session, then the replica's own slot (streaming): both
    active, both refused with the pid holding them, both still there."""
    actions = RunbookActions({"primary": lab.superuser_dsn()}, settings=ConnectionSettings())
    try:
        with su(lab) as primary, su(lab) as holder:
            holder.execute(
                "SELECT pg_create_physical_replication_slot('pgtop_test_held', true, true)"
            )
            held_by = holder.info.backend_pid
            assert _slots(primary)["pgtop_test_held"] == (True, held_by)
            outcome = await actions.drop_slot("primary", "pgtop_test_held")
            assert not outcome.ok
            assert outcome.message == (
                f"primary: slot pgtop_test_held is active now (pid {held_by}): not dropped"
            )
            assert "pgtop_test_held" in _slots(primary)

            active, walsender = _slots(primary)[REPLICATION_SLOT]
            assert active, "the lab replica streams through its slot"
            outcome = await actions.drop_slot("primary", REPLICATION_SLOT)
            assert not outcome.ok
            assert outcome.message == (
                f"primary: slot {REPLICATION_SLOT} is active now (pid {walsender}): not dropped"
            )
            assert REPLICATION_SLOT in _slots(primary)
    finally:
        await actions.close()


async def test_unknown_server_bad_name_and_no_server_are_one_line() -> None:
    actions = RunbookActions(
        {"down": "host=127.0.0.1 port=1 user=nobody dbname=d password=secret"},
        settings=ConnectionSettings(connect_timeout_s=2),
    )
    try:
        unknown = await actions.resume_replay("elsewhere")
        assert unknown.message == "no server named 'elsewhere': nothing done"
        assert (await actions.drop_slot("elsewhere", SLOT)).message == unknown.message
        bad = await actions.drop_slot("down", "x\x1b[2J")
        assert bad.message == "down: 'x\\x1b[2J' is not a replication slot name: not dropped"
        for outcome in (await actions.resume_replay("down"), await actions.drop_slot("down", SLOT)):
            assert not outcome.ok
            assert outcome.message.startswith("down: no session for the action: ")
            assert "\n" not in outcome.message
            assert "secret" not in outcome.message
        assert actions.servers == ("down",)
    finally:
        await actions.close()


async def test_one_named_session_per_server_reopened_when_lost(lab: Lab) -> None:
    settings = ConnectionSettings()
    actions = RunbookActions({"primary": lab.superuser_dsn()}, settings=settings)
    name = settings.application_name + ACTION_SESSION_SUFFIX
    try:
        first = await actions.resume_replay("primary")
        assert "not in recovery" in first.message
        await actions.drop_slot("primary", SLOT)
        with su(lab) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid, 2000) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (name,),
            ).fetchall()
        assert rows == [(True,)], "one action session, under its own name"
        lost = await actions.resume_replay("primary")
        assert not lost.ok
        assert "session was lost" in lost.message
        again = await actions.resume_replay("primary")
        assert again.message == first.message
    finally:
        await actions.close()
