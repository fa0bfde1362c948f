"""EXPLAIN and EXPLAIN ANALYZE (``e``, ``E``) on sessions of pgtop's own, one per server and
database: the :class:`~pgtop.explaining.Explainer` the UI holds.

**Where.** A plan is made where the row lives: on *that* server (a standby's rows on the
standby) and in *that* database (the monitoring DSN's parameters with ``dbname`` replaced). One
session per (server, database) is opened on first use and kept (reopened when it was lost; the
least recently used beyond :data:`MAX_SESSIONS` are closed). The monitoring session never runs
an EXPLAIN, so a plan never delays a tick, and nothing here blocks the event loop.

**How**, one transaction per run::

    BEGIN READ ONLY; SET LOCAL statement_timeout = …; SET LOCAL lock_timeout = …
    explain_context.sql                       the server, pg_stat_statements' schema here
    explain_activity.sql / _statement_text    the text, read on this very session
    SAVEPOINT; PREPARE pgtop_explain AS <text>    the server parses it once …
    explain_parameters.sql                    … and says how many $n parameters it has
    EXPLAIN (FORMAT JSON, …) <text>           twice for plain EXPLAIN: JSON, then TEXT
      or SET LOCAL plan_cache_mode = force_generic_plan;
         EXPLAIN (FORMAT JSON, …) EXECUTE pgtop_explain(NULL, …)   when it has parameters
    DEALLOCATE; ROLLBACK — always; then DISCARD ALL

**Guards by construction** (STYLE.md 20), never by reading the text: every statement that
carries the text goes out with the *extended* protocol, whose Parse message the server refuses
when it holds more than one command ("cannot insert multiple commands into a prepared
statement"), so ``SELECT 1; DELETE FROM t`` runs nothing. psycopg sends a statement without
parameters with the simple protocol (which runs every command in it) unless results are asked in
binary: :func:`_plan_rows` asks ``binary=True`` for exactly that reason, and a test checks the
server's refusal. The text is composed with nothing but the ``EXPLAIN (…)`` or ``PREPARE … AS``
prefix. A write under ANALYZE is refused by the read-only transaction (SQLSTATE 25006), locks
are bounded by lock_timeout, time by statement_timeout, and ROLLBACK undoes the rest; DISCARD ALL
then drops what survives a rollback (a session-level advisory lock the query took, prepared
statements, settings).

**Generic plans.** A pg_stat_statements text has its constants replaced by ``$1 …`` (and a
client using the extended protocol shows its statement that way in pg_stat_activity): there are
no values, so the plan is the generic one, made by ``PREPARE`` (parameter types inferred by the
server) + ``plan_cache_mode = force_generic_plan`` + ``EXPLAIN EXECUTE …(NULL, …)`` on every
version. ``EXPLAIN (GENERIC_PLAN)`` (PostgreSQL 16+) is not used: through the extended protocol
a ``$n`` in the text is a parameter of the protocol message itself, which must then be bound —
and bound NULLs are folded into the plan ("One-Time Filter: false"), not planned generically
(checked on 16+). ANALYZE of such a text is refused (no values to run it with).

**ANALYZE runs the query once**: its JSON plan only (with ``WAL``, ``BUFFERS``, ``SETTINGS``); a
text view is derived from the JSON. Plain EXPLAIN runs twice (JSON and TEXT), which costs a plan
but never a run.

**Cancel** (``esc``): :meth:`PlanExplainer.cancel` sends a protocol cancel request
(``cancel_safe``, the session's own key: no privilege needed) to each session running an
EXPLAIN; the run ends with "cancelled", then the session is cleaned (ROLLBACK, DISCARD ALL) or,
if that fails, closed.

Every failure is one line (:class:`~pgtop.explaining.ExplainFailure`); nothing but a programming
error raises out of :meth:`PlanExplainer.explain`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import adapt, pq, sql
from psycopg.abc import Buffer
from psycopg.rows import dict_row

from pgtop.collect.batch import Conn
from pgtop.collect.capabilities import quote_ident
from pgtop.collect.per_database import connect_session
from pgtop.collect.probes import SPECS, compose, resolve
from pgtop.collect.safe_text import prepare_session
from pgtop.collect.source import ConnectionLostError, first_line
from pgtop.config import ConnectionSettings
from pgtop.conninfo import parse_dsn
from pgtop.explaining import (
    BackendTarget,
    ExplainFailure,
    ExplainResult,
    ExplainTarget,
    Explanation,
    StatementTarget,
    TextSource,
)
from pgtop.redact import redact_secrets

__all__ = [
    "DEFAULT_LOCK_TIMEOUT_MS",
    "DEFAULT_STATEMENT_TIMEOUT_MS",
    "EXPLAIN_SESSION_SUFFIX",
    "MAX_SESSIONS",
    "PREPARED_NAME",
    "PlanExplainer",
]

EXPLAIN_SESSION_SUFFIX = " (explain)"
"""Appended to pgtop's application_name for the explain sessions."""

