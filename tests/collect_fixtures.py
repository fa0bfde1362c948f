"""Helpers for the PostgreSQL collector tests: scratch roles and databases that always go away,
superuser sessions, and polling until the server shows what a test arranged."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TypeVar

import psycopg
import pytest
from psycopg import sql

from pgtop.collect.postgres import PostgresSource
from pgtop.config import ConnectionSettings
from pgtop.lab import SUPERUSER, Lab
from pgtop.model import Sample


def su(lab: Lab, dbname: str = "app", *, replica: bool = False) -> psycopg.Connection[tuple]:  # type: ignore[type-arg]
    """An autocommit superuser session on the lab primary (or replica)."""
    endpoint = lab.replica if replica else lab.primary
    assert endpoint is not None
    return psycopg.connect(endpoint.dsn(SUPERUSER, dbname), autocommit=True)


def last_queryid(lab: Lab, session: psycopg.Connection[tuple]) -> int:  # type: ignore[type-arg]
    """The queryid of the statement ``session`` ran last (pg_stat_activity.query_id). A text
    search in pg_stat_statements may find another entry: aliases, comments and constants are
    not part of a queryid, and an entry keeps the first text it saw."""
    with su(lab) as admin:
        row = admin.execute(
            "SELECT query_id FROM pg_stat_activity WHERE pid = %s", (session.info.backend_pid,)
        ).fetchone()
    assert row is not None
    assert row[0] is not None
    return int(row[0])


@contextlib.contextmanager
def scratch_database(
    lab: Lab, name: str, *, extension_version: str | None = None, sql_ascii: bool = False
) -> Iterator[str]:
    """A database that exists for the block (with pg_stat_statements at a given version)."""
    with su(lab, "postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if sql_ascii:
            create += sql.SQL(
                " ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
            )
        conn.execute(create)
    try:
        if extension_version is not None:
            with su(lab, name) as conn:
                conn.execute(
                    sql.SQL("CREATE EXTENSION pg_stat_statements VERSION {}").format(
                        sql.Literal(extension_version)
                    )
                )
        yield name
    finally:
        with su(lab, "postgres") as conn:
            # pg_stat_statements outlives the database: forget its entries (a SQL_ASCII one
            # may hold texts that are not valid UTF-8)
            conn.execute(
                "SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database WHERE datname = %s",
                (name,),
            )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def scratch_role(
    lab: Lab, name: str, *, role_settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """A LOGIN role WITHOUT pg_monitor for the block; yields its DSN on the primary's app db."""
    password = secrets.token_urlsafe(16)
    with su(lab, "postgres") as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        for key, value in (role_settings or {}).items():
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    sql.Identifier(name), sql.Identifier(key), sql.Literal(value)
                )
            )
    try:
        yield lab.primary.dsn(name, "app", password=password)
    finally:
        with su(lab, "postgres") as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (name,),
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
                    break
                except psycopg.errors.DependentObjectsStillReferenced:
                    time.sleep(0.1)


@contextlib.asynccontextmanager
async def connected(
    dsn: str, *, name: str = "primary", settings: ConnectionSettings | None = None
) -> AsyncIterator[PostgresSource]:
    source = PostgresSource(dsn, name=name, settings=settings)
    await source.connect()
    try:
        yield source
    finally:
        await source.close()


T = TypeVar("T")


async def until(condition: Callable[[], T | None], what: str, timeout_s: float = 15.0) -> T:
    """``condition()``'s first truthy value, checked every 20 ms while the event loop runs (a
    pilot app keeps refreshing); fails the test after ``timeout_s`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.02)


async def poll_until(
    source: PostgresSource,
    predicate: Callable[[Sample], bool],
    *,
    timeout_s: float = 15.0,
    every_s: float = 0.2,
    what: str = "condition",
) -> Sample:
    """Poll until ``predicate(sample)`` holds; fail with the last sample's gist otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        sample = await source.poll()
        if sample.error is None and predicate(sample):
            return sample
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last error={sample.error!r}")
        await asyncio.sleep(every_s)


@contextlib.contextmanager
def inactive_slot(conn: psycopg.Connection[tuple], name: str) -> Iterator[str]:  # type: ignore[type-arg]
    """A physical slot nobody uses, reserving WAL from now, with some WAL written after it."""
    conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (name,))
    try:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS pgtop_wal_filler (v int)")
        conn.execute("INSERT INTO pgtop_wal_filler SELECT generate_series(1, 20000)")
        conn.execute("SELECT pg_switch_wal()")
        yield name
    finally:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


@contextlib.contextmanager
def failing_archiver(conn: psycopg.Connection[tuple]) -> Iterator[None]:  # type: ignore[type-arg]
    """archive_command = 'false' with a finished segment to fail on. On exit the setting is
    reset and a new segment wakes the archiver, which retries the failed one first."""
    conn.execute("ALTER SYSTEM SET archive_command = 'false'")
    conn.execute("SELECT pg_reload_conf()")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS pgtop_archive_filler (v int)")
    try:
        conn.execute("INSERT INTO pgtop_archive_filler VALUES (1)")
        conn.execute("SELECT pg_switch_wal()")
        yield
    finally:
        conn.execute("ALTER SYSTEM RESET archive_command")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("INSERT INTO pgtop_archive_filler VALUES (2)")
        conn.execute("SELECT pg_switch_wal()")


@contextlib.contextmanager
def running(dsn: str, query: bytes | str, *, setup: bytes | None = None) -> Iterator[int]:
    """A session running ``query`` in a thread for the block; yields its pid."""
    conn = psycopg.connect(dsn, autocommit=True)
    if setup is not None:
        conn.execute(setup)
    pid = conn.info.backend_pid

    def run() -> None:
        with contextlib.suppress(psycopg.Error):
            conn.execute(query)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield pid
    finally:
        conn.cancel_safe()
        thread.join(timeout=10)
        conn.close()


# Every code point that must never reach a terminal raw (newlines excepted).
RAW_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_safe(text: str) -> None:
    """``text`` carries no raw control/C1/bidi code point (newlines excepted)."""
    raw = [f"U+{ord(c):04X}" for c in RAW_CONTROLS.findall(text)]
    assert raw == [], f"raw control characters in {text!r}"
