"""The baseline record: every figure a baseline document holds, as frozen dataclasses.

The record is the document's data. :mod:`pgtop.baseline.markdown` writes it as TOML front matter
(every field, raw) followed by Markdown rendered from the same record, and reads it back from
the front matter alone; :mod:`pgtop.baseline.diff` compares two of them. Nothing here renders or
judges.

Conventions (as in :mod:`pgtop.model`): times are UTC datetimes, durations float seconds unless
the name says ``_ms``, sizes int bytes, ratios percent (``_pct``, 0..100). ``None`` means "not
known" (not collected, no privilege, not applicable), never zero; TOML has no null, so a None
field is simply absent from the front matter. Server text (names, query texts) is kept verbatim;
the renderer neutralises it. A changed meaning of any field bumps :data:`SCHEMA_VERSION`; a new
optional field does not (older readers ignore unknown keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from pgtop.conninfo import PgtopError

__all__ = [
    "DOCUMENT",
    "SCHEMA_VERSION",
    "ArchiverFigures",
    "Baseline",
    "BaselineError",
    "BaselineStatement",
    "Basis",
    "HealthItem",
    "IndexAdvice",
    "PoolFigures",
    "Pools",
    "ReplicationFigures",
    "Resources",
    "SeqScanTable",
    "Series",
    "Setting",
    "Settings",
    "SlotFigures",
    "StandbyFigures",
    "StandbyView",
    "Statements",
    "UnusedIndexFigures",
    "Verdict",
]

DOCUMENT: Final = "pgtop baseline"
"""The front matter's ``document`` marker: a file without it is not a pgtop baseline."""
SCHEMA_VERSION: Final = 1
"""The front matter's ``schema``: a document with a higher one was written by a newer pgtop."""

Verdict = Literal["ok", "warn", "crit"]
Basis = Literal["window", "since reset"]
"""What a statement's period figures cover: the window (two reads of pg_stat_statements, the
difference between them) or everything since pg_stat_statements was last reset (one read)."""


class BaselineError(PgtopError):
    """A baseline cannot be built, read or compared. ``str()`` is one line naming the file (when
    there is one) and what is wrong."""


# --------------------------------------------------------------------------- health


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthItem:
    """One health verdict at the end of the window (a :class:`pgtop.model.Status`)."""

    source: str
    metric: str
    level: Verdict
    message: str
    value: float | None = None


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineStatement:
    """One pg_stat_statements entry: its figures over the period (see :class:`Statements`'s
    ``basis``) and its cumulative shape since the last reset at the end of the window."""

    queryid: int
    database: str | None = None
    user: str | None = None
    toplevel: bool | None = None  # None: not known (the collector does not report it)
    keyword: str  # the first keyword, upper case ("SELECT", "WITH"); "?" when unknown
    text: str | None = None  # the normalised text; None when redacted or never fetched
    calls: int  # in the period
    total_ms: float  # execution time in the period
    mean_ms: float  # in the period
    stddev_ms: float | None = None  # in the period, from pg_stat_statements' running variance
    rows: int  # in the period
    rows_per_call: float
    calls_per_day: float | None = None  # extrapolated from the period's rate
    share_pct: float | None = None  # of all statements' execution time in the period
    cumulative_calls: int
    cumulative_mean_ms: float
    cumulative_stddev_ms: float
    min_ms: float  # since the entry's last reset: pg_stat_statements keeps no other
    max_ms: float
    reset: bool = False  # the entry's counters went back (or it appeared) during the window


@dataclass(frozen=True, slots=True, kw_only=True)
class Statements:
    """The top statements by execution time, and how much of the whole they cover."""

    basis: Basis | None = None  # None: no statement figures (see note)
    period_s: float | None = None  # seconds the period figures cover; None: unknown
    top: int  # how many were asked for
    redacted: bool
    seen: int = 0  # statements with calls in the period
    total_calls: int = 0  # all statements, in the period
    total_ms: float = 0.0  # all statements' execution time in the period
    top_share_pct: float | None = None  # of total_ms, covered by ``items``
    entries_reset: int = 0  # entries whose counters restarted during the window
    items: tuple[BaselineStatement, ...] = ()
    note: str | None = None  # why there are none, or what limits them


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """A chart's points: means over equal buckets of ``step_s`` seconds, ``t`` the bucket's
    start in seconds from the window start; buckets without a value are left out."""

    name: str  # "tps", "connections", "active", "cache_hit_pct", "statement 1" (its rank) …
    unit: str
    step_s: float
    t: tuple[float, ...] = ()
    v: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """Server-wide figures over the window's samples: averages are over time (weighted by each
    sample's interval for rates), peaks the highest sample (the lowest for the cache hit)."""

    connections_avg: float | None = None  # client backends (what counts against max)
    connections_peak: int | None = None
    max_connections: int | None = None
    active_avg: float | None = None
    active_peak: int | None = None
    idle_in_transaction_peak: int | None = None
    tps_avg: float | None = None
    tps_peak: float | None = None
    cache_hit_avg_pct: float | None = None
    cache_hit_min_pct: float | None = None
    temp_files: int | None = None  # written in the window
    temp_bytes: int | None = None
    deadlocks: int | None = None  # in the window
    longest_transaction_peak_s: float | None = None
    xid_age_end: int | None = None
    database_size_bytes: int | None = None  # at the end; None: not collected
    database_size_growth_bytes: int | None = None
    note: str | None = None


