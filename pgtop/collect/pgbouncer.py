"""BouncerSource: PgBouncer's admin console (``dbname=pgbouncer``) as a Source.

The admin console speaks only the simple query protocol (psycopg ``AsyncClientCursor``,
autocommit, no prepared statements) and accepts exactly ONE command per Query message: its parser
is ``^ WORD [WORD] [;]$`` and answers ``SHOW POOLS; SHOW STATS`` with "invalid command". The
extended protocol, and so libpq pipeline mode, makes it drop the connection (measured on 1.18).
A poll therefore costs five round trips on one connection, one per SHOW; on loopback that is
about a millisecond in total, and nothing else is sent per tick.

Rows are mapped by column name in :mod:`pgtop.collect.pgbouncer_rows`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from pgtop.collect.batch import shut_down
from pgtop.collect.pgbouncer_rows import (
    ADMIN_DATABASE,
    StatsTotals,
    parse_version,
    pools_from_rows,
    records,
    stats_rates,
    totals_from_rows,
)
from pgtop.collect.source import ConnectionLostError
from pgtop.conninfo import (
    PgtopError,
    connect_kwargs,
    describe_connect_error,
    dsn_for_display,
    parse_dsn,
    redact,
)
from pgtop.model import BouncerSample, BouncerStats, Role, ServerInfo

__all__ = ["BouncerSource"]

# One command per round trip (see the module docstring); the order does not matter.
_COMMANDS: Final = ("SHOW STATS", "SHOW POOLS", "SHOW DATABASES", "SHOW CLIENTS", "SHOW SERVERS")

# SHOW CONFIG entries kept in ServerInfo.settings (read once per connection).
_SETTINGS: Final = frozenset(
    {
        "pool_mode",
        "default_pool_size",
        "min_pool_size",
        "reserve_pool_size",
        "max_client_conn",
        "max_db_connections",
        "max_user_connections",
        "server_lifetime",
        "server_idle_timeout",
        "query_wait_timeout",
        "client_idle_timeout",
        "stats_period",
    }
)

_STATS_USERS_FIX: Final = (
    "add the user to stats_users (read-only SHOW access) or admin_users in pgbouncer.ini, "
    "then reload PgBouncer"
)

Conn = AsyncConnection[tuple[Any, ...]]


class _LenientText(Loader):
    """Server text as str without ever failing: bytes that are not UTF-8 become U+FFFD."""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode("utf-8", "replace")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return _one_line(text.splitlines()[0]) if text else type(exc).__name__


def _not_allowed(message: str) -> bool:
    """PgBouncer's refusals for users in neither admin_users nor stats_users."""
    low = message.lower()
    return "not allowed" in low or "admin access needed" in low