DEFAULT_STATEMENT_TIMEOUT_MS = 10_000
DEFAULT_LOCK_TIMEOUT_MS = 1_000
MAX_SESSIONS = 4
"""Explain sessions kept open at most (per explainer); the least recently used go first."""

PREPARED_NAME = "pgtop_explain"
CANCEL_TIMEOUT_S = 5.0

# the one concatenation: one of these prefixes + the text, as bytes (nothing else is added)
_EXPLAIN_JSON = sql.SQL("EXPLAIN (FORMAT JSON, BUFFERS, SETTINGS) ")
_EXPLAIN_TEXT = sql.SQL("EXPLAIN (FORMAT TEXT, BUFFERS, SETTINGS) ")
_EXPLAIN_ANALYZE = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON, BUFFERS, WAL, SETTINGS) ")
_PREPARE = sql.SQL("PREPARE {} AS ").format(sql.Identifier(PREPARED_NAME))
_EXECUTE = sql.SQL("EXECUTE {}").format(sql.Identifier(PREPARED_NAME))
_DEALLOCATE = sql.SQL("DEALLOCATE {}").format(sql.Identifier(PREPARED_NAME))
_GENERIC = sql.SQL("SET LOCAL plan_cache_mode = force_generic_plan")
_SAVEPOINT = sql.SQL("SAVEPOINT pgtop_prepare")
_TO_SAVEPOINT = sql.SQL("ROLLBACK TO SAVEPOINT pgtop_prepare")
_ROLLBACK = sql.SQL("ROLLBACK")
_DISCARD = sql.SQL("DISCARD ALL")

_EXPLAINABLE = (
    "EXPLAIN takes one SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, EXECUTE, DECLARE "
    "or CREATE TABLE AS"
)
_BY_HAND = "to run it for real, in psql: BEGIN; EXPLAIN ANALYZE …; ROLLBACK;"


class _ReplacingBinaryText(adapt.Loader):
    """Binary-format text and json (the plan rows come in binary, see the module doc): UTF-8,
    invalid bytes replaced, never raising (a SQL_ASCII database may hold any bytes)."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> str:
        return str(data, "utf-8", "replace")


class _RunError(Exception):
    """A run's end as one line for the user."""

    def __init__(self, message: str, sqlstate: str | None = None, *, cancelled: bool = False):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.cancelled = cancelled


class _SessionLostError(Exception):
    """The session broke under the run; ``fresh``: before anything was sent (a retry on a new
    session is safe)."""

    def __init__(self, message: str, *, fresh: bool) -> None:
        super().__init__(message)
        self.fresh = fresh


@dataclass(slots=True)
class _Session:
    conn: Conn
    lock: asyncio.Lock


@dataclass(slots=True, eq=False)  # hashed by identity: kept in a set while running
class _Run:
    """One explain in progress: what cancel() needs to reach it."""

    conn: Conn | None = None
    cancelled: bool = False
    began: bool = False
    began_at: float = 0.0  # time.monotonic() at BEGIN


@dataclass(frozen=True, slots=True)
class _Text:
    """The text to explain and what the screen must say about it."""

    text: str
    source: TextSource
    notes: tuple[str, ...] = ()
    truncated: bool = False
    where: str = "pg_stat_statements"  # who hides the values of its $n parameters


def _ms(ms: int) -> str:
    """``10000`` → ``10 s``, ``1500`` → ``1.5 s``, ``250`` → ``250 ms``."""
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms} ms"


def _for_display(text: str) -> str:
    """The text with secret literals replaced (``pgtop.redact``)."""
    return redact_secrets(text)


def _plan_for_display(value: Any) -> Any:
    """The parsed plan with every string redacted (a Filter or Index Cond quotes the query's
    literals)."""
    if isinstance(value, str):
        return _for_display(value)
    if isinstance(value, list):
        return [_plan_for_display(item) for item in value]
    if isinstance(value, dict):
        return {key: _plan_for_display(item) for key, item in value.items()}
    return value


