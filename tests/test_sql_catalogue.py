"""Every .sql file is chosen by the resolver for some version, and every resolved probe runs
on each lab server (primary and replica), including each pg_stat_statements API version the
server can install."""

from __future__ import annotations

import asyncio
from importlib.resources import files
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgtop.collect.batch import Query, run_batch
from pgtop.collect.capabilities import PLAYBOOK_SETTINGS
from pgtop.collect.probes import SPECS, Axis, catalogue, compose, resolve
from pgtop.collect.statements import COLUMNS
from pgtop.lab import Lab
from pgtop.model import Role
from tests.collect_fixtures import scratch_database, su

PARAMS: dict[str, dict[str, Any]] = {
    "settings": {"names": list(PLAYBOOK_SETTINGS)},
    "statement_texts": {"queryids": [1, 2, 3]},
    "lock_blockers": {"pids": [0]},
    "missing_indexes": {"limit": 5},
    "unused_indexes": {"limit": 5},
    # pid 0 is no backend: the actions' statements run and signal nothing
    "cancel_backend": {"pid": 0, "backend_start": None},
    "terminate_backend": {"pid": 0, "backend_start": None, "wait_ms": 100},
    "backend_locks": {"pid": 0, "backend_start": None},
    "signal_backends": {"pids": [0], "starts": [None], "terminate": False},
    "statement_counters": {"queryid": 0, "user": None, "database": None},
    "drop_slot": {"slot": "pgtop_no_such_slot"},  # no such slot: nothing dropped
    # EXPLAIN's look-ups: no backend, no entry, no prepared statement (no rows)
    "explain_activity": {"pid": 0, "backend_start": None},
    "explain_statement_text": {"queryid": 1, "userid": None, "user": None},
    "explain_parameters": {"name": "pgtop_explain"},
}

EXPLAIN = {"explain_context", "explain_activity", "explain_statement_text", "explain_parameters"}

# EXECUTE on a function the statement calls is checked when it starts: the monitoring role
# (no grant) is refused before anything runs (tests/test_runbook.py runs it as a superuser)
REFUSED_TO_MONITOR = {"resume_replay"}


def _version_for(floor: tuple[int, ...], axis: Axis) -> tuple[int, str | None]:
    if axis is Axis.PSS:
        return 999999, ".".join(map(str, floor))
    return floor[0], None


def test_every_file_is_selected_for_its_floor() -> None:
    files = catalogue()
    assert set(files) == set(SPECS), "a spec without a file, or a file without a spec"
    for name, variants in files.items():
        for floor, file in variants:
            version_num, pss = _version_for(floor, SPECS[name].axis)
            probe = resolve(name, version_num, pss)
            assert probe is not None
            assert probe.file == file


@pytest.mark.parametrize(
    ("name", "version_num", "pss", "expected"),
    [
        ("locks", 130011, None, "locks.sql"),
        ("locks", 140000, None, "locks.pg14.sql"),
        ("locks", 180001, None, "locks.pg14.sql"),
        ("locks", 120000, None, "locks.sql"),
        ("progress", 130000, None, "progress.sql"),
        ("progress", 150018, None, "progress.pg14.sql"),
        ("statements", 150000, "1.8", "statements.pss1_8.sql"),
        ("statements", 150000, "1.10", "statements.pss1_9.sql"),
        ("statements", 180000, "1.12", "statements.pss1_11.sql"),
        ("statements", 180000, "1.7", None),
        ("statements", 180000, None, None),
        ("statements_info", 130000, "1.8", None),
        ("statements_info", 180000, "1.11", "statements_info.pss1_9.sql"),
        ("statement_texts", 130000, "1.8", "statement_texts.sql"),
        ("explain_activity", 130000, None, "explain_activity.sql"),
        ("explain_activity", 140000, None, "explain_activity.pg14.sql"),
        ("explain_statement_text", 130000, "1.8", "explain_statement_text.sql"),
        ("explain_statement_text", 180000, None, None),
        ("resume_replay", 130000, None, "resume_replay.sql"),
        ("resume_replay", 180000, None, "resume_replay.pg14.sql"),
    ],
)
def test_resolver_picks_highest_floor(
    name: str, version_num: int, pss: str | None, expected: str | None
) -> None:
    probe = resolve(name, version_num, pss)
    assert (probe.file if probe else None) == expected


