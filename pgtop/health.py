"""Thresholds → one Status per metric (the ops playbook's "Key Database Metrics" table).

Pure functions over model records: no I/O, no clock, no textual, no psycopg. Every Status says in
``message`` which number crossed which threshold (``connections 264/300 (88%) ≥ crit 85%``) and
carries a short ``label`` (≤ 14 characters) for the health bar. The comparison itself is always
:meth:`pgtop.config.Threshold.level`, so the messages use its operators: ``≥`` for
higher-is-worse metrics, ``≤`` for lower-is-worse ones (cache hit ratio).

A metric that can be evaluated yields a Status even when it is OK (the bar shows green items); a
metric that does not apply (no replicas, no slots, archive_mode off, data not known) yields none.
A disconnected sample yields only its ``disconnected`` status: nothing else is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from pgtop import units
from pgtop.config import Threshold, Thresholds
from pgtop.model import (
    Backend,
    BouncerSample,
    Level,
    Pool,
    Replication,
    Role,
    Sample,
    Status,
)

__all__ = [
    "LABEL_MAX",
    "TPS_MIN_MEAN",
    "TPS_MIN_SAMPLES",
    "TPS_WINDOW",
    "evaluate",
    "evaluate_bouncer",
    "worst",
    "worst_first",
]

LABEL_MAX = 14
"""Longest label a Status carries (the health bar's budget per item)."""

TPS_WINDOW = 30
"""tps_drop compares the current TPS with the mean of this many previous samples …"""
TPS_MIN_SAMPLES = 10
"""… provided at least this many are there …"""
TPS_MIN_MEAN = 5.0
"""… and their mean is at least this many transactions per second (an idle server's TPS
swings by 100 % between 0 and 2: no signal)."""


# --------------------------------------------------------------------------- public API


def evaluate(
    sample: Sample, history: Sequence[Sample], thresholds: Thresholds
) -> tuple[Status, ...]:
    """Health of one PostgreSQL sample.

    ``history``: earlier samples of the same server, oldest first (the current sample, if
    included, is ignored); only tps_drop uses it. Order of the result: metric order, stable;
    use :func:`worst_first` to sort by severity.
    """
    if not sample.connected:
        return (_disconnected(sample.source, sample),)
    found = (
        _connections(sample, thresholds.connections_pct),
        _replication_lag(sample.replication, thresholds.replication_lag_s),
        _cache_hit(sample, thresholds.cache_hit_pct),
        _tps_drop(sample, history, thresholds.tps_drop_pct),
        _longest_xact(sample, thresholds.longest_xact_s),
        _idle_in_xact(sample, thresholds.idle_in_xact_s),
        _xid_age(sample, thresholds.xid_age),
        _slot_retention(sample.replication, thresholds.slot_retained_wal_bytes),
        _archiver(sample.replication, thresholds.archive_age_s),
        _statements(sample),
    )
    return tuple(_finish(part, sample.source) for part in found if part is not None)


def evaluate_bouncer(sample: BouncerSample, thresholds: Thresholds) -> tuple[Status, ...]:
    """Health of one PgBouncer sample: clients waiting and pool utilisation (worst pool)."""
    if not sample.connected:
        return (_disconnected(sample.source, sample),)
    found = (
        _pool_waiting(sample.pools, thresholds.pgbouncer_waiting_clients),
        _pool_utilisation(sample.pools, thresholds.pool_utilisation_pct),
    )
    return tuple(_finish(part, sample.source) for part in found if part is not None)


def worst(statuses: Iterable[Status]) -> Level:
    """The worst level among ``statuses``; OK when there are none."""
    return max((s.level for s in statuses), default=Level.OK)


def worst_first(statuses: Iterable[Status]) -> tuple[Status, ...]:
    """``statuses`` sorted CRIT, WARN, OK; metric order kept within a level (stable)."""
    return tuple(sorted(statuses, key=lambda s: -s.level))


# --------------------------------------------------------------------------- building blocks

# (metric, label, level, value, message): a Status without its source yet
_Part = tuple[str, str, Level, float | None, str]


def _finish(part: _Part, source: str) -> Status:
    metric, label, level, value, message = part
    return Status(
        metric=metric,
        label=label[:LABEL_MAX],
        level=level,
        value=value,
        message=message,
        source=source,
    )


def _level(threshold: Threshold, value: float) -> Level:
    return Level(threshold.level(value))


def _verdict(threshold: Threshold, value: float, fmt: Callable[[float], str]) -> tuple[Level, str]:
    """The level of ``value`` and the comparison that decided it: ``≥ crit 85%``."""
    level = _level(threshold, value)
    bad, good = ("≥", "<") if threshold.higher_is_worse else ("≤", ">")
    if level is Level.CRIT:
        return level, f"{bad} crit {fmt(threshold.crit)}"
    if level is Level.WARN:
        return level, f"{bad} warn {fmt(threshold.warn)}"
    return level, f"{good} warn {fmt(threshold.warn)}"


def _clear(value: float, decimals: int, threshold: Threshold | None = None) -> str:
    limits = (threshold.warn, threshold.crit) if threshold is not None else ()
    return units.number(value, decimals, limits)


def _num(value: float) -> str:
    """A threshold as written in the config: ``85``, ``0.5``."""
    return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}"


