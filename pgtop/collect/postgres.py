"""PostgresSource: one monitoring session per PostgreSQL server, one round trip per tick.

connect() opens the session (autocommit, no protocol-level prepared statements, UTF-8 decoded
tolerantly), probes capabilities once, resolves each probe's SQL variant for this server, and
runs every probe once on its own (the "probe run"): a probe that fails for privileges or an
unsupported feature is switched off with one message saying what would enable it. poll() then
sends the tick's probes in one read-only transaction, in one message.

The tick probes (none takes a parameter) are PREPAREd by the probe run, under names of this
session's own, and each tick EXECUTEs them: the server plans them once per session instead of
once per tick, and their execution costs less too (measured under 100 busy pgbench clients:
the activity probe 3.4-3.8 ms a call prepared, 5.3-8.5 ms not). A pooler in transaction mode
may run a tick on a server connection that does not know them: the first such failure switches
preparing off for the session (plain statements, as before) and the tick is sent again.

Cadence by value (:meth:`PostgresSource.want`): what is on screen or feeds a health status
runs every tick: server, activity, standby, slots, archiver, progress (an info status), and the
replicas while a WAL sender runs (the activity rows of the tick before say so: without one,
pg_stat_replication is empty, and reading it costs a read of every backend's status again).
The lock graph is read from pg_locks only when the activity rows say it may have changed, and
at least every LOCKS_REFRESH_S while anything waits (:class:`~pgtop.collect.locktree.LockWatch`).
pg_stat_statements (:class:`~pgtop.feed.ProbeGroup`) is read every tick only while a consumer
shows it (or when no consumer ever said what it shows: ``pgtop snapshot``, the tests), else
every :data:`BACKGROUND_S`, and its size budget may space the reads further
(:class:`~pgtop.collect.statements.StatementTracker`); a tick between two reads carries the
last read, and the rates of a read are over the whole time since the previous one.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors, pq, sql

from pgtop.collect import rows as conv
from pgtop.collect.batch import Conn, Query, Scripts, run_batch, shut_down
from pgtop.collect.capabilities import (
    PLAYBOOK_SETTINGS,
    Capabilities,
    limitations,
    pss_missing_reason,
    quote_ident,
)
from pgtop.collect.locktree import Blocking, LockWatch, Wait, build_tree, count_waits
from pgtop.collect.per_database import connect_session, fetch_index_advice
from pgtop.collect.probes import SPECS, Probe, compose, resolve
from pgtop.collect.rates import interval_s
from pgtop.collect.safe_text import prepare_session
from pgtop.collect.source import ConnectionLostError, first_line
from pgtop.collect.statements import READ_PROBES, StatementTracker
from pgtop.config import ConnectionSettings
from pgtop.conninfo import parse_dsn
from pgtop.feed import ProbeGroup
from pgtop.model import (
    Replication,
    Role,
    Sample,
    ServerInfo,
    StatementsStatus,
    TableScan,
    UnusedIndex,
)

__all__ = ["PostgresSource"]

log = logging.getLogger(__name__)

# Errors that mean "this probe cannot work here": switch it off, say why, keep the rest.
_UNSUPPORTED = (
    errors.UndefinedFunction,
    errors.UndefinedTable,
    errors.UndefinedColumn,
    errors.FeatureNotSupported,
    errors.ObjectNotInPrerequisiteState,
)
_BAD_TEXT = (errors.CharacterNotInRepertoire, errors.UntranslatableCharacter)
_NAMES_REFRESH_S = 60.0
BACKGROUND_S = 30.0
"""How often a probe group no consumer shows is read (:class:`~pgtop.feed.ProbeGroup`)."""
_EARLY_S = 0.1  # a tick that comes a little early (timer jitter) still counts as on time
_GROUP_PROBES: dict[ProbeGroup, frozenset[str]] = {ProbeGroup.STATEMENTS: READ_PROBES}


def _gone(conn: Conn, exc: psycopg.Error) -> bool:
    """The session is gone (not just this statement failed): reconnect."""
    if conn.broken or conn.closed:
        return True
    if not exc.sqlstate:  # raised by libpq itself (the link), not by the server
        return isinstance(exc, psycopg.OperationalError)
    return exc.sqlstate[:2] in ("08", "57")  # connection exception, operator intervention


class PostgresSource:
    """The Source for one PostgreSQL server (primary or standby)."""

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
        self._conn: Conn | None = None
        self._caps: Capabilities | None = None
        self._info: ServerInfo | None = None
        self._plan: dict[str, Probe] = {}
        self._queries: dict[Probe, Query] = {}
        self._prepare = True  # PREPARE the tick probes (off: a pooler lost them)
        self._prepared: dict[str, str] = {}  # probe name → its prepared statement's name
        self._token = ""  # in the statements' names: this plan's own
        self._scripts = Scripts()
        self._messages: list[str] = []
        self._off_messages: list[str] = []  # probes switched off on this connection
        self._texts_off = False
        self._statements_off: str | None = None  # why statements are unavailable
        self._tracker = StatementTracker()
        self._roles: dict[int, str] = {}
        self._databases: dict[int, str] = {}
        self._names_at: float | None = None
        self._prev_server: Mapping[str, Any] | None = None
        self._prev_now: datetime | None = None
        self._reprobe = False
        self._wanted: frozenset[ProbeGroup] | None = None  # None: every group every tick
        self._read_at: dict[ProbeGroup, float] = {}  # monotonic start of the tick that read it
        self._tick_at: float | None = None  # monotonic start of the last tick with data
        self._tick_started = 0.0
        self._locks = LockWatch()  # the lock graph between reads of pg_locks
        self._walsenders = True  # the last tick saw a WAL sender (or none was seen yet)

    # ------------------------------------------------------------------ Source protocol

    @property
    def name(self) -> str:
        return self._name

    @property
    def info(self) -> ServerInfo | None:
        return self._info

    async def connect(self) -> ServerInfo:
        """Open (or re-open) the session and probe the server; ConnectionLostError on failure."""
        await self._drop()
        conn = await connect_session(self._params, self._settings)
        self._conn = conn
        self._prepare = True
        try:
            await prepare_session(conn)
            caps = await self._probe_capabilities_retrying(conn)
            self._adopt(caps)
            self._info = caps.server_info(self._name, conn.info.host, int(conn.info.port))
            await self._probe_run()
        except psycopg.Error as exc:
            await self._drop()
            raise ConnectionLostError(f"{self._name}: {first_line(exc)}") from None
        return self._info

    async def poll(self, *, _again: bool = False) -> Sample:
        """One tick: one round trip. ConnectionLostError when the session is gone."""
        conn = self._conn
        if conn is None or conn.closed or self._caps is None:
            raise ConnectionLostError(f"{self._name}: not connected")
        if self._reprobe:
            try:
                await self._probe_run()
            except psycopg.Error as exc:
                raise await self._lost(exc) from None
        keys, queries = self._tick_queries()
        started = time.perf_counter()
        try:
            results = await run_batch(
                conn,
                queries,
                statement_timeout_ms=self._settings.statement_timeout_ms,
                lock_timeout_ms=self._settings.lock_timeout_ms,
                scripts=self._scripts,
            )
        except errors.QueryCanceled as exc:
            if conn.broken:
                raise await self._lost(exc) from None
            return self._failed_tick(self._cancel_message(exc), started)
        except errors.LockNotAvailable:
            if conn.broken:
                raise await self._lost(None) from None
            ms = self._settings.lock_timeout_ms
            return self._failed_tick(
                f"poll waited too long for a lock (lock_timeout {ms} ms)", started
            )
        except psycopg.Error as exc:
            if _gone(conn, exc):
                raise await self._lost(exc) from None
            if isinstance(exc, errors.InvalidSqlStatementName) and self._prepared:
                # a pooler ran this transaction on a server connection that does not know
                # the prepared probes: plain statements from now on
                self._stop_preparing(exc)
                return await self.poll(_again=_again)
            # A standby promoted under this session fails its standby probe ("recovery is not
            # in progress"): that is a new role, not a broken connection. One round trip to
            # tell, on failures only.
            if not _again and await self._role_changed_now(conn):
                return await self.poll(_again=True)
            if isinstance(exc, psycopg.OperationalError):
                raise await self._lost(exc) from None
            if "statement_texts" in keys and isinstance(exc, _BAD_TEXT):
                # A text recorded in a SQL_ASCII database is not valid in this one: the server
                # refuses to return ANY text. Go on without texts (one extra round trip, once).
                self._texts_off = True
                self._off_messages.append(
                    f"statements: query texts switched off ({first_line(exc)}): a query "
                    "recorded in a SQL_ASCII database holds bytes this database cannot show"
                )
                self._messages.append(self._off_messages[-1])
                return await self.poll()
            self._reprobe = True  # find and switch off whatever failed, before the next tick
            return self._failed_tick(f"poll failed: {first_line(exc)}", started)
        poll_ms = (time.perf_counter() - started) * 1000.0
        by_key = dict(zip(keys, results, strict=True))
        if self._role_changed(by_key) and not _again and await self._role_changed_now(conn):
            return await self.poll(_again=True)
        return self._sample(by_key, poll_ms)

    async def close(self) -> None:
        await self._drop()

    def abandon(self) -> bool:
        """The server does not answer: make a pending poll fail now (the sampler's hang limit)."""
        return shut_down(self._conn)

    def want(self, groups: frozenset[ProbeGroup]) -> bool:
        """Read ``groups`` every tick from now on, the other groups every
        :data:`BACKGROUND_S`; True when a group shown now was not read by the last tick."""
        shown = frozenset(ProbeGroup) if self._wanted is None else self._wanted
        self._wanted = groups
        return any(self._behind(group) for group in groups - shown)

    def _behind(self, group: ProbeGroup) -> bool:
        """The last tick did not read ``group`` and a tick now would (a large
        pg_stat_statements keeps its own budget: no tick for nothing)."""
        read_at = self._read_at.get(group)
        if read_at is None or self._tick_at is None or read_at >= self._tick_at:
            return False
        return group is not ProbeGroup.STATEMENTS or self._tracker.read_due()

    def _due(self, group: ProbeGroup, now: float) -> bool:
        if self._wanted is None or group in self._wanted:
            return True
        read_at = self._read_at.get(group)
        return read_at is None or now - read_at + _EARLY_S >= BACKGROUND_S

    # ------------------------------------------------------------------ on demand

    async def index_advice(self) -> tuple[tuple[TableScan, ...], tuple[UnusedIndex, ...]]:
        """Missing- and unused-index candidates of the current database (own short session)."""
        return await fetch_index_advice(self._params, self._settings)

    # ------------------------------------------------------------------ connect steps

    async def _probe_capabilities_retrying(self, conn: Conn) -> Capabilities:
        """A role's own statement_timeout (say 1 ms) still applies to BEGIN and to the SET LOCAL
        statement itself: on a busy server those two may overrun it now and then. Retry."""
        for _ in range(2):
            try:
                return await self._probe_capabilities(conn)
            except errors.QueryCanceled:
                if conn.broken:
                    raise
        return await self._probe_capabilities(conn)

    async def _probe_capabilities(self, conn: Conn) -> Capabilities:
        caps_probe = resolve("capabilities", conn.info.server_version)
        settings_probe = resolve("settings", conn.info.server_version)
        assert caps_probe is not None
        assert settings_probe is not None
        caps_rows, settings_rows = await run_batch(
            conn,
            [
                Query(compose(caps_probe)),
                Query(compose(settings_probe), {"names": list(PLAYBOOK_SETTINGS)}),
            ],
            statement_timeout_ms=self._settings.statement_timeout_ms,
            lock_timeout_ms=self._settings.lock_timeout_ms,
        )
        return Capabilities.from_rows(caps_rows[0], settings_rows)

    def _adopt(self, caps: Capabilities) -> None:
        """Take a fresh capability probe: new plan; forget the previous counters on a restart
        or a different server (rates must not span a reset)."""
        old = self._caps
        if old is None or (old.started_at, old.version_num, old.dbname) != (
            caps.started_at,
            caps.version_num,
            caps.dbname,
        ):
            self._prev_server = None
            self._prev_now = None
            self._tracker.forget(reset=old is not None)
            self._names_at = None
        self._read_at = {}
        self._tick_at = None
        self._walsenders = True
        self._locks.forget()
        self._caps = caps
        self._plan = {}
        self._queries = {}
        self._prepared = {}  # a new plan, new names (the old statements stay in the session)
        self._token = secrets.token_hex(4)
        self._off_messages = []
        self._texts_off = False
        self._statements_off = None
        for name, spec in SPECS.items():
            if spec.when != "tick" or (spec.role is not None and spec.role is not caps.role):
                continue
            probe = resolve(name, caps.version_num, caps.pss_version)
            if probe is not None:
                self._plan[name] = probe
        if caps.pss_version is None:
            self._statements_off = pss_missing_reason(caps.dbname)
        elif "statements" not in self._plan:
            self._statements_off = (
                f"pg_stat_statements {caps.pss_version} is too old: run ALTER EXTENSION "
                "pg_stat_statements UPDATE"
            )

    async def _probe_run(self) -> None:
        """Run each tick probe once on its own; switch off those that cannot work here."""
        assert self._conn is not None
        assert self._caps is not None
        self._reprobe = False
        for name, probe in list(self._plan.items()):
            try:
                if self._prepare and name not in self._prepared:
                    await self._prepare_probe(name, probe)
                await run_batch(
                    self._conn,
                    [self._query(name, probe)],
                    statement_timeout_ms=self._settings.statement_timeout_ms,
                    lock_timeout_ms=self._settings.lock_timeout_ms,
                )
            except (errors.QueryCanceled, errors.LockNotAvailable):
                continue  # slow now, maybe not next time: keep it
            except psycopg.Error as exc:
                if self._conn.broken or isinstance(exc, psycopg.OperationalError):
                    raise
                del self._plan[name]
                message = self._switched_off(name, exc)
                self._off_messages.append(message)
                if name == "statements":
                    self._statements_off = message
        hints = limitations(self._caps)
        if "statements" not in self._plan:  # moot: statements are off altogether
            hints = [m for m in hints if not m.startswith("statements:")]
        self._messages = hints + self._off_messages

    async def _prepare_probe(self, name: str, probe: Probe) -> None:
        """PREPARE the probe under a name of this plan's own, in a transaction with the
        session's timeouts (prepared statements outlive it: they are not transactional)."""
        conn = self._conn
        assert conn is not None
        assert self._caps is not None
        statement = f"pgtop_{self._token}_{name}"
        timeouts = sql.SQL(
            "SELECT set_config('statement_timeout', {}, true), set_config('lock_timeout', {}, true)"
        ).format(
            sql.Literal(str(self._settings.statement_timeout_ms)),
            sql.Literal(str(self._settings.lock_timeout_ms)),
        )
        prepare = sql.SQL("PREPARE {} AS {}").format(
            sql.Identifier(statement), compose(probe, self._caps.pss_schema)
        )
        script = sql.SQL(";\n").join(
            [sql.SQL("BEGIN READ ONLY"), timeouts, prepare, sql.SQL("COMMIT")]
        )
        try:
            await conn.execute(script)
        except psycopg.Error:
            if not conn.broken and conn.info.transaction_status == pq.TransactionStatus.INERROR:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute(sql.SQL("ROLLBACK"))
            raise
        self._prepared[name] = statement
        self._queries.pop(probe, None)

    def _stop_preparing(self, exc: psycopg.Error) -> None:
        log.info("%s: prepared statements switched off (%s)", self._name, first_line(exc))
        self._prepare = False
        self._prepared = {}
        self._queries = {}

    def _switched_off(self, name: str, exc: psycopg.Error) -> str:
        assert self._caps is not None
        caps = self._caps
        if isinstance(exc, errors.InsufficientPrivilege):
            schema = quote_ident(caps.pss_schema or "public")
            hint = SPECS[name].grant.format(role=quote_ident(caps.user), schema=schema)
            return f"{name}: switched off ({first_line(exc)}): {hint}"
        if isinstance(exc, errors.ObjectNotInPrerequisiteState) and name.startswith("statement"):
            return (
                f"{name}: switched off ({first_line(exc)}): add pg_stat_statements to "
                "shared_preload_libraries and restart the server"
            )
        if isinstance(exc, _UNSUPPORTED):
            return f"{name}: not supported by this server ({first_line(exc)})"
        return f"{name}: switched off ({first_line(exc)})"

    # ------------------------------------------------------------------ ticks

    def _query(self, name: str, probe: Probe) -> Query:
        """The probe's Query; the same object every tick unless it carries parameters (the
        batch's script is then kept, see :class:`~pgtop.collect.batch.Scripts`)."""
        assert self._caps is not None
        if name == "statement_texts":
            statement = compose(probe, self._caps.pss_schema)
            queryids = sorted({queryid for _, _, queryid in self._tracker.wanted_texts[:1000]})
            return Query(statement, {"queryids": queryids}, tuples=True)
        if name == "lock_blockers":
            return Query(compose(probe), {"pids": list(self._locks.resolve)}, tuples=True)
        query = self._queries.get(probe)
        if query is None:
            prepared = self._prepared.get(name)
            statement = (
                sql.SQL("EXECUTE {}").format(sql.Identifier(prepared))
                if prepared is not None
                else compose(probe, self._caps.pss_schema)
            )
            # the rows read most come as tuples, no dict each
            query = Query(statement, tuples=name in ("statements", "activity", "locks"))
            self._queries[probe] = query
        return query

    def _tick_queries(self) -> tuple[list[str], list[Query]]:
        assert self._caps is not None
        now = self._tick_started = time.monotonic()
        keys = self._tracker.tick_keys(self._plan)  # large pg_stat_statements: read on a budget
        for group, probes in _GROUP_PROBES.items():
            if not self._due(group, now):
                keys = [key for key in keys if key not in probes]
        if not self._locks.read_due:  # the graph read last is still good
            keys = [key for key in keys if key != "locks"]
        if not self._walsenders:  # no WAL sender, no row in pg_stat_replication
            keys = [key for key in keys if key != "replicas"]
        if self._locks.resolve and "locks" in self._plan:
            keys.append("lock_blockers")
        if "statements" in self._plan:
            if self._tracker.wanted_texts and not self._texts_off:
                keys.append("statement_texts")
            stale = self._names_at is None or (
                self._tracker.unknown_oids and time.monotonic() - self._names_at > _NAMES_REFRESH_S
            )
            if stale:
                keys.append("names")
        queries = []
        for key in keys:
            probe = self._plan.get(key) or resolve(
                key, self._caps.version_num, self._caps.pss_version
            )
            assert probe is not None
            queries.append(self._query(key, probe))
        return keys, queries

    async def _role_changed_now(self, conn: Conn) -> bool:
        """Probe the server again; on a new role (a standby promoted, a primary demoted) adopt
        it: new plan, new ServerInfo, probe run. ConnectionLostError if that fails."""
        assert self._caps is not None
        try:
            caps = await self._probe_capabilities_retrying(conn)
            if caps.role is self._caps.role:
                return False
            self._adopt(caps)
            self._info = caps.server_info(self._name, conn.info.host, int(conn.info.port))
            await self._probe_run()
        except psycopg.Error as exc:
            raise await self._lost(exc) from None
        return True

    def _role_changed(self, results: Mapping[str, list[Any]]) -> bool:
        assert self._caps is not None
        rows = results.get("server")
        if not rows or rows[0].get("in_recovery") is None:
            return False
        in_recovery = bool(rows[0]["in_recovery"])
        return in_recovery != (self._caps.role is Role.STANDBY)

    def _cancel_message(self, exc: errors.QueryCanceled) -> str:
        if "statement timeout" in str(exc):
            ms = self._settings.statement_timeout_ms
            return f"poll timed out after {ms} ms (statement_timeout)"
        return f"poll cancelled: {first_line(exc)}"

    def _failed_tick(self, error: str, started: float) -> Sample:
        return Sample(
            source=self._name,
            taken_at=datetime.now(UTC),
            connected=True,
            info=self._info,
            poll_ms=(time.perf_counter() - started) * 1000.0,
            error=error,
            statements_status=self._off_status(),
            messages=tuple(self._messages),
        )

    def _off_status(self) -> StatementsStatus | None:
        if self._statements_off is not None:
            return StatementsStatus(available=False, reason=self._statements_off)
        return None

    def _sample(self, results: Mapping[str, list[Any]], poll_ms: float) -> Sample:
        caps = self._caps
        assert caps is not None
        taken_at = datetime.now(UTC)
        server_row = results["server"][0] if results.get("server") else None
        now = server_row["server_now"] if server_row else taken_at
        seconds = interval_s(self._prev_now, now)

        for group, probes in _GROUP_PROBES.items():
            if not probes.isdisjoint(results):
                self._read_at[group] = self._tick_started
        self._tick_at = self._tick_started

        activity_rows = results.get("activity", ())
        if "activity" in results:
            kind = conv.ACTIVITY_BACKEND_TYPE
            self._walsenders = any(r[kind] == "walsender" for r in activity_rows)
        blocking, waits = self._blocking(activity_rows, results)
        blocked_by = blocking.blocked_by
        backends = tuple(
            conv.backend(r, blocked_by.get(r[conv.ACTIVITY_PID], ())) for r in activity_rows
        )
        stats = None
        if server_row is not None:
            stats = conv.server_stats(
                server_row, self._prev_server, seconds, backends, caps.max_connections
            )
            self._prev_server = server_row
        self._prev_now = now

        replication = Replication(
            role=caps.role,
            replicas=tuple(conv.replica(r) for r in results.get("replicas", ())),
            slots=tuple(conv.slot(r) for r in results.get("slots", ())),
            archiver=conv.archiver(results["archiver"][0]) if results.get("archiver") else None,
            standby=conv.standby(results["standby"][0]) if results.get("standby") else None,
        )

        if "names" in results:
            self._names_at = time.monotonic()
            self._roles = {r["oid"]: r["name"] for r in results["names"] if r["kind"] == "role"}
            self._databases = {
                r["oid"]: r["name"] for r in results["names"] if r["kind"] == "database"
            }
        if "statement_texts" in results:
            self._tracker.texts.store(results["statement_texts"], self._tracker.wanted_texts[:1000])
        statements: tuple[Any, ...] = ()
        status = self._off_status()
        if "statements" in self._plan:
            info = results.get("statements_info")
            statements, status = self._tracker.update(
                results.get("statements"),  # None: not read this tick
                info[0] if info else None,
                seconds,
                self._roles,
                self._databases,
            )
        return Sample(
            source=self._name,
            taken_at=taken_at,
            connected=True,
            info=self._info,
            interval_s=seconds,
            poll_ms=poll_ms,
            stats=stats,
            activity=backends,
            summary=conv.summary(backends),
            locks=build_tree(backends, waits),
            lock_counts=count_waits(waits),
            locks_unresolved=blocking.unresolved,
            replication=replication,
            statements=statements,
            statements_status=status,
            progress=tuple(conv.progress(r) for r in results.get("progress", ())),
            messages=tuple(self._messages),
        )

    def _blocking(
        self, activity: Sequence[Sequence[Any]], results: Mapping[str, list[Any]]
    ) -> tuple[Blocking, tuple[Wait, ...]]:
        """Who blocks whom: from this tick's read of pg_locks (pure Python), or from the last
        read while the activity rows show nothing that could change it (:class:`LockWatch`)."""
        assert self._caps is not None
        caps = self._caps
        pid, state_s = conv.ACTIVITY_PID, conv.ACTIVITY_STATE_S
        read = conv.locks(results["locks"]) if "locks" in results else None
        # what identifies a backend's wait: its statement and wait event
        kind, event, start = (
            conv.ACTIVITY_WAITING,
            conv.ACTIVITY_WAIT_EVENT,
            conv.ACTIVITY_QUERY_START,
        )
        waiting = {r[pid]: (r[start], r[event]) for r in activity if r[kind] == "Lock"}
        if read is None and not waiting and not self._locks.holding:
            return self._locks.update(self._tick_started, None, waiting, {})
        xact = conv.ACTIVITY_XACT_START
        xacts = {r[pid]: r[xact] for r in activity}

        def leaders() -> dict[int, int]:
            leader = conv.ACTIVITY_LEADER_PID
            return {r[pid]: r[leader] for r in activity if r[leader] not in (None, r[pid])}

        def ages() -> dict[int, float]:
            if caps.version_num >= 140000:  # pg_locks.waitstart gives the queue order
                return {}
            return {r[pid]: r[state_s] for r in activity if r[state_s] is not None}

        answers = {int(p): tuple(b) for p, b in results.get("lock_blockers", ()) if b}
        return self._locks.update(
            self._tick_started, read, waiting, xacts, leaders=leaders, ages=ages, answers=answers
        )

    # ------------------------------------------------------------------ connection loss

    async def _lost(self, exc: BaseException | None) -> ConnectionLostError:
        await self._drop()
        reason = first_line(exc) if exc is not None else "the connection broke"
        return ConnectionLostError(f"{self._name}: lost the connection ({reason})")

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(Exception):
                await conn.close()