class PlanExplainer:
    """EXPLAIN on sessions of its own (see the module docstring).

    ``servers`` maps each source name ("primary", "replica …") to its monitoring DSN (None:
    libpq's environment); ``dbname`` is replaced by the row's database for each session.
    """

    def __init__(
        self,
        servers: Mapping[str, str | None],
        *,
        settings: ConnectionSettings | None = None,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
        lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
        read_only: bool = False,
    ) -> None:
        self._params = {name: parse_dsn(dsn) for name, dsn in servers.items()}
        self._settings = settings or ConnectionSettings()
        self._statement_timeout_ms = statement_timeout_ms
        self._lock_timeout_ms = lock_timeout_ms
        self._read_only = read_only
        self._sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()
        self._opening: dict[tuple[str, str], asyncio.Lock] = {}  # a slow connect holds its key only
        self._closes = 0  # close() calls so far: a session opened across one is closed too
        self._runs: set[_Run] = set()

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(self._params)

    @property
    def read_only(self) -> bool:
        return self._read_only

    async def explain(self, target: ExplainTarget, *, analyze: bool = False) -> ExplainResult:
        """EXPLAIN (ANALYZE) the target's query; an ExplainFailure, one line, when it cannot."""
        database = target.database
        if target.server not in self._params:
            return self._failure(target, f"no explain session is set up for {target.server}")
        if analyze and self._read_only:
            return self._failure(
                target, "EXPLAIN ANALYZE is off in read-only mode (--read-only): plain EXPLAIN only"
            )
        if not database:
            what = f"pid {target.pid}" if isinstance(target, BackendTarget) else "the statement"
            return self._failure(target, f"{what} has no database: nothing to explain there")
        run = _Run()
        self._runs.add(run)
        try:
            return await self._explain(target, database, analyze, run)
        except _RunError as failed:
            return self._failure(target, failed.message, failed.sqlstate, failed.cancelled)
        finally:
            self._runs.discard(run)

    async def cancel(self) -> bool:
        """Cancel every EXPLAIN running now; True when there was one."""
        runs = [run for run in self._runs if not run.cancelled]
        for run in runs:
            run.cancelled = True
        for run in runs:
            if run.conn is not None and not run.conn.closed:
                with contextlib.suppress(psycopg.Error):
                    await run.conn.cancel_safe(timeout=CANCEL_TIMEOUT_S)
        return bool(runs)

    async def close(self) -> None:
        self._closes += 1
        await self.cancel()
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await _close(session.conn)

    # ------------------------------------------------------------------ sessions

    def _failure(
        self,
        target: ExplainTarget,
        message: str,
        sqlstate: str | None = None,
        cancelled: bool = False,
    ) -> ExplainFailure:
        return ExplainFailure(
            server=target.server,
            database=target.database,
            message=_for_display(message),
            sqlstate=sqlstate,
            cancelled=cancelled,
        )

    async def _explain(
        self, target: ExplainTarget, database: str, analyze: bool, run: _Run
    ) -> Explanation:
        key = (target.server, database)
        for attempt in (1, 2):
            session = await self._session(key, run)
            async with session.lock:
                if not _usable(session.conn):
                    await self._drop(key, session)
                    continue
                run.conn = session.conn
                run.began = False
                try:
                    return await self._run(session.conn, target, analyze, run)
                except _SessionLostError as lost:
                    await self._drop(key, session)
                    if run.cancelled:
                        raise _RunError("cancelled", cancelled=True) from None
                    if lost.fresh and attempt == 1:
                        continue  # a kept session the server closed meanwhile: open a new one
                    raise _RunError(f"the explain session was lost: {lost}") from None
                finally:
                    run.conn = None
                    await self._clean(key, session)
        raise _RunError("the explain session was lost twice in a row")

    async def _session(self, key: tuple[str, str], run: _Run) -> _Session:
        async with self._opening.setdefault(key, asyncio.Lock()):
            session = self._sessions.get(key)
            if session is not None and (session.lock.locked() or _usable(session.conn)):
                self._sessions.move_to_end(key)
                return session
            if session is not None:
                await self._drop(key, session)
            if run.cancelled:
                raise _RunError("cancelled", cancelled=True)
            server, database = key
            params = {**self._params[server], "dbname": database}
            name = self._settings.application_name + EXPLAIN_SESSION_SUFFIX
            closes = self._closes
            try:
                conn = await connect_session(params, self._settings, application_name=name)
            except ConnectionLostError as exc:
                raise _RunError(f"no session to {database} on {server}: {exc}") from None
            try:
                await prepare_session(conn)
            except psycopg.Error as exc:
                await _close(conn)
                raise _RunError(
                    f"no session to {database} on {server}: {first_line(exc)}"
                ) from None
            except BaseException:  # cancelled: never leave a session open behind
                await _close(conn)
                raise
            if closes != self._closes:  # closed while it opened (the app quitting)
                await _close(conn)
                raise _RunError("cancelled", cancelled=True)
            for type_name in ("text", "json"):
                conn.adapters.register_loader(type_name, _ReplacingBinaryText)
            session = _Session(conn, asyncio.Lock())
            self._sessions[key] = session
            await self._evict()
            return session

    async def _evict(self) -> None:
        """Close the least recently used idle sessions beyond MAX_SESSIONS."""
        for key, session in list(self._sessions.items()):
            if len(self._sessions) <= MAX_SESSIONS:
                return
            if not session.lock.locked():
                await self._drop(key, session)

    async def _drop(self, key: tuple[str, str], session: _Session) -> None:
        if self._sessions.get(key) is session:
            del self._sessions[key]
        await _close(session.conn)

    async def _clean(self, key: tuple[str, str], session: _Session) -> None:
        """ROLLBACK (whatever state the run left) and DISCARD ALL: the session is as new, or
        closed when that fails (a cancel that landed here, a lost connection)."""
        conn = session.conn
        if conn.closed or conn.broken:
            await self._drop(key, session)
            return
        try:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                await conn.execute(_ROLLBACK)
            await conn.execute(_DISCARD)
            await prepare_session(conn)  # DISCARD ALL resets client_encoding too
        except psycopg.Error:
            await self._drop(key, session)
        except asyncio.CancelledError:
            await self._drop(key, session)
            raise

    # ------------------------------------------------------------------ one run

    async def _run(
        self, conn: Conn, target: ExplainTarget, analyze: bool, run: _Run
    ) -> Explanation:
        try:
            return await self._steps(conn, target, analyze, run)
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise _SessionLostError(first_line(exc), fresh=not run.began) from None
            if run.cancelled:
                raise _RunError("cancelled", exc.sqlstate, cancelled=True) from None
            elapsed_s = time.monotonic() - run.began_at
            raise _RunError(self._describe(exc, conn, elapsed_s), exc.sqlstate) from None

    async def _steps(
        self, conn: Conn, target: ExplainTarget, analyze: bool, run: _Run
    ) -> Explanation:
        def check() -> None:
            if run.cancelled:
                raise _RunError("cancelled", cancelled=True)

        check()
        await conn.execute(
            sql.SQL(
                "BEGIN READ ONLY; SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}"
            ).format(sql.Literal(self._statement_timeout_ms), sql.Literal(self._lock_timeout_ms))
        )
        run.began, run.began_at = True, time.monotonic()
        (context,) = await _probe(conn, "explain_context")
        version = int(context["server_version_num"])
        check()
        if isinstance(target, BackendTarget):
            found = await self._activity_text(conn, target, context)
        else:
            found = await self._statement_text(conn, target, context)
        check()
        parameters = await self._prepare(conn, found.text)
        check()
        notes = list(found.notes)
        generic = parameters > 0
        if generic:
            s = "" if parameters == 1 else "s"
            if analyze:
                raise _RunError(
                    f"EXPLAIN ANALYZE needs values: the text has {parameters} parameter{s} "
                    f"($1 …) whose values {found.where} does not show; plain EXPLAIN gives "
                    f"its generic plan"
                )
            notes.append(
                f"generic plan: the text has {parameters} parameter{s} ($1 …) without values "
                f"(PREPARE, plan_cache_mode = force_generic_plan, EXECUTE with NULLs)"
            )
            await conn.execute(_GENERIC)
            execute = _EXECUTE + sql.SQL("({})").format(sql.SQL(", ").join([sql.NULL] * parameters))
            body = execute.as_bytes(conn)
        else:
            body = _encode(conn, found.text)
        started = time.monotonic()
        if analyze:
            (row,) = await _plan_rows(conn, _EXPLAIN_ANALYZE.as_bytes(conn) + body)
            lines: tuple[str, ...] = ()
        else:
            (row,) = await _plan_rows(conn, _EXPLAIN_JSON.as_bytes(conn) + body)
            check()
            lines = tuple(
                line for (line,) in await _plan_rows(conn, _EXPLAIN_TEXT.as_bytes(conn) + body)
            )
        duration = time.monotonic() - started
        if parameters >= 0:
            await conn.execute(_DEALLOCATE)
        return Explanation(
            server=target.server,
            database=str(context["dbname"]),
            source=found.source,
            query=_for_display(found.text),
            plan=_plan_for_display(json.loads(row[0])),
            text=tuple(_for_display(line) for line in lines),
            analyzed=analyze,
            generic=generic,
            parameters=max(parameters, 0),
            duration_s=duration,
            notes=tuple(notes),
            standby=bool(context["in_recovery"]),
            server_version_num=version,
            activity_truncated=found.truncated,
            track_activity_query_size=(
                str(context["track_activity_query_size"])
                if isinstance(target, BackendTarget)
                else None
            ),
        )

    async def _prepare(self, conn: Conn, text: str) -> int:
        """How many parameters the server finds in ``text`` (PREPARE, then
        pg_prepared_statements); -1 when the statement cannot be prepared (CREATE TABLE AS,
        DECLARE, EXECUTE … or no statement EXPLAIN takes: EXPLAIN itself then says)."""
        await conn.execute(_SAVEPOINT)
        try:
            await _plan_rows(conn, _PREPARE.as_bytes(conn) + _encode(conn, text), rows=False)
        except psycopg.Error as exc:
            if exc.sqlstate != "42601" or conn.broken or conn.closed:
                raise
            await conn.execute(_TO_SAVEPOINT)
            return -1
        rows = await _probe(conn, "explain_parameters", {"name": PREPARED_NAME})
        return int(rows[0]["parameters"]) if rows else 0

    async def _activity_text(
        self, conn: Conn, target: BackendTarget, context: Mapping[str, Any]
    ) -> _Text:
        pid = target.pid
        version = int(context["server_version_num"])
        params = {"pid": pid, "backend_start": target.backend_start}
        rows = await _probe(conn, "explain_activity", params)
        if not rows:
            raise _RunError(f"pid {pid} has exited: nothing to explain")
        row = rows[0]
        if row["same_backend"] is False:
            raise _RunError(
                f"pid {pid} is another backend now (the one shown has exited): "
                f"nothing explained, refresh and choose again"
            )
        if not row["visible"]:
            hint = SPECS["explain_activity"].grant.format(role=quote_ident(context["user_name"]))
            raise _RunError(f"cannot read the query of pid {pid}: {hint}")
        if row["backend_type"] not in ("client backend", "parallel worker"):
            raise _RunError(
                f"pid {pid} is a {row['backend_type']}: no query of a client to explain"
            )
        if row["datname"] != context["dbname"]:
            raise _RunError(
                f"pid {pid} runs in database {quote_ident(row['datname'] or '')}, "
                f"not in {quote_ident(context['dbname'])}: refresh and choose again"
            )
        query = row["query"] or ""
        if not query.strip():
            raise _RunError(f"pid {pid} ({row['state'] or 'no state'}) has no query to explain")
        notes: list[str] = []
        if row["state"] != "active":
            notes.append(f"pid {pid} is {row['state']}: its last query was explained")
        if not row["truncated"]:
            return _Text(query, TextSource.ACTIVITY, tuple(notes), where="pg_stat_activity")
        setting = context["track_activity_query_size"]
        cut = (
            f"activity text truncated at {row['query_bytes']} bytes "
            f"(track_activity_query_size = {setting})"
        )
        if version < 140000:
            raise _RunError(f"{cut}; PostgreSQL 13 shows no query_id to find the full text")
        if row["query_id"] is None:
            raise _RunError(
                f"{cut}; no query_id to find the full text (compute_query_id is off, or the "
                f"query is not running any more)"
            )
        if context["pss_schema"] is None:
            raise _RunError(
                f"{cut}; pg_stat_statements is not installed in "
                f"{quote_ident(context['dbname'])} to find the full text"
            )
        full = await self._pss_text(
            conn, context, row["query_id"], userid=row["userid"], prefix=f"{cut}; "
        )
        if full is None:
            raise _RunError(
                f"{cut}; query_id {row['query_id']} is not in pg_stat_statements (it shows a "
                f"statement once a run of it has ended; or it was evicted or reset)"
            )
        notes.insert(0, f"{cut}; explained the full text from pg_stat_statements")
        return _Text(full, TextSource.STATEMENTS, tuple(notes), truncated=True)

    async def _statement_text(
        self, conn: Conn, target: StatementTarget, context: Mapping[str, Any]
    ) -> _Text:
        if context["pss_schema"] is None:
            raise _RunError(
                f"pg_stat_statements is not installed in {quote_ident(context['dbname'])}: "
                f"no statement text to explain there"
            )
        text = await self._pss_text(
            conn, context, target.queryid, userid=target.userid, user=target.user
        )
        if text is None:
            raise _RunError(
                f"queryid {target.queryid} is not in pg_stat_statements for "
                f"{quote_ident(context['dbname'])} any more (evicted or reset)"
            )
        return _Text(text, TextSource.STATEMENTS)

    async def _pss_text(
        self,
        conn: Conn,
        context: Mapping[str, Any],
        queryid: int,
        *,
        userid: int | None = None,
        user: str | None = None,
        prefix: str = "",
    ) -> str | None:
        """The entry's text; None when it is not there. A role without pg_read_all_stats does
        not see other roles' queryids: that is said, with the grant."""
        probe = resolve(
            "explain_statement_text", int(context["server_version_num"]), context["pss_version"]
        )
        if probe is None:
            return None
        params = {"queryid": queryid, "userid": userid, "user": user}
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(compose(probe, context["pss_schema"]), params)
            row = await cur.fetchone()
        assert row is not None  # one row, always
        text: str = row["query"] or ""
        if text.strip():
            return text
        if not row["reads_all"]:
            role = quote_ident(context["user_name"])
            hint = SPECS["explain_statement_text"].grant.format(role=role)
            raise _RunError(
                f"{prefix}queryid {queryid} is not among the pg_stat_statements entries {role} "
                f"may read ({hint})"
            )
        return None

    def _describe(self, exc: psycopg.Error, conn: Conn, elapsed_s: float) -> str:
        """A server's refusal as one line (``elapsed_s``: since BEGIN)."""
        line = first_line(exc)
        state = exc.sqlstate
        if state == "57014":
            # the message tells the two apart in English; the time, in any language
            timed_out = "statement timeout" in line or (
                "user request" not in line and elapsed_s * 1000 >= self._statement_timeout_ms
            )
            if timed_out:
                return f"stopped by statement_timeout ({_ms(self._statement_timeout_ms)})"
            return f"cancelled on the server by someone else ({line})"
        if state == "55P03":
            return (
                f"gave up waiting for a lock after lock_timeout ({_ms(self._lock_timeout_ms)}): "
                f"another session holds or awaits a conflicting lock on a table it uses"
            )
        if state == "25006":
            return f"refused: {line} (pgtop runs EXPLAIN ANALYZE read-only); {_BY_HAND}"
        if state == "42501":
            role = quote_ident(conn.info.user or "")
            return (
                f"not allowed: {line}: {role} needs the privilege the statement uses (to read a "
                f"table: GRANT SELECT ON it TO {role}, or GRANT pg_read_all_data TO {role} on "
                f"PostgreSQL 14+)"
            )
        if state == "42601":
            return f"cannot be explained: {line} ({_EXPLAINABLE})"
        return f"{line} (SQLSTATE {state})" if state else line


