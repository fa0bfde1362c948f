"""PgBouncer admin console rows → model records: pure functions, no I/O.

Rows are mapped by column NAME, never by position: PgBouncer adds, removes and reorders columns
between releases (1.18 → 1.25 added ``cl_active_cancel_req``, ``sv_active_cancel``,
``maxwait_us``, ``total_server_assignment_count``, ``load_balance_hosts`` …). A missing column reads
as its default; an unknown one is ignored. Numbers arrive as ``int``, ``Decimal`` (SHOW STATS is
numeric) or, from some forks, ``str``: everything goes through :func:`to_int`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pgtop.model import BouncerStats, Pool

__all__ = [
    "ADMIN_DATABASE",
    "Record",
    "StatsTotals",
    "parse_version",
    "pool_from_row",
    "pool_sizes",
    "pools_from_rows",
    "records",
    "stats_rates",
    "to_int",
    "totals_from_rows",
]

ADMIN_DATABASE = "pgbouncer"
"""The admin console's pseudo-database: it has a pool and stats of its own, excluded by default."""

Record = Mapping[str, object]


def records(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> list[dict[str, object]]:
    """Rows as ``{column name: value}`` dicts (``columns`` from ``cursor.description``)."""
    return [dict(zip(columns, row, strict=False)) for row in rows]


def to_int(value: object, default: int = 0) -> int:
    """An admin-console number as int: accepts int, Decimal, float and numeric strings."""
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        try:
            return int(value)
        except (ValueError, OverflowError):  # NaN, infinity
            return default
    if isinstance(value, str | bytes):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            return int(Decimal(text.strip()))
        except (InvalidOperation, ValueError, OverflowError):
            return default
    return default


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def parse_version(text: str) -> tuple[str, int]:
    """``"PgBouncer 1.18.0"`` → ``("1.18.0", 11800)``; unparseable → ``(text, 0)``."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return text.strip(), 0
    major, minor, patch = int(m[1]), int(m[2]), int(m[3] or 0)
    return f"{major}.{minor}.{patch}", major * 10_000 + minor * 100 + patch


# --------------------------------------------------------------------------- pools


def pool_sizes(database_rows: Iterable[Record]) -> dict[str, int]:
    """``SHOW DATABASES`` name → pool_size.

    PgBouncer already reports the effective size there (a database without its own
    ``pool_size=`` shows ``default_pool_size``), so no fallback is needed. Rows without a
    ``pool_size`` column are left out (the pool's size is then unknown).
    """
    sizes: dict[str, int] = {}
    for row in database_rows:
        name = _text(row.get("name"))
        if name is not None and row.get("pool_size") is not None:
            sizes[name] = to_int(row["pool_size"])
    return sizes


def pool_from_row(row: Record, pool_size: int | None) -> Pool:
    """One ``SHOW POOLS`` row; ``maxwait_s`` = ``maxwait`` + ``maxwait_us`` / 1e6."""
    return Pool(
        database=_text(row.get("database")) or "",
        user=_text(row.get("user")) or "",
        pool_mode=_text(row.get("pool_mode")),
        cl_active=to_int(row.get("cl_active")),
        cl_waiting=to_int(row.get("cl_waiting")),
        sv_active=to_int(row.get("sv_active")),
        sv_idle=to_int(row.get("sv_idle")),
        sv_used=to_int(row.get("sv_used")),
        sv_tested=to_int(row.get("sv_tested")),
        sv_login=to_int(row.get("sv_login")),
        maxwait_s=to_int(row.get("maxwait")) + to_int(row.get("maxwait_us")) / 1e6,
        pool_size=pool_size,
    )


def pools_from_rows(
    pool_rows: Iterable[Record], database_rows: Iterable[Record], *, include_admin: bool = False
) -> tuple[Pool, ...]:
    """``SHOW POOLS`` joined with ``SHOW DATABASES`` (pool_size), sorted by database, user."""
    sizes = pool_sizes(database_rows)
    pools = [
        pool_from_row(row, sizes.get(_text(row.get("database")) or ""))
        for row in pool_rows
        if include_admin or _text(row.get("database")) != ADMIN_DATABASE
    ]
    return tuple(sorted(pools, key=lambda p: (p.database, p.user)))


# --------------------------------------------------------------------------- stats


@dataclass(frozen=True, slots=True)
class StatsTotals:
    """The cumulative counters of one ``SHOW STATS`` row (times in microseconds)."""

    database: str
    xact_count: int
    query_count: int
    received: int
    sent: int
    xact_time_us: int
    query_time_us: int
    wait_time_us: int
    # total_server_assignment_count (1.23+): the right denominator for the average wait;
    # None when the column is absent (older releases): transactions are used instead.
    server_assignment_count: int | None = None

    def counters(self) -> tuple[int, ...]:
        extra = () if self.server_assignment_count is None else (self.server_assignment_count,)
        return (
            self.xact_count,
            self.query_count,
            self.received,
            self.sent,
            self.xact_time_us,
            self.query_time_us,
            self.wait_time_us,
            *extra,
        )


def totals_from_rows(
    stats_rows: Iterable[Record], *, include_admin: bool = False
) -> dict[str, StatsTotals]:
    """``SHOW STATS`` rows by database."""
    totals: dict[str, StatsTotals] = {}
    for row in stats_rows:
        database = _text(row.get("database"))
        if database is None or (database == ADMIN_DATABASE and not include_admin):
            continue
        assignments = row.get("total_server_assignment_count")
        totals[database] = StatsTotals(
            database=database,
            xact_count=to_int(row.get("total_xact_count")),
            query_count=to_int(row.get("total_query_count")),
            received=to_int(row.get("total_received")),
            sent=to_int(row.get("total_sent")),
            xact_time_us=to_int(row.get("total_xact_time")),
            query_time_us=to_int(row.get("total_query_time")),
            wait_time_us=to_int(row.get("total_wait_time")),
            server_assignment_count=None if assignments is None else to_int(assignments),
        )
    return totals


def _avg_ms(time_us: int, count: int) -> float | None:
    return time_us / count / 1000.0 if count > 0 else None


def stats_rates(
    previous: StatsTotals | None, current: StatsTotals, interval_s: float | None
) -> BouncerStats:
    """Rates over the interval between two ``SHOW STATS`` readings of one database.

    All rates are None on the first reading, when the interval is unknown or not positive, and
    when any counter went backwards (PgBouncer restarted or its stats were reset): a restart
    makes every difference meaningless, never negative. Averages are over the interval only
    (not PgBouncer's own ``avg_*`` columns, which cover its last ``stats_period``) and None when
    nothing happened in the interval. The average wait is per server assignment when PgBouncer
    reports assignments (1.23+), else per transaction (one assignment per transaction in
    transaction pooling).
    """
    none = BouncerStats(current.database, None, None, None, None, None, None, None)
    if previous is None or interval_s is None or interval_s <= 0:
        return none
    before, after = previous.counters(), current.counters()
    if len(before) != len(after) or any(b > a for b, a in zip(before, after, strict=True)):
        return none
    xacts = current.xact_count - previous.xact_count
    queries = current.query_count - previous.query_count
    if current.server_assignment_count is not None and previous.server_assignment_count is not None:
        waits = current.server_assignment_count - previous.server_assignment_count
    else:
        waits = xacts
    return BouncerStats(
        database=current.database,
        xact_per_s=xacts / interval_s,
        query_per_s=queries / interval_s,
        avg_xact_ms=_avg_ms(current.xact_time_us - previous.xact_time_us, xacts),
        avg_query_ms=_avg_ms(current.query_time_us - previous.query_time_us, queries),
        avg_wait_ms=_avg_ms(current.wait_time_us - previous.wait_time_us, waits),
        bytes_in_per_s=(current.received - previous.received) / interval_s,
        bytes_out_per_s=(current.sent - previous.sent) / interval_s,
    )
