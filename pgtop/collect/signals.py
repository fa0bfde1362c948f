"""Cancel a backend's query or terminate its session, on a session of pgtop's own.

The monitoring session never runs an action: an action must not queue behind a poll (a sick
server's poll may take its whole statement_timeout) and the monitoring session stays read-only
in spirit. The action session is opened on first use and kept (reopened when it was lost); it
runs each action as the monitoring session runs a tick: one read-only transaction with
statement_timeout and lock_timeout, one round trip (pg_cancel_backend and pg_terminate_backend
write nothing, so READ ONLY does not stand in their way).

The caller names the backend by pid *and* backend_start as it saw them: a pid reused by a new
backend since the last refresh is not signalled. Every outcome is one line for the user.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors

from pgtop.actions import (
    BulkOutcome,
    HeldLock,
    LockReport,
    Outcome,
    Signal,
    StatementReport,
)
from pgtop.collect.batch import Conn, Query, run_batch
from pgtop.collect.capabilities import quote_ident
from pgtop.collect.per_database import connect_session
from pgtop.collect.probes import SPECS, compose, resolve
from pgtop.collect.safe_text import prepare_session
from pgtop.collect.source import ConnectionLostError, first_line
from pgtop.config import ConnectionSettings
from pgtop.conninfo import parse_dsn

__all__ = ["ACTION_SESSION_SUFFIX", "ActionSession", "BackendSignals", "open_action_session"]

ACTION_SESSION_SUFFIX = " (actions)"
"""Appended to pgtop's application_name for the action session (it shows in the activity list
like any session: it is not the one that polls)."""

TERMINATE_WAIT_MS = 1000
"""How long the server waits for a terminated backend to exit (PostgreSQL 14+)."""


def _probe(signal: Signal) -> str:
    return f"{signal.value}_backend"


class BackendSignals:
    """Cancel and terminate backends of one server (see the module docstring)."""

    def __init__(
        self,
        dsn: str | None,
        *,
        name: str = "primary",
        settings: ConnectionSettings | None = None,
    ) -> None:
        self._name = name
        self._params = parse_dsn(dsn)
        self._settings = settings or ConnectionSettings()
        self._session = ActionSession(self._params, self._settings)
        self._pss: tuple[str | None, str | None] | None = None
        """(pg_stat_statements version, schema) in the action session's database."""
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._name

    async def send(self, signal: Signal, pid: int, backend_start: datetime | None) -> Outcome:
        """Cancel the query of, or terminate, backend ``pid`` started at ``backend_start``."""
        async with self._lock:  # one action at a time on the session
            try:
                conn = await self._session.connect()
            except ConnectionLostError as exc:
                return Outcome(False, f"{self._name}: no session for the action: {exc}")
            try:
                return await self._send(conn, signal, pid, backend_start)
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    await self.close()
                return Outcome(False, self._explain(exc, conn, signal, pid))

    async def send_many(
        self, signal: Signal, backends: Sequence[tuple[int, datetime | None]]
    ) -> BulkOutcome:
        """Cancel or terminate many backends in one statement (keys C and K)."""
        if not backends:
            return BulkOutcome(False, f"nothing to {signal.value}")
        async with self._lock:
            try:
                conn = await self._session.connect()
            except ConnectionLostError as exc:
                return BulkOutcome(False, f"{self._name}: no session for the action: {exc}")
            probe = resolve("signal_backends", conn.info.server_version)
            assert probe is not None
            params = {
                "pids": [pid for pid, _ in backends],
                "starts": [start for _, start in backends],
                "terminate": signal is Signal.TERMINATE,
            }
            try:
                (rows,) = await run_batch(
                    conn,
                    [Query(compose(probe), params)],
                    statement_timeout_ms=self._settings.statement_timeout_ms,
                    lock_timeout_ms=self._settings.lock_timeout_ms,
                )
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    await self.close()
                return BulkOutcome(False, self._explain(exc, conn, signal, len(backends)))
        return _bulk_outcome(signal, rows, conn.info.user or "", len(backends))

    async def locks(self, pid: int, backend_start: datetime | None) -> LockReport:
        """The locks backend ``pid`` holds and awaits (the backend details screen's ``l``)."""
        async with self._lock:
            try:
                conn = await self._session.connect()
            except ConnectionLostError as exc:
                return LockReport(pid, error=f"{self._name}: no session to read locks: {exc}")
            probe = resolve("backend_locks", conn.info.server_version)
            assert probe is not None
            try:
                (rows,) = await run_batch(
                    conn,
                    [Query(compose(probe), {"pid": pid, "backend_start": backend_start})],
                    statement_timeout_ms=self._settings.statement_timeout_ms,
                    lock_timeout_ms=self._settings.lock_timeout_ms,
                )
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    await self.close()
                return LockReport(pid, error=f"{self._name}: locks of pid {pid}: {first_line(exc)}")
        return LockReport(
            pid,
            tuple(
                HeldLock(
                    granted=bool(r["granted"]),
                    locktype=r["locktype"],
                    mode=r["mode"],
                    target=r["target"],
                    database=r["database"],
                    count=int(r["count"]),
                )
                for r in rows
            ),
        )

    async def statement(
        self, queryid: int, user: str | None, database: str | None
    ) -> StatementReport:
        """Every counter of one pg_stat_statements entry (the statement details screen)."""
        async with self._lock:
            try:
                conn = await self._session.connect()
            except ConnectionLostError as exc:
                return StatementReport(error=f"{self._name}: no session: {exc}")
            timeout_ms = self._settings.statement_timeout_ms
            lock_ms = self._settings.lock_timeout_ms
            try:
                if self._pss is None:
                    context = resolve("capabilities", conn.info.server_version)
                    assert context is not None
                    (rows,) = await run_batch(
                        conn,
                        [Query(compose(context))],
                        statement_timeout_ms=timeout_ms,
                        lock_timeout_ms=lock_ms,
                    )
                    self._pss = (rows[0]["pss_version"], rows[0]["pss_schema"])
                version, schema = self._pss
                probe = resolve("statement_counters", conn.info.server_version, version)
                if probe is None:
                    return StatementReport(
                        error=f"{self._name}: pg_stat_statements is not installed in "
                        f"{quote_ident(conn.info.dbname)}"
                    )
                params = {"queryid": queryid, "user": user, "database": database}
                query = Query(compose(probe, schema), params)
                (rows,) = await run_batch(
                    conn, [query], statement_timeout_ms=timeout_ms, lock_timeout_ms=lock_ms
                )
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    await self.close()
                return StatementReport(
                    error=f"{self._name}: statement {queryid}: {first_line(exc)}"
                )
        if not rows:
            return StatementReport(error=f"statement {queryid} is no longer in pg_stat_statements")
        total = rows[0]["server_total_ms"]
        return StatementReport(
            counters=tuple(
                (name, value) for name, value in rows[0]["counters"].items() if name != "query"
            ),
            server_total_ms=float(total) if total is not None else None,
        )

    async def close(self) -> None:
        self._pss = None
        await self._session.close()

    # ------------------------------------------------------------------ internals

    async def _send(
        self, conn: Conn, signal: Signal, pid: int, backend_start: datetime | None
    ) -> Outcome:
        probe = resolve(_probe(signal), conn.info.server_version)
        assert probe is not None  # every action has a base variant
        params: dict[str, Any] = {
            "pid": pid,
            "backend_start": backend_start,
            "wait_ms": TERMINATE_WAIT_MS,
        }
        settings = self._settings
        (rows,) = await run_batch(
            conn,
            [Query(compose(probe), params)],
            statement_timeout_ms=max(settings.statement_timeout_ms, TERMINATE_WAIT_MS + 1000),
            lock_timeout_ms=settings.lock_timeout_ms,
        )
        if not rows:
            return Outcome(False, f"pid {pid} has exited already: nothing to {signal.value}")
        done = rows[0]["done"]
        if done is None:
            return Outcome(
                False,
                f"pid {pid} is another backend now (the one shown has exited): "
                f"nothing sent, refresh and choose again",
            )
        if signal is Signal.CANCEL:
            if done:
                return Outcome(True, f"pid {pid}: cancel sent to its query")
            return Outcome(False, f"pid {pid}: the server did not cancel (not a backend?)")
        if probe.floor >= (140000,):
            if done:
                return Outcome(True, f"pid {pid}: terminated")
            return Outcome(
                False,
                f"pid {pid}: terminate sent, still running after "
                f"{TERMINATE_WAIT_MS / 1000:g} s (it exits at its next check)",
            )
        if done:
            return Outcome(True, f"pid {pid}: terminate sent")
        return Outcome(False, f"pid {pid}: the server did not terminate it (not a backend?)")

    def _explain(self, exc: psycopg.Error, conn: Conn, signal: Signal, pid: int) -> str:
        """One line for a failed action on ``pid`` (or, in bulk, on that many backends)."""
        verb = "cancel the query of" if signal is Signal.CANCEL else "terminate"
        if isinstance(exc, errors.InsufficientPrivilege):
            role = quote_ident(conn.info.user or "")
            hint = SPECS[_probe(signal)].grant.format(role=role)
            return f"{self._name}: not allowed to {verb} pid {pid}: {hint}"
        if conn.broken or conn.closed:
            return (
                f"{self._name}: the action's session was lost ({first_line(exc)}): "
                f"whether pid {pid} got the signal is unknown; refresh and try again"
            )
        if isinstance(exc, errors.QueryCanceled):
            return f"{self._name}: could not {verb} pid {pid} in time ({first_line(exc)})"
        return f"{self._name}: could not {verb} pid {pid}: {first_line(exc)}"