# ---------------------------------------------------------------------- helpers


def _usable(conn: Conn) -> bool:
    return not (conn.closed or conn.broken) and (
        conn.info.transaction_status == pq.TransactionStatus.IDLE
    )


async def _close(conn: Conn) -> None:
    if not conn.closed:
        with contextlib.suppress(psycopg.Error):
            await conn.close()


def _encode(conn: Conn, text: str) -> bytes:
    """The text as the session's client encoding expects it (in a SQL_ASCII database the
    session reads bytes as they are stored: UTF-8 is sent back)."""
    encoding = conn.info.encoding
    return text.encode("utf-8" if encoding == "ascii" else encoding, "replace")


async def _probe(
    conn: Conn, name: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Rows of one of the explain probes (server axis), resolved for this session's server."""
    probe = resolve(name, conn.info.server_version)
    assert probe is not None  # every explain probe has a base variant
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(compose(probe), params)
        return await cur.fetchall()


async def _plan_rows(conn: Conn, statement: bytes, *, rows: bool = True) -> list[tuple[Any, ...]]:
    """Run a statement that carries a query text, with the EXTENDED protocol.

    ``binary=True`` is what makes psycopg send a statement without parameters as Parse/Bind/
    Execute rather than as a simple Query: the server then refuses more than one command in it.
    Text and json come back in binary through :class:`_ReplacingBinaryText`.
    """
    async with conn.cursor() as cur:
        await cur.execute(statement, binary=True)
        return await cur.fetchall() if rows else []