def _seconds(value: float, threshold: Threshold | None = None) -> str:
    return units.seconds(value, (threshold.warn, threshold.crit) if threshold else ())


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _who(backend: Backend | None) -> str:
    if backend is None:
        return ""
    app = f', "{backend.application}"' if backend.application else ""
    return f" (pid {backend.pid}{app})"


# --------------------------------------------------------------------------- disconnected


def _disconnected(source: str, sample: Sample | BouncerSample) -> Status:
    since: datetime = sample.disconnected_since or sample.taken_at
    down_s = (sample.taken_at - since).total_seconds()
    message = (
        f"disconnected since {since:%H:%M:%S} {since.tzname() or 'UTC'} "
        f"({_plural(sample.retries, 'retry', 'retries')})"
    )
    if sample.error:
        message += f": {sample.error}"
    return _finish(
        ("disconnected", f"down {units.duration(down_s)}", Level.CRIT, down_s, message), source
    )


# --------------------------------------------------------------------------- PostgreSQL


def _connections(sample: Sample, th: Threshold) -> _Part | None:
    stats = sample.stats
    if stats is None or stats.connections_pct is None or stats.max_connections is None:
        return None
    pct = stats.connections_pct
    level, verdict = _verdict(th, pct, lambda v: f"{_num(v)}%")
    used = f"{stats.client_connections}/{stats.max_connections}"
    message = f"connections {used} ({_clear(pct, 0, th)}%) {verdict}"
    return ("connections", f"conn {_clear(pct, 0, th)}%", level, pct, message)


def _replication_lag(replication: Replication | None, th: Threshold) -> _Part | None:
    """Primary: the worst replica; standby: its own replay lag. Seconds against the threshold;
    a lag reported only in bytes (no replay time, bytes > 0) is a WARN in bytes."""
    if replication is None:
        return None
    # (who, seconds, bytes)
    candidates: list[tuple[str, float | None, int | None]]
    if replication.role is Role.STANDBY or replication.standby is not None:
        standby = replication.standby
        if standby is None:
            return None
        where = f"this standby, upstream {standby.upstream}" if standby.upstream else "this standby"
        candidates = [(where, standby.replay_lag_s, standby.receive_replay_lag_bytes)]
    else:
        candidates = [
            (f'replica "{r.application}"', r.replay_lag_s, r.replay_lag_bytes)
            for r in replication.replicas
        ]
    # (level, sort value, label, value, head, who, tail)
    judged: list[tuple[Level, float, str, float | None, str, str, str]] = []
    for who, seconds, lag_bytes in candidates:
        if seconds is not None:
            level, verdict = _verdict(th, seconds, lambda v: f"{_num(v)} s")
            label = f"lag {units.duration(seconds)}"
            head = f"replication lag {_seconds(seconds, th)}"
            judged.append((level, seconds, label, seconds, head, who, verdict))
        elif lag_bytes is not None and lag_bytes > 0:
            head = f"replication lag {units.size(lag_bytes)} of WAL"
            tail = "> 0 B with no replay time reported → warn"
            label = f"lag {units.size_short(lag_bytes)}"
            judged.append((Level.WARN, -1.0, label, None, head, f"{who}, in bytes", tail))
        elif lag_bytes == 0:
            head, verdict = "replication lag 0 s", f"< warn {_num(th.warn)} s"
            judged.append((Level.OK, 0.0, "lag 0s", 0.0, head, f"{who}, caught up", verdict))
    if not judged:
        return None
    level, _, label, value, head, who, tail = max(judged, key=lambda j: (j[0], j[1]))
    if len(judged) > 1:
        who += f", worst of {len(judged)}"
    return ("replication_lag", label, level, value, f"{head} ({who}) {tail}")


