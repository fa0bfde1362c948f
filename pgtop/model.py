"""The language every layer speaks: immutable records of what a server looked like at one tick.

Sources (collect/) produce them, the sampler keeps a history of them, health.py judges them, the
UI and baseline.py render them. Everything is a frozen, slotted dataclass; times are timezone-aware
UTC datetimes, durations are float seconds, sizes are int bytes, rates are per second over the
interval since the previous sample. `None` means "not known" (no privilege, not supported, first
sample), never zero. Text from the server (queries, names) is kept verbatim here; neutralising it
for a terminal or a document is the renderer's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum


class Level(IntEnum):
    """Health level; ordered so that max() is the worst."""

    OK = 0
    WARN = 1
    CRIT = 2


class Role(StrEnum):
    PRIMARY = "primary"
    STANDBY = "standby"
    PGBOUNCER = "pgbouncer"


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Probed once per connection: who we are talking to and what we may ask."""

    name: str  # the source's display name: "primary", "replica 127.0.0.1:5433", "pgbouncer"
    host: str
    port: int
    dbname: str
    user: str
    version: str  # "15.18" or PgBouncer's "1.18.0"
    version_num: int  # server_version_num (150018); PgBouncer: 11800
    role: Role
    backend_pid: int | None = None  # our own monitoring backend (excluded from activity)
    is_superuser: bool = False
    has_pg_monitor: bool = False
    has_read_all_stats: bool = False
    pg_stat_statements: str | None = None  # installed extension version ("1.10"), None if absent
    track_activity_query_size: int | None = None
    max_connections: int | None = None
    started_at: datetime | None = None  # pg_postmaster_start_time()
    settings: Mapping[str, str] = field(default_factory=dict)  # the settings the playbook names


# --------------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class ServerStats:
    """Whole-server figures; rates are over the interval since the previous sample."""

    uptime_s: float | None
    connections: int  # all backends in pg_stat_activity (client backends and others)
    client_connections: int  # client backends only: what counts against max_connections
    max_connections: int | None
    active: int
    idle_in_transaction: int
    waiting_on_locks: int
    tps: float | None  # (commits + rollbacks) / s over the interval; None on the first sample
    commits_per_s: float | None
    rollbacks_per_s: float | None
    cache_hit_ratio: float | None  # 0..1 over the interval; None when there were no reads at all
    deadlocks_total: int
    deadlocks_per_s: float | None
    temp_files_per_s: float | None
    temp_bytes_per_s: float | None
    oldest_xid_age: int | None  # max(age(datfrozenxid)): wraparound distance
    longest_transaction_s: float | None  # oldest open transaction among client backends
    longest_idle_in_transaction_s: float | None

    @property
    def connections_pct(self) -> float | None:
        if not self.max_connections:
            return None
        return 100.0 * self.client_connections / self.max_connections


# --------------------------------------------------------------------------- activity


@dataclass(frozen=True, slots=True)
class Backend:
    """One row of pg_stat_activity; ages are computed by the server (no clock skew)."""

    pid: int
    database: str | None
    user: str | None
    application: str
    client: str | None  # address or hostname; "local" for a Unix socket; None for background
    backend_type: str
    state: str | None  # active, idle, idle in transaction, idle in transaction (aborted) …
    wait_event_type: str | None
    wait_event: str | None
    backend_start: datetime | None
    xact_start: datetime | None
    query_start: datetime | None
    state_change: datetime | None
    query_s: float | None  # now - query_start, while active
    xact_s: float | None  # now - xact_start
    state_s: float | None  # now - state_change
    xid_age: int | None
    xmin_age: int | None
    leader_pid: int | None
    query: str
    blocked_by: tuple[int, ...] = ()

    @property
    def is_client(self) -> bool:
        return self.backend_type == "client backend"


@dataclass(frozen=True, slots=True)
class ActivitySummary:
    by_state: Mapping[str, int]
    by_user: Mapping[str, int]
    by_client: Mapping[str, int]


# --------------------------------------------------------------------------- locks


@dataclass(frozen=True, slots=True)
class LockNode:
    """A backend in the blocking tree: roots block others and wait on nothing (or on a cycle)."""

    pid: int
    user: str | None
    database: str | None
    application: str
    state: str | None
    query: str
    xact_s: float | None
    # what this backend waits for; None for a root blocker that waits on no lock
    mode: str | None = None
    locktype: str | None = None
    relation: str | None = None
    waited_s: float | None = None  # pg_locks.waitstart (PG 14+), else state_change age
    children: tuple[LockNode, ...] = ()

    def walk(self, depth: int = 0) -> list[tuple[int, LockNode]]:
        """Depth-first (depth, node) pairs, this node first."""
        rows = [(depth, self)]
        for child in self.children:
            rows.extend(child.walk(depth + 1))
        return rows


