"""Index advice for the current database, on demand, on its own short connection.

Never per tick: the sampler's monitoring session is not used (so advice never queues behind
or delays a poll), and the connection is closed as soon as the two queries have answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from pgtop.collect.batch import Conn, Query, run_batch
from pgtop.collect.probes import compose, resolve
from pgtop.collect.rows import table_scan, unused_index
from pgtop.collect.safe_text import prepare_session
from pgtop.collect.source import ConnectionLostError, SourceError
from pgtop.config import ConnectionSettings
from pgtop.conninfo import connect_kwargs, describe_connect_error
from pgtop.model import TableScan, UnusedIndex

__all__ = ["connect_session", "fetch_index_advice", "session_kwargs"]


def session_kwargs(params: Mapping[str, Any], settings: ConnectionSettings) -> dict[str, Any]:
    """psycopg connect arguments for one of pgtop's monitoring sessions."""
    kwargs = connect_kwargs(
        params,
        application_name=settings.application_name,
        connect_timeout=settings.connect_timeout_s,
    )
    kwargs["client_encoding"] = "UTF8"  # server text is decoded as UTF-8 (tolerantly)
    return kwargs


async def connect_session(
    params: Mapping[str, Any], settings: ConnectionSettings, *, application_name: str | None = None
) -> Conn:
    """One of pgtop's sessions (autocommit, no server-side prepared statements), not prepared
    yet (:func:`~pgtop.collect.safe_text.prepare_session`); ConnectionLostError, one line,
    when it cannot be opened."""
    kwargs = session_kwargs(params, settings)
    if application_name is not None:
        kwargs["application_name"] = application_name
    try:
        return await psycopg.AsyncConnection.connect(
            **kwargs, autocommit=True, prepare_threshold=None
        )
    except psycopg.Error as exc:  # the arguments used (not params) name the timeout in seconds
        raise ConnectionLostError(describe_connect_error(exc, kwargs)) from None


async def fetch_index_advice(
    params: Mapping[str, Any], settings: ConnectionSettings, *, limit: int = 20
) -> tuple[tuple[TableScan, ...], tuple[UnusedIndex, ...]]:
    """Missing-index candidates (tables read by sequential scans) and unused indexes."""
    conn = await connect_session(params, settings)
    try:
        await prepare_session(conn)
        version = conn.info.server_version
        queries = []
        for name in ("missing_indexes", "unused_indexes"):
            probe = resolve(name, version)
            assert probe is not None
            queries.append(Query(compose(probe), {"limit": limit}))
        try:
            scans, unused = await run_batch(
                conn,
                queries,
                statement_timeout_ms=settings.statement_timeout_ms,
                lock_timeout_ms=settings.lock_timeout_ms,
            )
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceError(f"index advice failed: {first}") from None
        return tuple(table_scan(r) for r in scans), tuple(unused_index(r) for r in unused)
    finally:
        await conn.close()
