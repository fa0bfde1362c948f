"""Rows (mappings keyed by the probes' column names) → frozen model records. Pure: no I/O.

Timestamps become UTC; everything else is taken as the server computed it.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pgtop.collect.locktree import Held, Wait
from pgtop.collect.rates import counter_delta, hit_ratio, rate
from pgtop.model import (
    ActivitySummary,
    Archiver,
    Backend,
    Progress,
    Replica,
    ServerStats,
    Slot,
    StandbyStatus,
    TableScan,
    UnusedIndex,
)
from pgtop.redact import redact_secrets

Row = Mapping[str, Any]

__all__ = [
    "ACTIVITY_BACKEND_TYPE",
    "ACTIVITY_COLUMNS",
    "ACTIVITY_LEADER_PID",
    "ACTIVITY_PID",
    "ACTIVITY_QUERY_START",
    "ACTIVITY_STATE_S",
    "ACTIVITY_WAITING",
    "ACTIVITY_WAIT_EVENT",
    "ACTIVITY_XACT_START",
    "LOCK_COLUMNS",
    "Row",
    "archiver",
    "backend",
    "locks",
    "progress",
    "replica",
    "server_stats",
    "slot",
    "standby",
    "summary",
    "table_scan",
    "unused_index",
    "utc",
]


def utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _age(value: Any) -> float | None:
    """An age the server computed against its transaction start: never below zero (a backend
    may have started its query after pgtop's transaction began)."""
    return max(0.0, float(value)) if value is not None else None


# --------------------------------------------------------------------------- activity


def _shared(value: str | None) -> str | None:
    """One string object for equal texts across backends and ticks (``sys.intern``: freed once
    no sample holds it). The history ring keeps thousands of samples of the same few names,
    states and query texts; sharing them is ~40 % of a Backend's memory."""
    return sys.intern(value) if value is not None else None


ACTIVITY_COLUMNS = (
    "pid",
    "database",
    "user_name",
    "application",
    "client",
    "backend_type",
    "state",
    "wait_event_type",
    "wait_event",
    "backend_start",
    "xact_start",
    "query_start",
    "state_change",
    "query_s",
    "xact_s",
    "state_s",
    "xid_age",
    "xmin_age",
    "leader_pid",
    "query",
)
"""activity.sql's columns, in order: its rows come as tuples (a hundred or more each tick)."""

ACTIVITY_PID = ACTIVITY_COLUMNS.index("pid")
ACTIVITY_BACKEND_TYPE = ACTIVITY_COLUMNS.index("backend_type")
ACTIVITY_WAITING = ACTIVITY_COLUMNS.index("wait_event_type")
ACTIVITY_WAIT_EVENT = ACTIVITY_COLUMNS.index("wait_event")
ACTIVITY_QUERY_START = ACTIVITY_COLUMNS.index("query_start")
ACTIVITY_XACT_START = ACTIVITY_COLUMNS.index("xact_start")
ACTIVITY_STATE_S = ACTIVITY_COLUMNS.index("state_s")
ACTIVITY_LEADER_PID = ACTIVITY_COLUMNS.index("leader_pid")


def backend(row: Sequence[Any], blocked_by: tuple[int, ...] = ()) -> Backend:
    """One activity row; ``blocked_by`` from the lock graph (:mod:`pgtop.collect.locktree`)."""
    (
        pid,
        database,
        user_name,
        application,
        client,
        backend_type,
        state,
        wait_event_type,
        wait_event,
        backend_start,
        xact_start,
        query_start,
        state_change,
        query_s,
        xact_s,
        state_s,
        xid_age,
        xmin_age,
        leader_pid,
        query,
    ) = row
    return Backend(
        pid=pid,
        database=_shared(database),
        user=_shared(user_name),
        application=sys.intern(application),
        client=_shared(client),
        backend_type=sys.intern(backend_type),
        state=_shared(state),
        wait_event_type=_shared(wait_event_type),
        wait_event=_shared(wait_event),
        backend_start=utc(backend_start),
        xact_start=utc(xact_start),
        query_start=utc(query_start),
        state_change=utc(state_change),
        query_s=_age(query_s),
        xact_s=_age(xact_s),
        state_s=_age(state_s),
        xid_age=_int(xid_age),
        xmin_age=_int(xmin_age),
        leader_pid=leader_pid,
        query=sys.intern(redact_secrets(query)),  # before anything else sees it
        blocked_by=blocked_by,
    )


def summary(backends: Sequence[Backend]) -> ActivitySummary:
    """Client backends counted by state, user and client address (our own session excluded)."""
    clients = [b for b in backends if b.is_client]
    return ActivitySummary(
        by_state=dict(Counter(b.state or "unknown" for b in clients)),
        by_user=dict(Counter(b.user or "unknown" for b in clients)),
        by_client=dict(Counter(b.client or "unknown" for b in clients)),
    )


LOCK_COLUMNS = (
    "pid",
    "locktype",
    "mode",
    "granted",
    "relation_name",
    "waited_s",
    # the locked object's key fields (with locktype): equal for the same object
    "database",
    "relation",
    "page",
    "tuple",
    "virtualxid",
    "transactionid",
    "classid",
    "objid",
    "objsubid",
)
"""locks.sql's columns, in order (tuples: hundreds of rows in a pile-up)."""
_KEY = slice(LOCK_COLUMNS.index("database"), len(LOCK_COLUMNS))


def locks(rows: Sequence[Sequence[Any]]) -> tuple[list[Wait], list[Held]]:
    """The locks probe's rows: the ungranted locks, and the granted ones on the same objects
    (a prepared transaction's, whose pid is NULL, as pid 0)."""
    waits: list[Wait] = []
    held: list[Held] = []
    for row in rows:
        pid, locktype, mode, granted, relation, waited_s = row[:6]
        target = (locktype, *row[_KEY])
        if granted:
            held.append(Held(pid or 0, target, mode))
        elif pid is not None:
            waits.append(Wait(pid, locktype, mode, relation, _age(waited_s), target))
    return waits, held


# --------------------------------------------------------------------------- server

_COUNTERS = (
    "commits",
    "rollbacks",
    "blks_hit",
    "blks_read",
    "deadlocks",
    "temp_files",
    "temp_bytes",
)


def server_stats(
    current: Row,
    previous: Row | None,
    seconds: float | None,
    backends: Sequence[Backend],
    max_connections: int | None,
) -> ServerStats:
    """Whole-server figures. ``backends`` excludes pgtop's own session, which is counted as a
    connection (it holds a slot of max_connections) but never as active.

    Rates are None on the first sample and for an interval in which any counter went
    backwards (stats reset, crash): a reset must not show as a negative or absurd rate.
    """
    prev = previous if previous is not None else {}
    reset = any(
        prev.get(k) is not None and current[k] is not None and current[k] < prev[k]
        for k in _COUNTERS
    )
    seconds = None if reset else seconds

    def per_s(key: str) -> float | None:
        return rate(prev.get(key), current[key], seconds)

    commits, rollbacks = per_s("commits"), per_s("rollbacks")
    tps = commits + rollbacks if commits is not None and rollbacks is not None else None
    ratio = None
    if seconds is not None:
        ratio = hit_ratio(
            counter_delta(prev.get("blks_hit"), current["blks_hit"]),
            counter_delta(prev.get("blks_read"), current["blks_read"]),
        )
    clients = [b for b in backends if b.is_client]
    idle_in_xact = [b for b in clients if (b.state or "").startswith("idle in transaction")]
    return ServerStats(
        uptime_s=_float(current["uptime_s"]),
        connections=len(backends) + 1,
        client_connections=len(clients) + 1,
        max_connections=max_connections,
        active=sum(1 for b in clients if b.state == "active"),
        idle_in_transaction=len(idle_in_xact),
        waiting_on_locks=sum(1 for b in backends if b.wait_event_type == "Lock"),
        tps=tps,
        commits_per_s=commits,
        rollbacks_per_s=rollbacks,
        cache_hit_ratio=ratio,
        deadlocks_total=int(current["deadlocks"]),
        deadlocks_per_s=per_s("deadlocks"),
        temp_files_per_s=per_s("temp_files"),
        temp_bytes_per_s=per_s("temp_bytes"),
        oldest_xid_age=_int(current["oldest_xid_age"]),
        longest_transaction_s=max(
            (b.xact_s for b in clients if b.xact_s is not None), default=None
        ),
        longest_idle_in_transaction_s=max(
            (b.state_s for b in idle_in_xact if b.state_s is not None), default=None
        ),
    )


# --------------------------------------------------------------------------- replication


def replica(row: Row) -> Replica:
    return Replica(
        pid=row["pid"],
        application=row["application"],
        client=row["client"],
        state=row["state"],
        sync_state=row["sync_state"],
        sent_lag_bytes=_int(row["sent_lag_bytes"]),
        write_lag_bytes=_int(row["write_lag_bytes"]),
        flush_lag_bytes=_int(row["flush_lag_bytes"]),
        replay_lag_bytes=_int(row["replay_lag_bytes"]),
        write_lag_s=_float(row["write_lag_s"]),
        flush_lag_s=_float(row["flush_lag_s"]),
        replay_lag_s=_float(row["replay_lag_s"]),
        reply_age_s=_age(row["reply_age_s"]),
    )


def slot(row: Row) -> Slot:
    return Slot(
        name=row["name"],
        slot_type=row["slot_type"],
        active=bool(row["active"]),
        active_pid=row["active_pid"],
        database=row["database"],
        retained_wal_bytes=_int(row["retained_wal_bytes"]),
        wal_status=row["wal_status"],
    )


def archiver(row: Row) -> Archiver:
    return Archiver(
        archive_mode=row["archive_mode"],
        archived_count=int(row["archived_count"]),
        failed_count=int(row["failed_count"]),
        last_archived_wal=row["last_archived_wal"],
        last_archived_age_s=_age(row["last_archived_age_s"]),
        last_failed_wal=row["last_failed_wal"],
        last_failed_age_s=_age(row["last_failed_age_s"]),
        pending_segments=_int(row["pending_segments"]),
    )


def standby(row: Row) -> StandbyStatus:
    return StandbyStatus(
        receive_lsn=row["receive_lsn"],
        replay_lsn=row["replay_lsn"],
        replay_lag_s=_age(row["replay_lag_s"]),
        receive_replay_lag_bytes=_int(row["receive_replay_lag_bytes"]),
        replay_paused=bool(row["replay_paused"]),
        wal_receiver_status=row["wal_receiver_status"],
        upstream=row["upstream"],
    )


# --------------------------------------------------------------------------- progress, advice


def progress(row: Row) -> Progress:
    return Progress(
        pid=row["pid"],
        command=row["command"],
        database=row["database"],
        relation=row["relation"],
        phase=row["phase"],
        done=_int(row["done"]),
        total=_int(row["total"]),
    )


def table_scan(row: Row) -> TableScan:
    return TableScan(
        schema=row["schema"],
        table=row["table_name"],
        seq_scan=int(row["seq_scan"]),
        seq_tup_read=int(row["seq_tup_read"]),
        idx_scan=_int(row["idx_scan"]),
        idx_tup_fetch=_int(row["idx_tup_fetch"]),
    )


def unused_index(row: Row) -> UnusedIndex:
    return UnusedIndex(
        schema=row["schema"],
        table=row["table_name"],
        index=row["index_name"],
        idx_scan=int(row["idx_scan"]),
        size_bytes=int(row["size_bytes"]),
    )