@dataclass(frozen=True, slots=True)
class LockCount:
    """Ungranted locks grouped by relation and mode (the playbook's lock contention query)."""

    relation: str | None
    locktype: str
    mode: str
    count: int


# --------------------------------------------------------------------------- replication


@dataclass(frozen=True, slots=True)
class Replica:
    """A standby as the primary sees it (pg_stat_replication)."""

    pid: int
    application: str
    client: str | None
    state: str
    sync_state: str
    sent_lag_bytes: int | None
    write_lag_bytes: int | None
    flush_lag_bytes: int | None
    replay_lag_bytes: int | None
    write_lag_s: float | None
    flush_lag_s: float | None
    replay_lag_s: float | None
    reply_age_s: float | None


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    slot_type: str  # physical / logical
    active: bool
    active_pid: int | None
    database: str | None
    retained_wal_bytes: int | None  # current LSN - restart_lsn
    wal_status: str | None  # reserved / extended / unreserved / lost (PG 13+)


@dataclass(frozen=True, slots=True)
class Archiver:
    archive_mode: str  # off / on / always
    archived_count: int
    failed_count: int
    last_archived_wal: str | None
    last_archived_age_s: float | None
    last_failed_wal: str | None
    last_failed_age_s: float | None
    pending_segments: int | None = None
    """Complete WAL segments not archived yet (a primary's; None on a standby or before the
    first archive): 0 means archiving is caught up, whatever the last archive's age."""

    @property
    def failing(self) -> bool:
        """The last attempt failed (a failure more recent than the last success)."""
        if self.last_failed_age_s is None:
            return False
        return self.last_archived_age_s is None or self.last_failed_age_s < self.last_archived_age_s


@dataclass(frozen=True, slots=True)
class StandbyStatus:
    """The standby's own view (run on a server in recovery)."""

    receive_lsn: str | None
    replay_lsn: str | None
    replay_lag_s: float | None  # 0 when receive == replay, as the playbook's query
    receive_replay_lag_bytes: int | None
    replay_paused: bool
    wal_receiver_status: str | None  # streaming / catchup / … ; None when no receiver runs
    upstream: str | None  # sender host:port


@dataclass(frozen=True, slots=True)
class Replication:
    role: Role
    replicas: tuple[Replica, ...] = ()
    slots: tuple[Slot, ...] = ()
    archiver: Archiver | None = None
    standby: StandbyStatus | None = None


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Statement:
    """A pg_stat_statements entry: interval rates (None on first sight) and cumulative figures."""

    queryid: int
    user: str | None
    database: str | None
    query: str  # from the text cache; "" until fetched
    calls_per_s: float | None
    exec_ms_per_s: float | None
    mean_ms_interval: float | None
    rows_per_s: float | None
    shared_hit_per_s: float | None
    shared_read_per_s: float | None
    temp_blks_per_s: float | None  # temp blocks read + written
    io_ms_per_s: float | None  # block read + write time (track_io_timing)
    calls: int
    total_exec_ms: float
    mean_ms: float
    stddev_ms: float
    min_ms: float
    max_ms: float
    rows: int
    shared_hit: int
    shared_read: int

    @property
    def hit_ratio(self) -> float | None:
        """Cumulative shared buffer hit ratio 0..1."""
        total = self.shared_hit + self.shared_read
        return self.shared_hit / total if total else None


@dataclass(frozen=True, slots=True)
class StatementsStatus:
    available: bool
    reason: str | None = None  # why not: "pg_stat_statements is not installed in "app": …"
    dealloc: int | None = None  # pg_stat_statements_info (PG 14+)
    stats_reset: datetime | None = None
    reset_detected: bool = False  # counters went backwards since the previous sample
    read_now: bool = True
    """Read on this tick; False: the last read's records carried over (read on a budget)."""


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True, slots=True)
class Progress:
    pid: int
    command: str  # CREATE INDEX, VACUUM, ANALYZE, CLUSTER, COPY, BASE BACKUP
    database: str | None
    relation: str | None
    phase: str | None
    done: int | None
    total: int | None

    @property
    def pct(self) -> float | None:
        if not self.total or self.done is None:
            return None
        return 100.0 * self.done / self.total


# --------------------------------------------------------------------------- per database


