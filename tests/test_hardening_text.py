"""Issue 5: text from the server is data, never instructions to the terminal.

Hostile objects are created for real on the lab (a role, a database, a locked table, a session's
application_name and query text carrying ESC, BEL, C1 CSI and bidi controls, plus Rich markup),
polled by PostgresSource as the monitoring role, and followed to every place they are shown: the
model (verbatim), ``cell()`` / ``one_line()`` (neutralised), the running app's screen, and the
snapshot JSON. Encodings: SQL_ASCII and LATIN1 databases, a LATIN1 client, and UTF-8 text that
LATIN1 cannot represent.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgtop.collect.pgbouncer_rows import pools_from_rows, records
from pgtop.collect.postgres import PostgresSource
from pgtop.config import Config
from pgtop.feed import RecordedFeed
from pgtop.lab import SUPERUSER, Lab
from pgtop.model import BouncerSample, LockNode, Role, Sample, ServerInfo
from pgtop.text import md_cell, one_line, visible
from pgtop.ui.app import make_app
from pgtop.ui.format import cell
from tests.collect_fixtures import (
    assert_safe,
    connected,
    poll_until,
    running,
    scratch_database,
    su,
)

ROLE = "evil\x1b[31m\u202er"
DATABASE = "db\u202eevil\x07"
TABLE = "[bold]t\x1b]0;pwned\x07"
TABLE_SHOWN = f'"{TABLE}"'  # as regclass::text shows it: quoted
APP_NAME = "app\x9b2J\u202e[red]x"
QUERY_TAG = "/* \x1b[2J \u2066iso\u2069 \x9b31m [bold]markup[/bold] \x7f */"
SLEEP_QUERY = f"SELECT pg_sleep(300) {QUERY_TAG}"
STATEMENT_QUERY = f"SELECT 1 AS one {QUERY_TAG}"


# --------------------------------------------------------------------------- pure: md_cell


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a|b", "a\\|b"),
        ("`x`", "\\`x\\`"),
        ("a\nb\r\nc\rd", "a b c d"),
        ("\x1b[31m", "\\\\x1b\\[31m"),
        ("\x07\x08\x7f", "\\\\x07\\\\x08\\\\x7f"),
        ("\x9b2J", "\\\\x9b2J"),
        ("\u202eabc\u2066", "\\\\u202eabc\\\\u2066"),
        ("[bold]x[/bold]", "\\[bold\\]x\\[/bold\\]"),
        ("<script>", "\\<script\\>"),
    ],
)
def test_md_cell_escapes(raw: str, expected: str) -> None:
    out = md_cell(raw)
    assert out == expected
    assert "\n" not in out
    assert_safe(out)


def test_md_cell_everything_is_one_safe_cell() -> None:
    everything = "".join(chr(c) for c in range(0x00, 0x2100)) + "|`|\n|"
    out = md_cell(everything, 100_000)
    assert_safe(out)
    assert "\n" not in out
    assert not re.search(r"(?<!\\)\|", out)  # every pipe escaped: the cell cannot split
    assert not re.search(r"(?<!\\)`", out)


# --------------------------------------------------------------------------- pure: PgBouncer

HOSTILE_POOL_DB = "db\x1b]0;pwned\x07\u202e"
HOSTILE_POOL_USER = "[bold]u\x9b2J\u2067"


def _hostile_pools() -> tuple[Any, ...]:
    columns = ["database", "user", "cl_active", "cl_waiting", "sv_active", "pool_mode"]
    pool_rows = records(columns, [(HOSTILE_POOL_DB, HOSTILE_POOL_USER, 1, 0, 1, "transaction")])
    db_rows = records(["name", "pool_size"], [(HOSTILE_POOL_DB.encode(), 5)])
    return pools_from_rows(pool_rows, db_rows)


def test_pgbouncer_rows_keep_hostile_names_verbatim_and_cells_neutralise_them() -> None:
    (pool,) = _hostile_pools()
    assert (pool.database, pool.user) == (HOSTILE_POOL_DB, HOSTILE_POOL_USER)
    assert pool.pool_size == 5  # bytes name from SHOW DATABASES matched the str one
    for value in (pool.database, pool.user):
        shown = cell(value)
        assert_safe(shown.plain)
        assert shown.spans == []  # markup never parsed into styles
    assert cell(pool.database).plain == "db\\x1b]0;pwned\\x07\\u202e"
    assert cell(pool.user).plain == "[bold]u\\x9b2J\\u2067"


# --------------------------------------------------------------------------- real hostile objects


@dataclass
class Hostile:
    role: str
    database: str
    table: str
    sleeper_pid: int
    waiter_pid: int
    holder_pid: int
    application: str  # what the server made of APP_NAME
    threads: list[threading.Thread] = field(default_factory=list)


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _run_in_thread(conn: psycopg.Connection[Any], query: str) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(psycopg.Error):
            conn.execute(query)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> None:
    deadline = time.monotonic() + 15
    while not conn.execute(query, params).fetchone():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {query} {params}")
        time.sleep(0.05)


@contextlib.contextmanager
def hostile_objects(lab: Lab) -> Iterator[Hostile]:
    password = secrets.token_urlsafe(16)
    sessions: list[psycopg.Connection[Any]] = []
    threads: list[threading.Thread] = []
    with su(lab, "postgres") as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(_ident(ROLE), sql.Literal(password))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(_ident(DATABASE)))
    try:
        with su(lab) as app:
            app.execute(sql.SQL("CREATE TABLE {} (v int)").format(_ident(TABLE)))
        dsn = lab.primary.dsn(ROLE, DATABASE, password=password)
        sleeper = psycopg.connect(dsn, autocommit=True, application_name=APP_NAME)
        sessions.append(sleeper)
        sleeper.execute(STATEMENT_QUERY)  # a finished statement: pg_stat_statements has it
        holder = psycopg.connect(lab.superuser_dsn(), application_name="hostile-holder")
        sessions.append(holder)
        holder.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(_ident(TABLE)))
        waiter = psycopg.connect(
            lab.superuser_dsn(), autocommit=True, application_name="hostile-waiter"
        )
        sessions.append(waiter)
        threads.append(_run_in_thread(sleeper, SLEEP_QUERY))
        waiting = sql.SQL("SELECT count(*) FROM {}").format(_ident(TABLE)).as_string(waiter)
        threads.append(_run_in_thread(waiter, waiting))
        with su(lab, "postgres") as admin:
            _wait_for(
                admin,
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active'"
                " AND query LIKE 'SELECT pg_sleep(300)%%'",
                (sleeper.info.backend_pid,),
            )
            _wait_for(
                admin,
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                (waiter.info.backend_pid,),
            )
            row = admin.execute(
                "SELECT application_name FROM pg_stat_activity WHERE pid = %s",
                (sleeper.info.backend_pid,),
            ).fetchone()
            assert row is not None
        yield Hostile(
            role=ROLE,
            database=DATABASE,
            table=TABLE,
            sleeper_pid=sleeper.info.backend_pid,
            waiter_pid=waiter.info.backend_pid,
            holder_pid=holder.info.backend_pid,
            application=row[0],
            threads=threads,
        )
    finally:
        with su(lab, "postgres") as admin:
            pids = [s.info.backend_pid for s in sessions if not s.closed]
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        for thread in threads:
            thread.join(timeout=10)
        for conn in sessions:
            with contextlib.suppress(Exception):
                conn.close()
        with su(lab) as app:
            app.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_ident(TABLE)))
        with su(lab, "postgres") as admin:
            # forget the hostile statements (other tests read pg_stat_statements too)
            admin.execute(
                "SELECT pg_stat_statements_reset(s.userid, s.dbid, s.queryid)"
                " FROM pg_stat_statements AS s"
                " WHERE s.query LIKE '%pwned%' OR s.query LIKE '%markup%'"
            )
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(DATABASE))
            )
            deadline = time.monotonic() + 10
            while True:
                try:
                    admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(_ident(ROLE)))
                    break
                except psycopg.errors.DependentObjectsStillReferenced:  # type: ignore[attr-defined]
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)


@pytest.fixture(scope="module")
def hostile(lab: Lab) -> Iterator[Hostile]:
    with hostile_objects(lab) as objects:
        yield objects


def _seen(sample: Sample, h: Hostile) -> bool:
    pids = {b.pid for b in sample.activity}
    return (
        h.sleeper_pid in pids
        and any(n.relation == TABLE_SHOWN for r in sample.locks for _, n in r.walk())
        and any(s.user == ROLE and "markup" in s.query for s in sample.statements)
    )


@contextlib.asynccontextmanager
async def _monitor(lab: Lab) -> AsyncIterator[PostgresSource]:
    async with connected(lab.monitor_dsn()) as source:
        yield source


async def _poll_hostile(lab: Lab, h: Hostile) -> Sample:
    async with _monitor(lab) as source:
        return await poll_until(source, lambda s: _seen(s, h), what="the hostile objects")


def _lock_nodes(sample: Sample) -> list[LockNode]:
    return [n for r in sample.locks for _, n in r.walk()]


async def test_model_keeps_hostile_server_text_verbatim(lab: Lab, hostile: Hostile) -> None:
    sample = await _poll_hostile(lab, hostile)
    sleeper = next(b for b in sample.activity if b.pid == hostile.sleeper_pid)
    assert sleeper.user == ROLE
    assert sleeper.database == DATABASE
    assert sleeper.query == SLEEP_QUERY
    # the server cleans application_name itself (non-ASCII -> '?' or \\xNN escapes, by
    # version): pgtop shows what the server reports, unchanged
    assert sleeper.application == hostile.application
    assert "[red]x" in sleeper.application
    waiter = next(n for n in _lock_nodes(sample) if n.pid == hostile.waiter_pid)
    assert waiter.relation == TABLE_SHOWN  # regclass::text quotes it
    assert TABLE_SHOWN in {lc.relation for lc in sample.lock_counts}
    statement = next(s for s in sample.statements if s.user == ROLE and "markup" in s.query)
    assert statement.database == DATABASE
    assert QUERY_TAG in statement.query


async def test_cells_show_visible_escapes_for_every_server_string(
    lab: Lab, hostile: Hostile
) -> None:
    sample = await _poll_hostile(lab, hostile)
    sleeper = next(b for b in sample.activity if b.pid == hostile.sleeper_pid)
    waiter = next(n for n in _lock_nodes(sample) if n.pid == hostile.waiter_pid)
    statement = next(s for s in sample.statements if s.user == ROLE and "markup" in s.query)
    strings = [
        sleeper.user,
        sleeper.database,
        sleeper.application,
        sleeper.client,
        sleeper.query,
        waiter.relation,
        statement.query,
        statement.user,
        statement.database,
    ]
    for value in strings:
        assert value is not None
        for shown in (cell(value).plain, one_line(value), visible(value)):
            assert_safe(shown)
        assert cell(value).spans == []
    assert cell(ROLE).plain == "evil\\x1b[31m\\u202er"
    assert one_line(DATABASE) == "db\\u202eevil\\x07"
    assert one_line(TABLE) == "[bold]t\\x1b]0;pwned\\x07"
    assert one_line(sleeper.query) == (
        "SELECT pg_sleep(300) /* \\x1b[2J \\u2066iso\\u2069 \\x9b31m [bold]markup[/bold] \\x7f */"
    )


def _hostile_app_sample(sample: Sample) -> list[Sample | BouncerSample]:
    """The real sample, plus a PgBouncer sample whose pool names are hostile."""
    info = ServerInfo(
        name="pgbouncer",
        host="127.0.0.1",
        port=6432,
        dbname="pgbouncer",
        user="pgtop",
        version="1.23.1",
        version_num=12301,
        role=Role.PGBOUNCER,
    )
    bouncer = BouncerSample(
        source="pgbouncer",
        taken_at=sample.taken_at,
        connected=True,
        info=info,
        pools=_hostile_pools(),
    )
    return [sample, bouncer]


def _all_cells(app: Any, pane: str) -> list[str]:
    table = app.panes[pane].table
    return [c.plain for key in table.shown_keys for c in table.get_row(key)]


async def test_app_renders_hostile_text_literally(
    lab: Lab, hostile: Hostile, tmp_path: Path
) -> None:
    sample = await _poll_hostile(lab, hostile)
    app = make_app(
        Config(), RecordedFeed(_hostile_app_sample(sample)), state_path=tmp_path / "state.toml"
    )
    async with app.run_test(size=(260, 60)) as pilot:
        await pilot.pause()
        screens: list[str] = []
        cells: dict[str, list[str]] = {}
        for key, pane in (("1", "activity"), ("2", "locks"), ("4", "pools"), ("5", "statements")):
            await pilot.press(key)
            await pilot.pause()
            cells[pane] = _all_cells(app, pane)
            screens.append(app.export_screenshot())
        for texts in cells.values():
            for text in texts:
                assert_safe(text)
        activity = " ".join(cells["activity"])
        assert "\\x1b[2J" in activity
        assert "\\u2066iso\\u2069" in activity
        assert "[bold]markup[/bold]" in activity
        assert "evil\\x1b[31m\\u202er" in activity
        assert "db\\u202eevil\\x07" in activity
        assert "[bold]t\\x1b]0;pwned\\x07" in " ".join(cells["locks"])
        assert "\\x9b31m" in " ".join(cells["statements"])
        pools = " ".join(cells["pools"])
        assert "db\\x1b]0;pwned\\x07\\u202e" in pools
        assert "[bold]u\\x9b2J\\u2067" in pools
        for svg in screens:
            assert_safe(svg.replace("\n", " "))
        joined = "".join(screens)
        assert "\\x1b" in joined
        assert "[bold]" in joined  # markup shown as text, never applied


def test_snapshot_json_is_ascii_and_round_trips_hostile_text(
    lab: Lab, hostile: Hostile, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgtop",
            "snapshot",
            lab.monitor_dsn(),
            "--duration",
            "1",
            "--format",
            "json",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    raw = result.stdout
    assert raw.isascii()  # ensure_ascii: no ESC, C1 or bidi byte sequence at all
    assert b"\x1b" not in raw
    document = json.loads(raw)
    sleeper = next(b for b in document["activity"] if b["pid"] == hostile.sleeper_pid)
    assert sleeper["query"] == SLEEP_QUERY
    assert sleeper["user"] == ROLE
    assert sleeper["database"] == DATABASE
    assert sleeper["application"] == hostile.application
    relations = {lc["relation"] for lc in document["lock_counts"]}
    assert TABLE_SHOWN in relations
    assert "\\u001b]0;pwned\\u0007" in raw.decode("ascii")


# --------------------------------------------------------------------------- encodings


async def _backend(lab: Lab, monitor_db: str, pid: int, needle: str) -> Any:
    async with connected(lab.monitor_dsn(monitor_db)) as source:
        sample = await poll_until(
            source,
            lambda s: any(b.pid == pid and needle in b.query for b in s.activity),
            what=f"pid {pid} running {needle!r}",
        )
        return next(b for b in sample.activity if b.pid == pid)


async def test_sql_ascii_invalid_utf8_in_query_and_application_name(lab: Lab) -> None:
    with scratch_database(lab, "pgtop_hostile_ascii", sql_ascii=True) as db:
        dsn = lab.primary.dsn(SUPERUSER, db, client_encoding="SQL_ASCII")
        query = b"SELECT pg_sleep(20) /* \xff\xfe \x1b[2J \xc2\x9b */"
        with running(dsn, query, setup=b"SET application_name = 'bad\xff\xfe\x1b'") as pid:
            for monitor_db in ("app", db):
                backend = await _backend(lab, monitor_db, pid, "pg_sleep(20)")
                assert "\ufffd" in backend.query  # invalid bytes replaced, never an error
                assert "\x1b[2J" in backend.query  # verbatim otherwise
                shown = one_line(backend.query)
                assert_safe(shown)
                assert "\\x1b[2J" in shown
                assert "\\x9b" in shown  # the valid UTF-8 C1 CSI
                # the server cleans application_name to printable ASCII ('?' up to 15,
                # \\xNN escapes from 16) before anyone can read it: kept as it came
                assert backend.application.startswith("bad")
                assert_safe(backend.application)
                assert one_line(backend.application) == backend.application


async def test_latin1_database_and_latin1_client(lab: Lab) -> None:
    with su(lab, "postgres") as admin:
        admin.execute('DROP DATABASE IF EXISTS "pgtop_latin1" WITH (FORCE)')
        admin.execute(
            "CREATE DATABASE pgtop_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"
            " TEMPLATE template0"
        )
    try:
        latin1_db = lab.primary.dsn(SUPERUSER, "pgtop_latin1", client_encoding="LATIN1")
        # a LATIN1 session in a LATIN1 database: seen converted from its own database,
        # as raw (invalid UTF-8) bytes from a UTF-8 one
        with running(latin1_db, "SELECT 'é', pg_sleep(20)") as pid:
            own = await _backend(lab, "pgtop_latin1", pid, "pg_sleep(20)")
            assert "'é'" in own.query
            other = await _backend(lab, "app", pid, "pg_sleep(20)")
            assert "\ufffd" in other.query or "'é'" in other.query
        # a LATIN1 client in a UTF-8 database: the server converts, pgtop (UTF-8) sees é
        utf8_db = lab.primary.dsn(SUPERUSER, "app", client_encoding="LATIN1")
        with running(utf8_db, "SELECT 'é', pg_sleep(20)") as pid:
            backend = await _backend(lab, "app", pid, "pg_sleep(20)")
            assert "'é'" in backend.query
        # UTF-8 text LATIN1 cannot represent (€, ✓, a C1-producing sequence), watched from the
        # LATIN1 database: activity arrives as mojibake, pg_stat_statements cannot convert the
        # texts. Every poll still returns; nothing raw reaches the screen.
        with su(lab) as app:
            app.execute("SELECT '€ ✓ \u202e' AS euro_check")
        with running(lab.superuser_dsn(), "SELECT '€✓\u202e', pg_sleep(20)") as pid:
            async with connected(lab.monitor_dsn("pgtop_latin1")) as source:
                sample = await poll_until(
                    source,
                    lambda s: any(b.pid == pid and "pg_sleep(20)" in b.query for b in s.activity),
                    what="the UTF-8 session seen from LATIN1",
                )
                more = [await source.poll() for _ in range(2)]
                assert all(s.error is None for s in more)
                backend = next(b for b in sample.activity if b.pid == pid)
                assert_safe(one_line(backend.query))
                for s in (sample, *more):
                    for stmt in s.statements:
                        assert_safe(one_line(stmt.query))
    finally:
        with su(lab, "postgres") as admin:
            admin.execute(
                "SELECT pg_stat_statements_reset(s.userid, s.dbid, s.queryid)"
                " FROM pg_stat_statements AS s WHERE s.query LIKE '%euro_check%'"
            )
            admin.execute(
                "SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database"
                " WHERE datname = 'pgtop_latin1'"
            )
            admin.execute('DROP DATABASE IF EXISTS "pgtop_latin1" WITH (FORCE)')