class ActionSession:
    """One action session to one server: opened on first use, reopened once lost; close()
    also closes a session that was still opening (the app quitting mid look-up)."""

    def __init__(self, params: Mapping[str, Any], settings: ConnectionSettings) -> None:
        self.params = params
        self.settings = settings
        self.conn: Conn | None = None
        self._closes = 0  # close() calls so far: a session opened across one is closed too

    async def connect(self) -> Conn:
        if self.conn is not None and not (self.conn.closed or self.conn.broken):
            return self.conn
        await self.close()
        closes = self._closes
        conn = await open_action_session(self.params, self.settings)
        if closes != self._closes:
            await conn.close()
            raise ConnectionLostError("the action session was closed")
        self.conn = conn
        return conn

    async def close(self) -> None:
        self._closes += 1
        conn, self.conn = self.conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                await conn.close()


async def open_action_session(params: Mapping[str, Any], settings: ConnectionSettings) -> Conn:
    """A new action session (``<app> (actions)``), ready to read any server text;
    ConnectionLostError, one line, when it cannot be opened."""
    name = settings.application_name + ACTION_SESSION_SUFFIX
    conn = await connect_session(params, settings, application_name=name)
    try:
        await prepare_session(conn)
    except psycopg.Error as exc:
        await conn.close()
        raise ConnectionLostError(first_line(exc)) from None
    except BaseException:  # cancelled (the app closing): never leave a session open behind
        await conn.close()
        raise
    return conn