@dataclass(frozen=True, slots=True)
class TableScan:
    """Missing-index candidates: tables read mostly by sequential scans."""

    schema: str
    table: str
    seq_scan: int
    seq_tup_read: int
    idx_scan: int | None
    idx_tup_fetch: int | None


@dataclass(frozen=True, slots=True)
class UnusedIndex:
    schema: str
    table: str
    index: str
    idx_scan: int
    size_bytes: int


# --------------------------------------------------------------------------- PgBouncer


@dataclass(frozen=True, slots=True)
class Pool:
    database: str
    user: str
    pool_mode: str | None
    cl_active: int
    cl_waiting: int
    sv_active: int
    sv_idle: int
    sv_used: int
    sv_tested: int
    sv_login: int
    maxwait_s: float
    pool_size: int | None  # from SHOW DATABASES

    @property
    def servers_in_use(self) -> int:
        """Server connections no client can get right now (idle and used ones are available)."""
        return self.sv_active + self.sv_tested + self.sv_login

    @property
    def utilisation_pct(self) -> float | None:
        if not self.pool_size:
            return None
        return 100.0 * self.servers_in_use / self.pool_size


@dataclass(frozen=True, slots=True)
class BouncerStats:
    """SHOW STATS for one database, as rates over the interval."""

    database: str
    xact_per_s: float | None
    query_per_s: float | None
    avg_xact_ms: float | None
    avg_query_ms: float | None
    avg_wait_ms: float | None
    bytes_in_per_s: float | None
    bytes_out_per_s: float | None


# --------------------------------------------------------------------------- health


@dataclass(frozen=True, slots=True)
class Status:
    """One health metric's verdict: which number crossed which threshold."""

    metric: str  # stable key: "connections", "replication_lag", "cache_hit" …
    label: str  # short, for the bar: "conn 88%"
    level: Level
    value: float | None
    message: str  # "connections 264/300 (88%) ≥ crit 85%"
    source: str = ""  # the sample's source name
    # who or what to act on, short and on one line ("pid 4201 lab-blocker", a slot, a pool, a
    # statement's text): set on WARN/CRIT statuses that have one and on info statuses
    # (progress); the health bar shows it beside the label, so the culprit is on the first screen
    culprit: str = ""


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True, slots=True)
class Sample:
    """One PostgreSQL server at one tick. A failed tick is a Sample with connected=False."""

    source: str
    taken_at: datetime
    connected: bool
    info: ServerInfo | None = None
    interval_s: float | None = None  # since the previous successful sample
    poll_ms: float | None = None  # how long the round trip took
    late_s: float = 0.0  # how much later than scheduled this tick started
    error: str | None = None  # one line, when not connected or a probe failed
    disconnected_since: datetime | None = None
    retries: int = 0
    stats: ServerStats | None = None
    activity: tuple[Backend, ...] = ()
    summary: ActivitySummary | None = None
    locks: tuple[LockNode, ...] = ()  # roots of the blocking tree
    lock_counts: tuple[LockCount, ...] = ()
    # waiters queued behind another waiter (no holder explains their wait) whose place in the
    # tree comes from the order of the waits, not from the server's pg_blocking_pids(): beyond
    # its cap of calls, or seen for the first time (asked at the next tick)
    locks_unresolved: int = 0
    replication: Replication | None = None
    statements: tuple[Statement, ...] = ()
    statements_status: StatementsStatus | None = None
    progress: tuple[Progress, ...] = ()
    messages: tuple[str, ...] = ()  # probes switched off, each with the grant/setting to enable
    health: tuple[Status, ...] = ()

    @property
    def statements_read(self) -> bool:
        """Statements read on this tick (not the last read carried over, not a failed tick):
        what adds chart points and is judged."""
        status = self.statements_status
        read_now = status is None or status.read_now
        return bool(self.statements) and self.error is None and read_now


@dataclass(frozen=True, slots=True)
class BouncerSample:
    """One PgBouncer admin console at one tick."""

    source: str
    taken_at: datetime
    connected: bool
    info: ServerInfo | None = None
    interval_s: float | None = None
    poll_ms: float | None = None
    late_s: float = 0.0
    error: str | None = None
    disconnected_since: datetime | None = None
    retries: int = 0
    pools: tuple[Pool, ...] = ()
    stats: tuple[BouncerStats, ...] = ()
    clients: int | None = None  # SHOW CLIENTS row count
    servers: int | None = None  # SHOW SERVERS row count
    messages: tuple[str, ...] = ()
    health: tuple[Status, ...] = ()


AnySample = Sample | BouncerSample