def _cache_hit(sample: Sample, th: Threshold) -> _Part | None:
    if sample.stats is None or sample.stats.cache_hit_ratio is None:
        return None
    pct = 100.0 * sample.stats.cache_hit_ratio
    level, verdict = _verdict(th, pct, lambda v: f"{_num(v)}%")
    message = f"cache hit {_clear(pct, 1, th)}% {verdict}"
    return ("cache_hit", f"hit {_clear(pct, 0, th)}%", level, pct, message)


def _tps_drop(sample: Sample, history: Sequence[Sample], th: Threshold) -> _Part | None:
    if sample.stats is None or sample.stats.tps is None:
        return None
    tps = sample.stats.tps
    recent = [
        s.stats.tps
        for s in history
        if s.connected
        and s.source == sample.source
        and s.taken_at < sample.taken_at
        and s.stats is not None
        and s.stats.tps is not None
    ][-TPS_WINDOW:]
    if len(recent) < TPS_MIN_SAMPLES:
        return None
    mean = sum(recent) / len(recent)
    if mean < TPS_MIN_MEAN:
        return None
    drop = max(0.0, 100.0 * (mean - tps) / mean)
    level, verdict = _verdict(th, drop, lambda v: f"{_num(v)}%")
    base = f"the recent mean {mean:.1f}/s ({len(recent)} samples)"
    if level is Level.OK:
        label = f"tps {tps:.0f}/s"
        if drop == 0:
            message = f"TPS {tps:.1f}/s, not below {base}"
        else:
            message = f"TPS {tps:.1f}/s, {_clear(drop, 0, th)}% below {base} {verdict}"
    else:
        label = f"tps -{_clear(drop, 0, th)}%"
        message = f"TPS {tps:.1f}/s is {_clear(drop, 0, th)}% below {base} {verdict}"
    return ("tps_drop", label, level, drop, message)


def _longest_xact(sample: Sample, th: Threshold) -> _Part | None:
    if sample.stats is None or sample.stats.longest_transaction_s is None:
        return None
    seconds = sample.stats.longest_transaction_s
    culprit = max(
        (b for b in sample.activity if b.is_client and b.xact_s is not None),
        key=lambda b: b.xact_s or 0.0,
        default=None,
    )
    level, verdict = _verdict(th, seconds, lambda v: f"{_num(v)} s")
    message = f"longest transaction {_seconds(seconds, th)}{_who(culprit)} {verdict}"
    return ("longest_xact", f"xact {units.duration(seconds)}", level, seconds, message)


def _idle_in_xact(sample: Sample, th: Threshold) -> _Part | None:
    stats = sample.stats
    if stats is None:
        return None
    seconds = stats.longest_idle_in_transaction_s
    if seconds is None:
        if stats.idle_in_transaction == 0:
            message = f"no session idle in transaction < warn {_num(th.warn)} s"
            return ("idle_in_xact", "idle-tx 0", Level.OK, 0.0, message)
        return None
    culprit = max(
        (
            b
            for b in sample.activity
            if b.is_client and (b.state or "").startswith("idle in transaction")
        ),
        key=lambda b: b.state_s or 0.0,
        default=None,
    )
    level, verdict = _verdict(th, seconds, lambda v: f"{_num(v)} s")
    message = f"idle in transaction {_seconds(seconds, th)}{_who(culprit)} {verdict}"
    return ("idle_in_xact", f"idle-tx {units.duration(seconds)}", level, seconds, message)


def _xid_age(sample: Sample, th: Threshold) -> _Part | None:
    if sample.stats is None or sample.stats.oldest_xid_age is None:
        return None
    age = sample.stats.oldest_xid_age
    level, verdict = _verdict(th, age, lambda v: f"{v:,.0f}")
    message = f"xid age {age:,} (oldest database) {verdict}"
    return ("xid_age", f"xid {units.count_short(age)}", level, float(age), message)