class BouncerSource:
    """One PgBouncer admin console; implements :class:`pgtop.collect.source.Source`.

    ``dsn`` must name the admin database (``dbname=pgbouncer``) and a user listed in
    ``stats_users`` or ``admin_users``. Pools and stats of the admin pseudo-database are left
    out unless ``include_admin`` is true. ``connect`` and ``poll`` raise ConnectionLostError (one
    line, no password, with the fix when one is known) for every failure and leave the source
    closed; the sampler reconnects with backoff.
    """

    def __init__(
        self,
        dsn: str,
        *,
        name: str = "pgbouncer",
        connect_timeout_s: int = 5,
        include_admin: bool = False,
    ) -> None:
        self._params = parse_dsn(dsn)
        self._name = name
        self._connect_timeout_s = connect_timeout_s
        self._include_admin = include_admin
        self._conn: Conn | None = None
        self._info: ServerInfo | None = None
        self._previous: dict[str, StatsTotals] = {}
        self._previous_at: float | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def info(self) -> ServerInfo | None:
        return self._info

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> ServerInfo:
        await self.close()
        # application_name is accepted by PgBouncer (1.18 tracks it and shows it in SHOW
        # CLIENTS), so the common connect_kwargs are used unchanged.
        kwargs = connect_kwargs(
            self._params, application_name="pgtop", connect_timeout=self._connect_timeout_s
        )
        failure: str | None = None
        try:
            conn: Conn = await AsyncConnection.connect(
                autocommit=True,
                prepare_threshold=None,
                cursor_factory=AsyncClientCursor,
                **kwargs,
            )
        except psycopg.Error as exc:
            failure = self._describe_connect_failure(exc, kwargs)
        if failure is not None:
            # Raised outside the except block: libpq's text is not kept as __context__.
            raise ConnectionLostError(failure)
        conn.adapters.register_loader("text", _LenientText)
        conn.adapters.register_loader("varchar", _LenientText)
        self._conn = conn
        try:
            version_rows = await self._show("SHOW VERSION")
            config_rows = await self._show("SHOW CONFIG")
        except BaseException:
            await self.close()
            raise
        version_text = str(version_rows[0].get("version", "")) if version_rows else ""
        version, version_num = parse_version(version_text)
        settings = {
            str(row.get("key")): str(row.get("value"))
            for row in config_rows
            if row.get("key") in _SETTINGS and row.get("value") is not None
        }
        self._previous, self._previous_at = {}, None
        self._info = ServerInfo(
            name=self._name,
            host=conn.info.host,
            port=conn.info.port,
            dbname=conn.info.dbname,
            user=conn.info.user,
            version=version,
            version_num=version_num,
            role=Role.PGBOUNCER,
            settings=settings,
        )
        return self._info

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    def abandon(self) -> bool:
        """PgBouncer does not answer: make a pending SHOW fail now (the sampler's hang limit)."""
        return shut_down(self._conn)

    # -- polling -----------------------------------------------------------------------------

    async def poll(self) -> BouncerSample:
        if self._conn is None or self._conn.closed:
            raise ConnectionLostError(f"{self._target()}: not connected")
        taken_at = datetime.now(UTC)
        started = time.monotonic()
        results = {command: await self._show(command) for command in _COMMANDS}
        poll_ms = (time.monotonic() - started) * 1000.0

        interval_s = None if self._previous_at is None else started - self._previous_at
        totals = totals_from_rows(results["SHOW STATS"], include_admin=self._include_admin)
        stats: list[BouncerStats] = [
            stats_rates(self._previous.get(database), current, interval_s)
            for database, current in sorted(totals.items())
        ]
        self._previous, self._previous_at = totals, started

        return BouncerSample(
            source=self._name,
            taken_at=taken_at,
            connected=True,
            info=self._info,
            interval_s=interval_s,
            poll_ms=poll_ms,
            pools=pools_from_rows(
                results["SHOW POOLS"],
                results["SHOW DATABASES"],
                include_admin=self._include_admin,
            ),
            stats=tuple(stats),
            clients=len(results["SHOW CLIENTS"]),
            servers=len(results["SHOW SERVERS"]),
        )

    async def _show(self, command: str) -> list[dict[str, object]]:
        """Run one admin command; rows as dicts by column name."""
        conn = self._conn
        if conn is None:
            raise ConnectionLostError(f"{self._target()}: not connected")
        failure: ConnectionLostError | None = None
        try:
            async with conn.cursor() as cur:
                await cur.execute(command)
                columns = [column.name for column in cur.description or ()]
                rows = await cur.fetchall() if columns else []
            return records(columns, rows)
        except psycopg.Error as exc:
            failure = self._poll_failure(command, exc, conn)
        await self.close()
        raise failure

    # -- messages ----------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        values = [self._params.get("password", ""), os.environ.get("PGPASSWORD", "")]
        return [v for v in values if len(v) >= 3]

    def _target(self) -> str:
        try:
            return f"PgBouncer {dsn_for_display(self._params)}"
        except PgtopError:  # pragma: no cover - display never fails for parsed params
            return "PgBouncer"

    def _describe_connect_failure(self, exc: psycopg.Error, kwargs: Mapping[str, Any]) -> str:
        """One line; from the arguments used, so a timeout names its seconds."""
        line = describe_connect_error(exc, kwargs).replace(
            "is PostgreSQL running", "is PgBouncer running"
        )
        if _not_allowed(str(exc)):
            user = self._user()
            fix = f'user "{user}" may not use the admin console: {_STATS_USERS_FIX}'
            return f"{line} — {fix}" if " — " not in line else line
        return line

    def _user(self) -> str:
        if self._conn is not None:
            return self._conn.info.user
        return self._params.get("user") or os.environ.get("PGUSER") or "(default user)"

    def _poll_failure(self, command: str, exc: psycopg.Error, conn: Conn) -> ConnectionLostError:
        """Every failure of a SHOW ends this connection: the sampler shows the line and
        reconnects with backoff, so a fix on the PgBouncer side (stats_users + RELOAD) is
        picked up without restarting pgtop."""
        reason = redact(_first_line(exc), self._secrets())
        # PgBouncer sends its refusals as SQLSTATE 08P01 (an OperationalError) on a healthy
        # connection: only a broken link, or a client-side failure without SQLSTATE, is "lost".
        lost = isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None
        if conn.broken or conn.closed or lost:
            return ConnectionLostError(f"lost connection to {self._target()}: {reason}")
        if _not_allowed(reason):
            return ConnectionLostError(
                f'{self._target()}: {command} refused for user "{conn.info.user}" ({reason})',
                fix=_STATS_USERS_FIX,
            )
        if conn.info.dbname != ADMIN_DATABASE:
            return ConnectionLostError(
                f"{self._target()}: {command} failed ({reason})",
                fix=f'connect to the admin console database "{ADMIN_DATABASE}" '
                f"(dbname={ADMIN_DATABASE})",
            )
        return ConnectionLostError(f"{self._target()}: {command} failed ({reason})")
