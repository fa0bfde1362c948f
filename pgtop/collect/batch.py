"""One read-only transaction per round trip: the monitoring session's only way to run SQL.

``BEGIN READ ONLY; SELECT set_config('statement_timeout' …, true), set_config('lock_timeout' …,
true); <queries>; COMMIT`` go out in ONE psycopg pipeline with ONE Sync. ``SET LOCAL``-style
settings (set_config with is_local) end with the transaction, so they work through PgBouncer in
transaction mode and override whatever the role has (``ALTER ROLE … SET statement_timeout``);
``READ ONLY`` holds even when the role defaults to read-write, and never trips a role that
defaults to ``default_transaction_read_only = on``.

A failing statement aborts the rest of the batch (libpq pipeline semantics): the error is raised
and the aborted transaction is rolled back (one more round trip, only on failure).
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
from psycopg.rows import dict_row

__all__ = ["Conn", "Query", "run_batch", "shut_down"]

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_BEGIN = sql.SQL("BEGIN READ ONLY")
_TIMEOUTS = sql.SQL(
    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)
_COMMIT = sql.SQL("COMMIT")


@dataclass(frozen=True, slots=True)
class Query:
    """A statement of the batch; rows come back as dicts unless ``tuples`` (then tuples in the
    statement's column order). ``binary`` asks for binary results (cheap numbers)."""

    statement: sql.SQL | sql.Composed
    params: Mapping[str, Any] | None = None
    tuples: bool = False
    binary: bool = False


async def run_batch(
    conn: Conn,
    queries: Sequence[Query],
    *,
    statement_timeout_ms: int,
    lock_timeout_ms: int,
) -> list[list[Any]]:
    """Run ``queries`` in one read-only transaction, one round trip; rows per query."""
    cursors: list[psycopg.AsyncCursor[Any]] = []
    try:
        # Leaving the block sends the one Sync and reads every result.
        async with conn.pipeline():
            await conn.execute(_BEGIN)
            await conn.execute(_TIMEOUTS, (str(statement_timeout_ms), str(lock_timeout_ms)))
            for query in queries:
                cur: psycopg.AsyncCursor[Any]
                if query.tuples:
                    cur = conn.cursor(binary=query.binary)
                else:
                    cur = conn.cursor(row_factory=dict_row, binary=query.binary)
                await cur.execute(query.statement, query.params)
                cursors.append(cur)
            await conn.execute(_COMMIT)
        return [await cur.fetchall() for cur in cursors]
    except psycopg.Error:
        if not conn.broken and conn.info.transaction_status == pq.TransactionStatus.INERROR:
            with contextlib.suppress(psycopg.Error):
                await conn.execute(sql.SQL("ROLLBACK"))
        raise


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
