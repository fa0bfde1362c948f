"""What the UI may ask of a server besides watching it: cancel a query, terminate a backend,
read one backend's locks.

The UI holds a :class:`Signaller` and an :class:`Inspector` (``pgtop.collect.signals.
BackendSignals`` implements both, on one action session) and never runs SQL itself, as with
:class:`pgtop.feed.Feed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = [
    "BulkOutcome",
    "HeldLock",
    "Inspector",
    "LockReport",
    "Outcome",
    "Signal",
    "Signaller",
    "StatementReport",
]


class Signal(StrEnum):
    CANCEL = "cancel"
    TERMINATE = "terminate"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did, as one line for the user; ``ok`` False when nothing was achieved."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What a bulk cancel or terminate did, as one line (``message``) and per backend."""

    ok: bool
    message: str
    signalled: tuple[int, ...] = ()
    gone: tuple[int, ...] = ()
    """Exited (or replaced by a new backend under the same pid) before the signal."""
    failed: tuple[int, ...] = ()
    """Present, allowed, but the server did not signal them."""


class Signaller(Protocol):
    @property
    def name(self) -> str:
        """The source whose backends it signals ("primary")."""
        ...

    async def send(self, signal: Signal, pid: int, backend_start: datetime | None) -> Outcome:
        """Signal backend ``pid`` if it is still the one started at ``backend_start``; never
        raises for a server's refusal or failure (the outcome says it)."""
        ...

    async def send_many(
        self, signal: Signal, backends: Sequence[tuple[int, datetime | None]]
    ) -> BulkOutcome:
        """Signal every (pid, backend_start) still there, in one statement; none at all when
        pgtop's role may not signal every one of them (the outcome names the grant)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HeldLock:
    """Locks of one backend with the same state, type, mode and target, counted."""

    granted: bool
    locktype: str
    mode: str
    target: str | None
    """The relation (schema-qualified when needed), "xid 1234", "advisory 1:2" …"""
    database: str | None
    count: int


@dataclass(frozen=True, slots=True)
class LockReport:
    """One backend's locks as read on demand; ``error`` (one line) when they could not be."""

    pid: int
    locks: tuple[HeldLock, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StatementReport:
    """Every counter pg_stat_statements has for one entry (the server's column names, in its
    order), read on demand; ``error`` (one line) when it could not be read."""

    counters: tuple[tuple[str, object], ...] = ()
    server_total_ms: float | None = None
    """The server's total execution time over all entries (the entry's share is computed
    from it)."""
    error: str | None = None


class Inspector(Protocol):
    """Reads what is too costly for every tick, for one backend, on demand."""

    async def locks(self, pid: int, backend_start: datetime | None) -> LockReport:
        """The locks ``pid`` holds and awaits; never raises for a server's failure."""
        ...

    async def statement(
        self, queryid: int, user: str | None, database: str | None
    ) -> StatementReport:
        """Every counter of one pg_stat_statements entry; never raises for a server's failure."""
        ...

    async def close(self) -> None: ...


class Runbook(Protocol):
    """The playbook's fixes beyond signals, each asked first by the UI: resume WAL replay on a
    standby whose replay is paused, drop an inactive replication slot."""

    @property
    def servers(self) -> tuple[str, ...]:
        """The source names it acts on ("primary", "replica 127.0.0.1:5433")."""
        ...

    async def resume_replay(self, server: str) -> Outcome:
        """``pg_wal_replay_resume()`` on ``server`` (a standby); the outcome names the grant
        when the role lacks it; never raises for a server's refusal or failure."""
        ...

    async def drop_slot(self, server: str, slot: str) -> Outcome:
        """Drop the replication slot ``slot`` on ``server`` if it is still inactive; the
        outcome says how much WAL it held (what the drop frees) or names the grant."""
        ...

    async def close(self) -> None: ...
