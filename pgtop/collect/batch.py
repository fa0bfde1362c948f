"""One read-only transaction per round trip: the monitoring session's only way to run SQL.

``BEGIN READ ONLY; SELECT set_config('statement_timeout' …, true), set_config('lock_timeout' …,
true); <queries>; COMMIT`` go out as ONE simple-protocol Query message (parameters bound as
literals on the client) and come back as one result set per statement. ``SET LOCAL``-style
settings (set_config with is_local) end with the transaction, so they work through PgBouncer in
transaction mode and override whatever the role has (``ALTER ROLE … SET statement_timeout``);
since PostgreSQL 13 (pgtop's minimum) the timeout applies to each statement of the message.
``READ ONLY`` holds even when the role defaults to read-write, and never trips a role that
defaults to ``default_transaction_read_only = on``.

Why not a psycopg pipeline: it sends each statement with its own flush and waits for the socket
through asyncio once per statement — a dozen event-loop turns per tick, ~1 ms of pgtop's CPU.
One message costs one write and one wait.

A failing statement aborts the rest of the message: the error is raised and the aborted
transaction is rolled back (one more round trip, only on failure).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.rows import dict_row, tuple_row

__all__ = ["Conn", "Query", "Scripts", "run_batch", "shut_down"]

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_BEGIN = sql.SQL("BEGIN READ ONLY")
_TIMEOUTS = sql.SQL(
    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)
_COMMIT = sql.SQL("COMMIT")


@dataclass(frozen=True, slots=True)
class Query:
    """A statement of the batch; rows come back as dicts unless ``tuples`` (then tuples in the
    statement's column order)."""

    statement: sql.SQL | sql.Composed
    params: Mapping[str, Any] | None = None
    tuples: bool = False


def _script(
    conn: Conn, queries: Sequence[Query], statement_timeout_ms: int, lock_timeout_ms: int
) -> bytes:
    """The whole transaction as one string, parameters bound as literals (psycopg quotes them
    for this connection)."""
    binder = psycopg.AsyncClientCursor(conn)
    timeouts = (str(statement_timeout_ms), str(lock_timeout_ms))
    statements = [
        _BEGIN.as_string(conn),
        binder.mogrify(_TIMEOUTS, timeouts),
        *(binder.mogrify(query.statement, query.params) for query in queries),
        _COMMIT.as_string(conn),
    ]
    return ";\n".join(statements).encode(conn.info.encoding)


class Scripts:
    """Scripts of batches without parameters, kept per set of Query objects: a monitoring
    session sends the same few sets tick after tick (the source reuses its Query objects), and
    binding a dozen statements anew cost ~0.2 ms a tick. Only the last few sets are kept."""

    def __init__(self, kept: int = 8) -> None:
        self._kept = kept
        self._by_key: dict[tuple[Any, ...], tuple[tuple[Query, ...], bytes]] = {}

    def script(
        self, conn: Conn, queries: Sequence[Query], statement_timeout_ms: int, lock_timeout_ms: int
    ) -> bytes:
        if any(query.params is not None for query in queries):
            return _script(conn, queries, statement_timeout_ms, lock_timeout_ms)
        key = (
            tuple(id(query) for query in queries),
            statement_timeout_ms,
            lock_timeout_ms,
            conn.info.encoding,
        )
        hit = self._by_key.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], queries, strict=True)):
            return hit[1]
        script = _script(conn, queries, statement_timeout_ms, lock_timeout_ms)
        if len(self._by_key) >= self._kept:
            self._by_key.clear()
        self._by_key[key] = (tuple(queries), script)  # holds the queries: their ids stay theirs
        return script


async def run_batch(
    conn: Conn,
    queries: Sequence[Query],
    *,
    statement_timeout_ms: int,
    lock_timeout_ms: int,
    scripts: Scripts | None = None,
) -> list[list[Any]]:
    """Run ``queries`` in one read-only transaction, one round trip; rows per query."""
    cur: psycopg.AsyncCursor[Any] = conn.cursor()
    if scripts is None:
        script = _script(conn, queries, statement_timeout_ms, lock_timeout_ms)
    else:
        script = scripts.script(conn, queries, statement_timeout_ms, lock_timeout_ms)
    try:
        await cur.execute(script)
        cur.nextset()  # past BEGIN
        cur.nextset()  # past the timeouts
        results: list[list[Any]] = []
        for query in queries:
            cur.row_factory = tuple_row if query.tuples else dict_row
            results.append(await cur.fetchall())
            cur.nextset()
        return results
    except psycopg.Error:
        if not conn.broken and conn.info.transaction_status == pq.TransactionStatus.INERROR:
            with contextlib.suppress(psycopg.Error):
                await conn.execute(sql.SQL("ROLLBACK"))
        raise
    finally:
        await cur.close()


def shut_down(conn: psycopg.AsyncConnection[Any] | None) -> bool:
    """Shut the connection's socket down, synchronously, without closing it.

    For a server that hangs (SIGSTOP, a dead host behind a live link): a pending query sees
    end-of-file at once and fails with a lost connection, instead of psycopg cancelling it
    (which would ask the hung server to cancel, and wait). libpq keeps its descriptor until the
    connection is closed, so it is never reused under the pending call. False when there was
    no open socket to shut down.
    """
    if conn is None or conn.closed:
        return False
    try:
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        return False
    return True