# --------------------------------------------------------------------------- replication


@dataclass(frozen=True, slots=True, kw_only=True)
class StandbyFigures:
    """A standby as the primary saw it over the window (pg_stat_replication)."""

    name: str  # application_name
    client: str | None = None
    state: str  # at the last sight
    sync_state: str
    samples: int  # samples it was seen in
    replay_lag_avg_s: float | None = None
    replay_lag_max_s: float | None = None
    replay_lag_max_bytes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StandbyView:
    """A standby's own view of its replay (the watched server is one, or a watched replica)."""

    source: str
    replay_lag_avg_s: float | None = None
    replay_lag_max_s: float | None = None
    receiver: str | None = None  # WAL receiver status at the end; None: none running
    upstream: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotFigures:
    name: str
    slot_type: str
    active: bool  # at the end
    database: str | None = None
    retained_wal_bytes: int | None = None  # at the end
    retained_wal_peak_bytes: int | None = None
    wal_status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiverFigures:
    mode: str
    archived: int | None = None  # WAL files archived in the window (None: counters reset)
    failed: int | None = None  # failures in the window
    failing: bool  # the last attempt at the end had failed
    last_archived_age_s: float | None = None  # at the end


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicationFigures:
    role: str | None = None  # primary / standby at the end
    standbys: tuple[StandbyFigures, ...] = ()
    views: tuple[StandbyView, ...] = ()
    slots: tuple[SlotFigures, ...] = ()
    archiver: ArchiverFigures | None = None
    note: str | None = None


# --------------------------------------------------------------------------- pools


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolFigures:
    database: str
    user: str
    pool_mode: str | None = None
    pool_size: int | None = None
    utilisation_avg_pct: float | None = None
    utilisation_peak_pct: float | None = None
    clients_active_avg: float | None = None
    waiting_peak: int  # clients waiting for a server connection
    maxwait_peak_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Pools:
    source: str | None = None  # the PgBouncer source's name; None: none watched
    pools: tuple[PoolFigures, ...] = ()
    note: str | None = None


# --------------------------------------------------------------------------- index advice


@dataclass(frozen=True, slots=True, kw_only=True)
class SeqScanTable:
    """A table read mostly by sequential scans (a missing-index candidate)."""

    schema: str
    table: str
    seq_scan: int
    seq_tup_read: int
    idx_scan: int | None = None
    idx_tup_fetch: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnusedIndexFigures:
    schema: str
    table: str
    index: str
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexAdvice:
    database: str | None = None  # advice is per database: the one pgtop connected to
    tables: tuple[SeqScanTable, ...] = ()
    unused: tuple[UnusedIndexFigures, ...] = ()
    note: str | None = None


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    name: str
    value: str | None = None  # as the server shows it; None: not collected
    playbook: str | None = None  # the ops playbook's value or rule
    advice: str | None = None  # where the value departs from the playbook, what to do
    level: Verdict = "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    items: tuple[Setting, ...] = ()
    note: str | None = None


# --------------------------------------------------------------------------- the document


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """What a server looked like over one window: the whole baseline document."""

    document: str = DOCUMENT
    schema: int = SCHEMA_VERSION
    pgtop: str  # the version that wrote it
    server: str  # host:port/dbname as displayed (never a password)
    server_version: str | None = None
    role: str | None = None
    window_start: datetime
    window_end: datetime
    samples: int  # the watched server's samples in the window
    samples_connected: int
    interval_s: float | None = None  # the sampling interval (median)
    health: tuple[HealthItem, ...] = ()  # at the end, worst first
    statements: Statements
    resources: Resources
    replication: ReplicationFigures
    pools: Pools
    index_advice: IndexAdvice
    settings: Settings
    notes: tuple[str, ...] = ()  # the collector's notes (probes switched off, and why)
    charts: tuple[Series, ...] = ()  # last: the longest part of the front matter

    @property
    def duration_s(self) -> float:
        return (self.window_end - self.window_start).total_seconds()
