"""The playbook's fixes beyond signals: resume WAL replay on a paused standby, drop an inactive
replication slot (:class:`pgtop.actions.Runbook`).

As for cancel and terminate (``collect/signals.py``), an action never runs on a monitoring
session: each server gets a session of its own, opened on its first action and kept (reopened
when it was lost), named ``<application_name> (actions)``. Each action is one statement in one
read-only transaction with statement_timeout and lock_timeout, one round trip: the statement
reads the state first and calls the function only when the action is still due (and, for a
slot, allowed), so a refusal changes nothing.

Privileges (the same on PostgreSQL 13 to 18, checked on 15 and 18): ``pg_wal_replay_resume()``
needs EXECUTE on it, revoked from PUBLIC (superuser only by default); PostgreSQL checks it when
the statement starts, even for a call the statement never reaches, so a role without it is
refused before anything runs (on a primary too) and the grant is named.
``pg_drop_replication_slot()`` is PUBLIC's to execute but checks inside the call that the role
has the REPLICATION attribute (or is a superuser): the statement reads the attribute and does
not call it without.

READ ONLY stands in the way of neither action (checked on PostgreSQL 15 and 18):
``pg_wal_replay_resume()`` only wakes the startup process (and every transaction on a standby
is read-only anyway), and ``pg_drop_replication_slot()`` writes no catalog row (a slot lives
in ``pg_replslot``), so neither needs a read-write transaction.

Every outcome is one line for the user; a server's refusal or failure never raises.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import errors

from pgtop import units
from pgtop.actions import Outcome
from pgtop.collect.batch import Query, run_batch
from pgtop.collect.capabilities import quote_ident
from pgtop.collect.probes import SPECS, compose, resolve
from pgtop.collect.signals import ActionSession
from pgtop.collect.source import ConnectionLostError, first_line
from pgtop.config import ConnectionSettings
from pgtop.conninfo import parse_dsn

__all__ = ["RunbookActions"]

_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")
"""What PostgreSQL accepts as a replication slot name."""


class _Session(ActionSession):
    """One server's action session, one action at a time."""

    def __init__(self, name: str, dsn: str | None, settings: ConnectionSettings) -> None:
        super().__init__(parse_dsn(dsn), settings)
        self.name = name
        self.lock = asyncio.Lock()

    async def run(self, probe_name: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The probe's rows; psycopg.Error from the server, ConnectionLostError (one line)
        when no session could be opened. A lost session is closed, to be reopened next time."""
        conn = await self.connect()
        probe = resolve(probe_name, conn.info.server_version)
        assert probe is not None  # every runbook probe has a base variant
        try:
            (rows,) = await run_batch(
                conn,
                [Query(compose(probe), params)],
                statement_timeout_ms=self.settings.statement_timeout_ms,
                lock_timeout_ms=self.settings.lock_timeout_ms,
            )
        except psycopg.Error:
            if conn.broken or conn.closed:
                await self.close()
            raise
        return rows

    def hint(self, probe: str) -> str:
        """The grant ``probe`` needs, for the role the session runs as and its database."""
        conn = self.conn
        user = conn.info.user if conn is not None else self.params.get("user", "")
        dbname = conn.info.dbname if conn is not None else self.params.get("dbname", user)
        return SPECS[probe].grant.format(role=quote_ident(user), database=quote_ident(dbname))

    def lost(self) -> bool:
        return self.conn is None


class RunbookActions:
    """Resume replay and drop slots on the servers named (see the module docstring).

    ``servers`` maps each source name ("primary", "replica 127.0.0.1:5433") to its DSN (None:
    libpq's environment and defaults)."""

    def __init__(self, servers: Mapping[str, str | None], *, settings: ConnectionSettings) -> None:
        self._sessions = {name: _Session(name, dsn, settings) for name, dsn in servers.items()}

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(self._sessions)

    async def resume_replay(self, server: str) -> Outcome:
        """``pg_wal_replay_resume()`` on ``server`` if it is a standby whose replay is paused
        (or, PostgreSQL 14+, a pause was requested)."""
        session = self._sessions.get(server)
        if session is None:
            return _unknown(server)
        async with session.lock:
            try:
                rows = await session.run("resume_replay")
            except ConnectionLostError as exc:
                return Outcome(False, f"{server}: no session for the action: {exc}")
            except psycopg.Error as exc:
                return Outcome(False, _explain(exc, session, "resume_replay", "resume replay"))
        (row,) = rows
        if not row["in_recovery"]:
            return Outcome(
                False, f"{server} is not in recovery (not a standby): no replay to resume"
            )
        if row["pause_state"] == "not paused":
            return Outcome(False, f"replay on {server} is not paused: nothing to resume")
        if not row["resumed"]:  # pragma: no cover - the function returns void: one row, true
            return Outcome(False, f"{server}: the server did not resume replay")
        was = (
            "a pause was requested" if row["pause_state"] == "pause requested" else "it was paused"
        )
        return Outcome(True, f"replay resumed on {server} ({was}; {_lag(row)})")

    async def drop_slot(self, server: str, slot: str) -> Outcome:
        """Drop replication slot ``slot`` on ``server`` if it exists and is still inactive."""
        session = self._sessions.get(server)
        if session is None:
            return _unknown(server)
        if not _SLOT_NAME.fullmatch(slot):
            return Outcome(False, f"{server}: {slot!r} is not a replication slot name: not dropped")
        async with session.lock:
            try:
                rows = await session.run("drop_slot", {"slot": slot})
            except ConnectionLostError as exc:
                return Outcome(False, f"{server}: no session for the action: {exc}")
            except psycopg.Error as exc:
                if isinstance(exc, errors.ObjectInUse):  # became active within the statement
                    return Outcome(
                        False,
                        f"{server}: slot {slot} is active now: not dropped ({first_line(exc)})",
                    )
                return Outcome(False, _explain(exc, session, "drop_slot", f"drop slot {slot}"))
        if not rows:
            return Outcome(
                False, f"{server}: slot {slot} does not exist (any more): nothing to drop"
            )
        (row,) = rows
        if row["active"]:
            pid = f" (pid {row['active_pid']})" if row["active_pid"] is not None else ""
            return Outcome(False, f"{server}: slot {slot} is active now{pid}: not dropped")
        if not row["allowed"]:
            return Outcome(False, _not_allowed(session, "drop_slot", f"drop slot {slot}"))
        if not row["dropped"]:  # pragma: no cover - the function returns void: one row, true
            return Outcome(False, f"{server}: the server did not drop slot {slot}")
        held = row["retained_wal_bytes"]
        if held is None:  # a slot that never reserved WAL
            return Outcome(True, f"dropped slot {slot} on {server}: it held no WAL")
        return Outcome(True, f"dropped slot {slot} on {server}: it held {units.size(held)} of WAL")

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()


def _unknown(server: str) -> Outcome:
    return Outcome(False, f"no server named {server!r}: nothing done")


def _lag(row: Mapping[str, Any]) -> str:
    """How far behind replay was when it resumed: "replay lag was 45 s, 12 MiB received not
    yet replayed". PostgreSQL keeps no time of the pause itself: the lag is what there is."""
    unreplayed = row["unreplayed_bytes"]
    if unreplayed == 0:
        return "nothing received was waiting to be replayed"
    parts = []
    if row["replay_lag_s"] is not None:
        parts.append(f"replay lag was {units.seconds(max(0.0, row['replay_lag_s']))}")
    if unreplayed is not None:
        parts.append(f"{units.size(unreplayed)} received not yet replayed")
    return ", ".join(parts) or "replay lag unknown"


def _not_allowed(session: _Session, probe: str, what: str) -> str:
    return f"{session.name}: not allowed to {what}: {session.hint(probe)}"


def _explain(exc: psycopg.Error, session: _Session, probe: str, what: str) -> str:
    """One line for a statement that failed: the grant when the role lacks it."""
    if isinstance(exc, errors.InsufficientPrivilege):
        return _not_allowed(session, probe, what)
    if session.lost():
        return (
            f"{session.name}: the action's session was lost ({first_line(exc)}): unknown "
            f"whether the server could {what}; refresh and try again"
        )
    if isinstance(exc, errors.QueryCanceled):
        return f"{session.name}: could not {what} in time ({first_line(exc)})"
    return f"{session.name}: could not {what}: {first_line(exc)}"