def _bulk_outcome(
    signal: Signal, rows: Sequence[Mapping[str, Any]], user: str, asked: int
) -> BulkOutcome:
    """The one line a bulk action ends with: "terminated 268 of 269; 1 already gone"."""
    gone = tuple(r["pid"] for r in rows if not r["present"] or r["replaced"])
    live = [r for r in rows if r["present"] and not r["replaced"]]
    refused = [r["pid"] for r in live if not r["allowed"]]
    if refused:
        hint = SPECS[_probe(signal)].grant.format(role=quote_ident(user))
        pids = ", ".join(str(pid) for pid in refused[:5]) + (" …" if len(refused) > 5 else "")
        return BulkOutcome(
            False,
            f"nothing sent: not allowed to {signal.value} {len(refused)} of the {asked} "
            f"(pid {pids}): {hint}",
            gone=gone,
        )
    signalled = tuple(r["pid"] for r in live if r["done"])
    failed = tuple(r["pid"] for r in live if not r["done"])
    verb = "cancel sent to" if signal is Signal.CANCEL else "terminated"
    message = f"{verb} {len(signalled)} of {asked}"
    if gone:
        message += f"; {len(gone)} already gone"
    if failed:
        message += f"; {len(failed)} not signalled by the server"
    return BulkOutcome(bool(signalled) and not failed, message, signalled, gone, failed)