def _slot_retention(replication: Replication | None, th: Threshold) -> _Part | None:
    """An inactive slot retaining WAL (≥ warn/crit bytes), or any slot whose WAL is lost."""
    if replication is None or not replication.slots:
        return None
    slots = replication.slots
    lost = [s for s in slots if s.wal_status == "lost"]
    if lost:
        slot = lost[0]
        more = f" (+{len(lost) - 1} more)" if len(lost) > 1 else ""
        message = (
            f'replication slot "{slot.name}" has lost required WAL (wal_status lost){more}: '
            "its consumer cannot resume; drop the slot and rebuild the consumer"
        )
        return ("slot_retention", "slot lost", Level.CRIT, None, message)
    inactive = [s for s in slots if not s.active and s.retained_wal_bytes is not None]
    if not inactive:
        message = f"replication slots: {_plural(len(slots), 'slot')}, none inactive, none lost"
        return ("slot_retention", "slots ok", Level.OK, 0.0, message)
    slot = max(inactive, key=lambda s: s.retained_wal_bytes or 0)
    retained = slot.retained_wal_bytes or 0
    level, verdict = _verdict(th, retained, units.size)
    message = f'replication slot "{slot.name}" inactive, retaining {units.size(retained)} of WAL'
    message += f" {verdict}"
    label = f"slot {units.size_short(retained)}" if level is not Level.OK else "slots ok"
    return ("slot_retention", label, level, float(retained), message)


def _archiver(replication: Replication | None, th: Threshold) -> _Part | None:
    if replication is None or replication.archiver is None:
        return None
    arch = replication.archiver
    if arch.archive_mode not in ("on", "always"):
        return None
    if arch.failing:
        wal = arch.last_failed_wal or "?"
        message = f"archiving failing since WAL {wal} ({_plural(arch.failed_count, 'failure')}"
        if arch.last_failed_age_s is not None:
            message += f", last {_seconds(arch.last_failed_age_s)} ago"
        if arch.last_archived_age_s is not None:
            message += f"; last success {_seconds(arch.last_archived_age_s)} ago"
        message += "): check archive_command and the server log"
        return ("archiver", "archive FAIL", Level.CRIT, arch.last_archived_age_s, message)
    if arch.archived_count > 0 and arch.last_archived_age_s is not None:
        age = arch.last_archived_age_s
        level, verdict = _verdict(th, age, lambda v: f"{_num(v)} s")
        wal = f" ({arch.last_archived_wal})" if arch.last_archived_wal else ""
        message = f"last WAL archived {_seconds(age, th)} ago{wal} {verdict}"
        return ("archiver", f"arch {units.duration(age)}", level, age, message)
    message = "archiving on, no WAL archived yet, no failures"
    return ("archiver", "arch ok", Level.OK, None, message)


def _statements(sample: Sample) -> _Part | None:
    status = sample.statements_status
    if status is None:
        return None
    if status.available:
        return ("statements", "pgss ok", Level.OK, None, "pg_stat_statements available")
    reason = status.reason or "no reason given"
    message = f"pg_stat_statements unavailable: {reason}"
    return ("statements", "pgss off", Level.WARN, None, message)


# --------------------------------------------------------------------------- PgBouncer


def _pool_name(pool: Pool) -> str:
    return f"{pool.database}/{pool.user}"


def _pool_waiting(pools: Sequence[Pool], th: Threshold) -> _Part | None:
    if not pools:
        return None
    pool = max(pools, key=lambda p: (th.level(p.cl_waiting), p.cl_waiting, p.maxwait_s))
    waiting = pool.cl_waiting
    level, verdict = _verdict(th, waiting, _num)
    if waiting == 0:
        message = f"no clients waiting in {_plural(len(pools), 'pool')} {verdict}"
        return ("pool_waiting", "wait 0", level, 0.0, message)
    message = (
        f"pool {_pool_name(pool)}: {_plural(waiting, 'client')} waiting, "
        f"max wait {_seconds(pool.maxwait_s)} {verdict}"
    )
    others = sum(1 for p in pools if p.cl_waiting > 0) - 1
    if others > 0:
        message += f" (+{others} more {'pool' if others == 1 else 'pools'} with waiting clients)"
    return ("pool_waiting", f"wait {waiting}", level, float(waiting), message)


def _pool_utilisation(pools: Sequence[Pool], th: Threshold) -> _Part | None:
    sized = [(p, p.utilisation_pct) for p in pools if p.utilisation_pct is not None]
    if not sized:
        return None
    pool, pct = max(sized, key=lambda pp: (th.level(pp[1] or 0.0), pp[1] or 0.0))
    assert pct is not None
    level, verdict = _verdict(th, pct, lambda v: f"{_num(v)}%")
    message = (
        f"pool {_pool_name(pool)}: {pool.servers_in_use}/{pool.pool_size} server connections "
        f"({_clear(pct, 0, th)}%) {verdict}"
    )
    return ("pool_utilisation", f"pool {_clear(pct, 0, th)}%", level, pct, message)