def test_only_the_schema_is_composed_in() -> None:
    """No placeholder but {schema} (an identifier); values travel as %(name)s parameters."""
    for variants in catalogue().values():
        for _, file in variants:
            text = files("pgtop.collect").joinpath("sql", file).read_text()
            assert "{" not in text.replace("{schema}", ""), file


def _run_all(dsn: str) -> set[str]:
    """Run every probe resolved for the server behind ``dsn``; the names that ran."""
    ran: set[str] = set()
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version_num')::int, pg_is_in_recovery(),"
            " (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements')"
        ).fetchone()
    assert row is not None
    version_num, in_recovery, pss = row
    role = Role.STANDBY if in_recovery else Role.PRIMARY

    async def go() -> None:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None)
        try:
            for name, spec in SPECS.items():
                if spec.role is not None and spec.role is not role:
                    continue
                probe = resolve(name, version_num, pss)
                if probe is None:
                    continue
                if name in REFUSED_TO_MONITOR:
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        await run_batch(
                            conn,
                            [Query(compose(probe))],
                            statement_timeout_ms=5000,
                            lock_timeout_ms=1000,
                        )
                    ran.add(name)
                    continue
                tuples = name in ("statements", "statement_texts", "locks", "lock_blockers")
                (rows,) = await run_batch(
                    conn,
                    [Query(compose(probe, "public"), PARAMS.get(name), tuples=tuples)],
                    statement_timeout_ms=5000,
                    lock_timeout_ms=1000,
                )
                if name == "statements":
                    async with conn.cursor() as cur:
                        await cur.execute(compose(probe, "public"))
                        assert cur.description is not None
                        assert tuple(c.name for c in cur.description) == COLUMNS
                ran.add(name)
        finally:
            await conn.close()

    asyncio.run(go())
    return ran


def test_every_probe_runs_on_the_primary(lab: Lab) -> None:
    ran = _run_all(lab.monitor_dsn())
    assert {"server", "activity", "locks", "lock_blockers", "replicas", "slots"} <= ran
    assert {"archiver", "progress"} <= ran
    assert {"statements", "statements_info", "statement_texts", "names"} <= ran
    assert {"cancel_backend", "terminate_backend"} <= ran
    assert {"resume_replay", "drop_slot"} <= ran
    assert ran >= EXPLAIN
    assert "standby" not in ran


def test_every_probe_runs_on_the_replica(lab: Lab) -> None:
    ran = _run_all(lab.replica_dsn())
    assert {"server", "activity", "locks", "standby", "slots", "archiver", "statements"} <= ran
    assert ran >= EXPLAIN  # a standby's rows are explained on the standby
    assert {"resume_replay", "drop_slot"} <= ran
    assert "replicas" not in ran


def test_every_statements_variant_runs_on_its_extension_version(lab: Lab) -> None:
    with su(lab, "postgres") as conn:
        available = {
            r[0]
            for r in conn.execute(
                "SELECT version FROM pg_available_extension_versions"
                " WHERE name = 'pg_stat_statements'"
            )
        }
    wanted = [v for v in ("1.8", "1.9", "1.10", "1.11", "1.12") if v in available]
    assert "1.8" in wanted
    assert "1.9" in wanted
    used: set[str] = set()
    with scratch_database(lab, "pgtop_pss_versions", extension_version=wanted[0]) as db:
        for version in wanted:
            with su(lab, db) as conn:
                conn.execute(
                    sql.SQL("ALTER EXTENSION pg_stat_statements UPDATE TO {}").format(
                        sql.Literal(version)
                    )
                )
            _run_all(lab.monitor_dsn(db))
            probe = resolve("statements", 999999, version)
            assert probe is not None
            used.add(probe.file)
    assert {"statements.pss1_8.sql", "statements.pss1_9.sql"} <= used
    if lab.state is not None and lab.state.major >= 17:
        assert "statements.pss1_11.sql" in used
