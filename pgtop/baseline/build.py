"""Samples over a window → a :class:`~pgtop.baseline.document.Baseline`. Pure: no I/O, no clock.

Two inputs, which may come from one list or from two places:

* the **time series**: the watched server's samples over the window, full or slim (the
  session :class:`~pgtop.history.History` keeps slim ones), plus any PgBouncer and replica
  samples: resources, replication, pools, health and the charts come from them;
* the **statement end points**: two full samples whose ``statements`` are two reads of
  pg_stat_statements; the statement figures are the difference between them (the *window*
  basis). With only the last one (the monitor: slim history + its latest full sample) they are
  the cumulative figures since pg_stat_statements' last reset (the *since reset* basis), and
  the document says so. By default both are found in ``samples``.

Figures pg_stat_statements does not keep are never made up: it has no percentile, its min and
max cover the time since the entry's last reset; the window's standard deviation is derived
exactly from the running variance at both ends (population variance, as the extension keeps).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from pgtop import __version__
from pgtop.baseline.document import (
    ArchiverFigures,
    Baseline,
    BaselineError,
    BaselineStatement,
    HealthItem,
    IndexAdvice,
    PoolFigures,
    Pools,
    ReplicationFigures,
    Resources,
    SeqScanTable,
    Series,
    SlotFigures,
    StandbyFigures,
    StandbyView,
    Statements,
    UnusedIndexFigures,
    Verdict,
)
from pgtop.baseline.settings import advise
from pgtop.health import worst_first
from pgtop.model import (
    AnySample,
    Archiver,
    BouncerSample,
    Level,
    Pool,
    Replica,
    Replication,
    Sample,
    ServerStats,
    Slot,
    Statement,
    StatementsStatus,
    TableScan,
    UnusedIndex,
)

__all__ = ["CHART_POINTS", "TEXT_LIMIT", "IndexAdviceInput", "build", "first_keyword", "thin"]

IndexAdviceInput = tuple[Sequence[TableScan], Sequence[UnusedIndex]]
"""What :func:`pgtop.collect.per_database.fetch_index_advice` returns."""

CHART_POINTS: Final = 60
"""A chart's series are thinned to at most this many points (bucket means)."""
TEXT_LIMIT: Final = 4000
"""A statement's text is kept up to this many characters in the document."""
_DAY: Final = 86_400.0

StatementKey = tuple[str | None, str | None, int, bool | None]


# --------------------------------------------------------------------------- public API


def build(
    samples: Sequence[AnySample],
    *,
    redact: bool,
    top: int = 20,
    statements_from: Sample | None = None,
    statements_to: Sample | None = None,
    index_advice: IndexAdviceInput | None = None,
    index_advice_note: str | None = None,
    source: str = "primary",
    server: str | None = None,
    pgtop_version: str = __version__,
    chart_statements: int = 3,
) -> Baseline:
    """The baseline of ``source`` over the window ``samples`` span.

    ``redact``: no query text in the document, only each statement's queryid and first
    keyword. ``top``: how many statements (by execution time in the period). ``statements_from``
    / ``statements_to``: the two reads of pg_stat_statements (default: the first and last
    samples of ``source`` in ``samples`` that carry statements); without a first one the
    figures are cumulative since the last reset. ``index_advice``: the tables read by sequential
    scans and the unused indexes (:func:`~pgtop.collect.per_database.fetch_index_advice`), or
    None with ``index_advice_note`` saying why. ``server``: the name to show (default
    ``host:port/dbname`` of the server's info). Raises :class:`BaselineError` when no sample of
    ``source`` was connected: there is nothing to write.
    """
    mine = [s for s in samples if isinstance(s, Sample) and s.source == source]
    live = [s for s in mine if s.connected and s.error is None]
    carrying = [s for s in mine if s.connected and s.statements]
    end = statements_to if statements_to is not None else (carrying[-1] if carrying else None)
    start = statements_from if statements_from is not None else (carrying[0] if carrying else None)
    if start is not None and (end is None or start.taken_at >= end.taken_at):
        start = None  # one read: cumulative figures
    moments = [s.taken_at for s in live] + [s.taken_at for s in (start, end) if s is not None]
    if not moments:
        raise BaselineError(f"no connected sample of {source} in the window: nothing to write")
    window = (min(moments), max(moments))
    last = _last_info_sample(mine, end)
    info = last.info if last is not None else None
    messages = _messages(samples)
    status_from = end if end is not None else last
    statements = _statements(
        start,
        end,
        status_from.statements_status if status_from is not None else None,
        redact=redact,
        top=max(0, top),
        messages=messages.pop("statements", []),
    )
    resources = _resources(live, end)
    span = (window[1] - window[0]).total_seconds()
    charts = _server_series(live, window[0], span)
    charts += _statement_series(statements, mine, window[0], span, chart_statements)
    return Baseline(
        pgtop=pgtop_version,
        server=server if server is not None else _server_name(last, source),
        server_version=info.version if info else None,
        role=info.role.value if info else None,
        window_start=window[0],
        window_end=window[1],
        samples=len(mine),
        samples_connected=len([s for s in mine if s.connected]),
        interval_s=_median([s.interval_s for s in live]),
        health=_health(samples),
        statements=statements,
        resources=resources,
        replication=_replication(live, samples, source, messages.pop("replication", [])),
        pools=_pools(samples),
        index_advice=_index_advice(index_advice, index_advice_note, info.dbname if info else None),
        settings=advise(dict(info.settings) if info else {}, resources),
        notes=tuple(note for notes in messages.values() for note in notes),
        charts=tuple(s for s in charts if len(s.v) >= 2),
    )


def first_keyword(query: str) -> str:
    """The statement's first SQL keyword in upper case (``SELECT``, ``WITH``), after comments
    and opening parentheses; ``?`` when there is none. Letters only: safe in any document."""
    match = _KEYWORD.match(query)
    return match.group(1).upper() if match else "?"


def thin(
    points: Sequence[tuple[float, float]], span_s: float, name: str, unit: str, limit: int
) -> Series:
    """``points`` (seconds from the window start, value) as a chart's series: the points
    themselves when there are at most ``limit`` (``step_s`` 0), else the means of ``limit``
    equal buckets over ``span_s`` (empty buckets left out)."""
    if len(points) <= limit:
        ts, vs = tuple(t for t, _ in points), tuple(v for _, v in points)
        return Series(name=name, unit=unit, step_s=0.0, t=ts, v=vs)
    limit = max(1, limit)
    step = span_s / limit if span_s > 0 else 1.0
    buckets: dict[int, list[float]] = {}
    for t, v in points:
        buckets.setdefault(min(limit - 1, int(t / step)), []).append(v)
    keys = sorted(buckets)
    return Series(
        name=name,
        unit=unit,
        step_s=step,
        t=tuple(k * step for k in keys),
        v=tuple(math.fsum(buckets[k]) / len(buckets[k]) for k in keys),
    )


# --------------------------------------------------------------------------- shared helpers

_KEYWORD: Final = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.DOTALL)
_HIDDEN: Final = "<insufficient privilege>"
_VERDICTS: Final[Mapping[Level, Verdict]] = {Level.OK: "ok", Level.WARN: "warn", Level.CRIT: "crit"}


def _mean(values: Iterable[float]) -> float | None:
    data = list(values)
    return math.fsum(data) / len(data) if data else None


def _median(values: Iterable[float | None]) -> float | None:
    data = [v for v in values if v is not None]
    return float(statistics.median(data)) if data else None


def _weighted(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
    """Mean of values weighted by their interval (a rate's mean over time)."""
    known = [(v, w) for v, w in pairs if v is not None and w is not None and w > 0]
    weight = math.fsum(w for _, w in known)
    return math.fsum(v * w for v, w in known) / weight if weight > 0 else None


def _max(values: Iterable[float | None]) -> float | None:
    return max((v for v in values if v is not None), default=None)


def _last_info_sample(mine: Sequence[Sample], end: Sample | None) -> Sample | None:
    with_info = [s for s in mine if s.connected and s.info is not None]
    if end is not None and end.info is not None:
        with_info.append(end)
    return max(with_info, key=lambda s: s.taken_at) if with_info else None


def _server_name(sample: Sample | None, source: str) -> str:
    if sample is None or sample.info is None:
        return source
    info = sample.info
    return f"{info.host}:{info.port}/{info.dbname}"


def _latest_per_source(samples: Sequence[AnySample]) -> list[AnySample]:
    latest: dict[str, AnySample] = {}
    for sample in samples:
        if sample.source not in latest or sample.taken_at >= latest[sample.source].taken_at:
            latest[sample.source] = sample
    return list(latest.values())


def _health(samples: Sequence[AnySample]) -> tuple[HealthItem, ...]:
    statuses = [status for s in _latest_per_source(samples) for status in s.health]
    return tuple(
        HealthItem(
            source=status.source,
            metric=status.metric,
            level=_VERDICTS[status.level],
            message=status.message,
            value=status.value if status.value is None or math.isfinite(status.value) else None,
        )
        for status in worst_first(statuses)
    )


def _messages(samples: Sequence[AnySample]) -> dict[str, list[str]]:
    """The latest samples' collector notes by area (``statements: …`` → "statements")."""
    out: dict[str, list[str]] = {}
    for sample in _latest_per_source(samples):
        for message in sample.messages:
            area, _, rest = message.partition(": ")
            key = area if rest and area in ("statements", "replication") else "other"
            if message not in out.setdefault(key, []):
                out[key].append(message)
    return out


# --------------------------------------------------------------------------- statements


def _key(statement: Statement) -> StatementKey:
    toplevel = getattr(statement, "toplevel", None)  # the model may carry it one day
    return (
        statement.database,
        statement.user,
        statement.queryid,
        toplevel if isinstance(toplevel, bool) else None,
    )


@dataclass(slots=True)
class _Period:
    """One statement's figures over the period, before ranking."""

    now: Statement
    calls: int
    total_ms: float
    rows: int
    stddev_ms: float | None
    reset: bool


def _window_stddev(before: Statement | None, now: Statement, calls: int) -> float | None:
    """The period's standard deviation from the running (population) variance at both ends:
    sum of squares = calls × (stddev² + mean²)."""
    if calls <= 0:
        return None
    if before is None:
        return now.stddev_ms
    squares = now.calls * (now.stddev_ms**2 + now.mean_ms**2) - before.calls * (
        before.stddev_ms**2 + before.mean_ms**2
    )
    mean = (now.total_exec_ms - before.total_exec_ms) / calls
    variance = squares / calls - mean * mean
    if variance < 0:  # rounding; a real negative means the ends do not belong together
        return 0.0 if variance > -1e-6 * (mean * mean + 1.0) else None
    return math.sqrt(variance)


def _periods(start: Sample | None, end: Sample, since_reset: bool) -> list[_Period]:
    before = {} if since_reset or start is None else {_key(s): s for s in start.statements}
    out: list[_Period] = []
    for now in end.statements:
        earlier = before.get(_key(now))
        reset = earlier is not None and earlier.calls > now.calls
        if reset:
            earlier = None
        calls = now.calls - (earlier.calls if earlier else 0)
        if calls <= 0:
            continue
        out.append(
            _Period(
                now=now,
                calls=calls,
                total_ms=max(0.0, now.total_exec_ms - (earlier.total_exec_ms if earlier else 0)),
                rows=max(0, now.rows - (earlier.rows if earlier else 0)),
                stddev_ms=_window_stddev(earlier, now, calls),
                reset=reset,
            )
        )
    return out


def _statements(
    start: Sample | None,
    end: Sample | None,
    status: StatementsStatus | None,
    *,
    redact: bool,
    top: int,
    messages: list[str],
) -> Statements:
    notes = list(messages)
    if end is None or (status is not None and not status.available):
        reason = status.reason if status is not None and status.reason else None
        notes.insert(0, reason or "no read of pg_stat_statements in the window")
        return Statements(top=top, redacted=redact, note="; ".join(notes))
    stats_reset = status.stats_reset if status is not None else None
    global_reset = start is not None and stats_reset is not None and stats_reset > start.taken_at
    since_reset = start is None or global_reset
    if since_reset:
        period_s = (end.taken_at - stats_reset).total_seconds() if stats_reset else None
        if global_reset and stats_reset is not None:
            notes.insert(
                0,
                f"pg_stat_statements was reset at {stats_reset:%Y-%m-%d %H:%M:%S} UTC, inside "
                "the window: the figures cover the time since",
            )
        elif stats_reset is None:
            notes.insert(
                0,
                "one read of pg_stat_statements and no reset time (PostgreSQL 14+): figures "
                "are cumulative, calls/day unknown",
            )
        else:
            notes.insert(0, "one read of pg_stat_statements: figures are cumulative since reset")
    else:
        assert start is not None
        period_s = (end.taken_at - start.taken_at).total_seconds()
    periods = _periods(start, end, since_reset)
    total_ms = math.fsum(p.total_ms for p in periods)
    periods.sort(key=lambda p: (-p.total_ms, -p.calls, p.now.queryid))
    items = tuple(_statement(p, period_s, total_ms, redact) for p in periods[:top])
    if not periods:
        notes.append("no statement was called in the period")
    entries_reset = sum(1 for p in periods if p.reset)
    return Statements(
        basis="since reset" if since_reset else "window",
        period_s=period_s if period_s is not None and period_s > 0 else None,
        top=top,
        redacted=redact,
        seen=len(periods),
        total_calls=sum(p.calls for p in periods),
        total_ms=total_ms,
        top_share_pct=100.0 * math.fsum(i.total_ms for i in items) / total_ms
        if total_ms > 0
        else None,
        entries_reset=entries_reset,
        items=items,
        note="; ".join(notes) or None,
    )


def _statement(
    p: _Period, period_s: float | None, total_ms: float, redact: bool
) -> BaselineStatement:
    now = p.now
    text: str | None = None
    if not redact and now.query and not now.query.startswith(_HIDDEN):
        text = now.query  # secrets were masked by the collector (pgtop.redact)
        if len(text) > TEXT_LIMIT:
            text = text[: TEXT_LIMIT - 1] + "…"
    database, user, queryid, toplevel = _key(now)
    return BaselineStatement(
        queryid=queryid,
        database=database,
        user=user,
        toplevel=toplevel,
        keyword=first_keyword(now.query),
        text=text,
        calls=p.calls,
        total_ms=p.total_ms,
        mean_ms=p.total_ms / p.calls,
        stddev_ms=p.stddev_ms,
        rows=p.rows,
        rows_per_call=p.rows / p.calls,
        calls_per_day=p.calls / period_s * _DAY if period_s else None,
        share_pct=100.0 * p.total_ms / total_ms if total_ms > 0 else None,
        cumulative_calls=now.calls,
        cumulative_mean_ms=now.mean_ms,
        cumulative_stddev_ms=now.stddev_ms,
        min_ms=now.min_ms,
        max_ms=now.max_ms,
        reset=p.reset,
    )


# --------------------------------------------------------------------------- resources


def _resources(live: Sequence[Sample], end: Sample | None) -> Resources:
    rows = [(s, s.stats) for s in live if s.stats is not None]
    if not rows:
        return Resources(note="no sample of the window carried server figures")
    stats = [st for _, st in rows]

    def total(value: Callable[[ServerStats], float | None]) -> int | None:
        known = [(value(st), s.interval_s) for s, st in rows]
        parts = [v * w for v, w in known if v is not None and w is not None]
        return round(math.fsum(parts)) if parts else None

    deadlocks = stats[-1].deadlocks_total - stats[0].deadlocks_total
    info = end.info if end is not None and end.info is not None else live[-1].info
    return Resources(
        connections_avg=_mean(st.client_connections for st in stats),
        connections_peak=max(st.client_connections for st in stats),
        max_connections=stats[-1].max_connections
        or (info.max_connections if info is not None else None),
        active_avg=_mean(st.active for st in stats),
        active_peak=max(st.active for st in stats),
        idle_in_transaction_peak=max(st.idle_in_transaction for st in stats),
        tps_avg=_weighted((st.tps, s.interval_s) for s, st in rows),
        tps_peak=_max(st.tps for st in stats),
        cache_hit_avg_pct=_weighted((_hit_pct(st), s.interval_s) for s, st in rows),
        cache_hit_min_pct=min((v for v in map(_hit_pct, stats) if v is not None), default=None),
        temp_files=total(lambda st: st.temp_files_per_s),
        temp_bytes=total(lambda st: st.temp_bytes_per_s),
        deadlocks=deadlocks if deadlocks >= 0 else total(lambda st: st.deadlocks_per_s),
        longest_transaction_peak_s=_max(st.longest_transaction_s for st in stats),
        xid_age_end=stats[-1].oldest_xid_age,
    )


def _hit_pct(st: ServerStats) -> float | None:
    return None if st.cache_hit_ratio is None else 100.0 * st.cache_hit_ratio


def _server_series(live: Sequence[Sample], start: datetime, span: float) -> list[Series]:
    """TPS, connections, active and cache hit over the window, for the charts."""
    rows = [(s, s.stats) for s in live if s.stats is not None]

    def series(name: str, unit: str, value: Callable[[ServerStats], float | None]) -> Series:
        points = []
        for sample, st in rows:
            y = value(st)
            if y is not None and math.isfinite(y):
                points.append(((sample.taken_at - start).total_seconds(), float(y)))
        return thin(points, span, name, unit, CHART_POINTS)

    return [
        series("tps", "transactions/s", lambda st: st.tps),
        series("connections", "connections", lambda st: st.client_connections),
        series("active", "connections", lambda st: st.active),
        series("cache_hit_pct", "%", _hit_pct),
    ]


def _statement_series(
    statements: Statements, mine: Sequence[Sample], start: datetime, span: float, count: int
) -> list[Series]:
    """The top statements' mean time per interval, from the full samples that carry them."""
    wanted = {
        (i.database, i.user, i.queryid, i.toplevel): n
        for n, i in enumerate(statements.items[: max(0, count)], 1)
    }
    if statements.basis != "window" or not wanted:
        return []
    found: dict[int, list[tuple[float, float]]] = {n: [] for n in wanted.values()}
    queryids = {key[2] for key in wanted}
    for sample in mine:
        if not sample.connected or not sample.statements:
            continue
        t = (sample.taken_at - start).total_seconds()
        for statement in sample.statements:
            if statement.queryid not in queryids:  # thousands of entries a sample: cheap first
                continue
            n = wanted.get(_key(statement))
            if n is not None and statement.mean_ms_interval is not None:
                found[n].append((t, statement.mean_ms_interval))
    return [thin(found[n], span, f"statement {n}", "ms", CHART_POINTS) for n in sorted(found)]


# --------------------------------------------------------------------------- replication


@dataclass(slots=True)
class _Standby:
    """A standby's sightings over the window (the last one names its state)."""

    last: Replica
    lags: list[float] = field(default_factory=list)
    lag_bytes: list[int] = field(default_factory=list)
    seen: int = 0


def _replication(
    live: Sequence[Sample], samples: Sequence[AnySample], source: str, messages: list[str]
) -> ReplicationFigures:
    rows = [(s, s.replication) for s in live if s.replication is not None]
    if not rows:
        note = "; ".join(messages) or "no sample of the window carried replication figures"
        return ReplicationFigures(note=note)
    standbys: dict[tuple[str, str | None], _Standby] = {}
    slots: dict[str, tuple[Slot, list[int]]] = {}
    for _, rep in rows:
        for r in rep.replicas:
            entry = standbys.setdefault((r.application, r.client), _Standby(r))
            entry.last = r
            entry.seen += 1
            if r.replay_lag_s is not None:
                entry.lags.append(r.replay_lag_s)
            if r.replay_lag_bytes is not None:
                entry.lag_bytes.append(r.replay_lag_bytes)
        for slot in rep.slots:
            retained = slots[slot.name][1] if slot.name in slots else []
            if slot.retained_wal_bytes is not None:
                retained.append(slot.retained_wal_bytes)
            slots[slot.name] = (slot, retained)
    last = rows[-1][1]
    views = [_view(source, [r for _, r in rows])] if last.standby is not None else []
    views += _replica_views(samples, source)
    notes = list(messages)
    if not (standbys or slots or last.archiver or views):
        notes.append("no standby, no replication slot, archiving off")
    return ReplicationFigures(
        role=last.role.value,
        standbys=tuple(
            StandbyFigures(
                name=e.last.application,
                client=e.last.client,
                state=e.last.state,
                sync_state=e.last.sync_state,
                samples=e.seen,
                replay_lag_avg_s=_mean(e.lags),
                replay_lag_max_s=_max(e.lags),
                replay_lag_max_bytes=max(e.lag_bytes, default=None),
            )
            for e in standbys.values()
        ),
        views=tuple(views),
        slots=tuple(
            SlotFigures(
                name=slot.name,
                slot_type=slot.slot_type,
                active=slot.active,
                database=slot.database,
                retained_wal_bytes=slot.retained_wal_bytes,
                retained_wal_peak_bytes=max(peak, default=None),
                wal_status=slot.wal_status,
            )
            for slot, peak in slots.values()
        ),
        archiver=_archiver(rows[0][1].archiver, last.archiver),
        note="; ".join(notes) or None,
    )


def _view(source: str, reps: Sequence[Replication]) -> StandbyView:
    standbys = [r.standby for r in reps if r.standby is not None]
    lags = [s.replay_lag_s for s in standbys if s.replay_lag_s is not None]
    end = standbys[-1]
    return StandbyView(
        source=source,
        replay_lag_avg_s=_mean(lags),
        replay_lag_max_s=_max(lags),
        receiver=end.wal_receiver_status,
        upstream=end.upstream,
    )


def _replica_views(samples: Sequence[AnySample], source: str) -> list[StandbyView]:
    """The watched replicas' own views (sources other than ``source``)."""
    by_source: dict[str, list[Replication]] = {}
    for s in samples:
        if (
            isinstance(s, Sample)
            and s.source != source
            and s.connected
            and s.error is None
            and s.replication is not None
            and s.replication.standby is not None
        ):
            by_source.setdefault(s.source, []).append(s.replication)
    return [_view(name, reps) for name, reps in by_source.items()]


def _archiver(first: Archiver | None, last: Archiver | None) -> ArchiverFigures | None:
    if last is None or last.archive_mode == "off":
        return None
    archived = failed = None
    if first is not None:
        archived = last.archived_count - first.archived_count
        failed = last.failed_count - first.failed_count
    return ArchiverFigures(
        mode=last.archive_mode,
        archived=archived if archived is not None and archived >= 0 else None,
        failed=failed if failed is not None and failed >= 0 else None,
        failing=last.failing,
        last_archived_age_s=last.last_archived_age_s,
    )


# --------------------------------------------------------------------------- pools


def _pools(samples: Sequence[AnySample]) -> Pools:
    bouncers = [s for s in samples if isinstance(s, BouncerSample)]
    if not bouncers:
        return Pools(note="no PgBouncer watched")
    name = bouncers[0].source
    mine = [s for s in bouncers if s.source == name]
    live = [s for s in mine if s.connected and s.error is None]
    if not live:
        last_error = next((s.error for s in reversed(mine) if s.error), None)
        return Pools(source=name, note=f"PgBouncer never answered: {last_error or 'no sample'}")
    by_pool: dict[tuple[str, str], list[Pool]] = {}
    for sample in live:
        for pool in sample.pools:
            by_pool.setdefault((pool.database, pool.user), []).append(pool)
    figures = tuple(_pool(seen) for seen in by_pool.values())
    return Pools(source=name, pools=figures, note=None if figures else "no pool in use")


def _pool(seen: Sequence[Pool]) -> PoolFigures:
    last = seen[-1]
    utilisation = [p.utilisation_pct for p in seen if p.utilisation_pct is not None]
    return PoolFigures(
        database=last.database,
        user=last.user,
        pool_mode=last.pool_mode,
        pool_size=last.pool_size,
        utilisation_avg_pct=_mean(utilisation),
        utilisation_peak_pct=_max(utilisation),
        clients_active_avg=_mean(p.cl_active for p in seen),
        waiting_peak=max(p.cl_waiting for p in seen),
        maxwait_peak_s=max(p.maxwait_s for p in seen),
    )


# --------------------------------------------------------------------------- index advice


def _index_advice(
    advice: IndexAdviceInput | None, note: str | None, database: str | None
) -> IndexAdvice:
    if advice is None:
        return IndexAdvice(database=database, note=note or "index advice was not collected")
    scans, unused = advice
    return IndexAdvice(
        database=database,
        tables=tuple(
            SeqScanTable(
                schema=t.schema,
                table=t.table,
                seq_scan=t.seq_scan,
                seq_tup_read=t.seq_tup_read,
                idx_scan=t.idx_scan,
                idx_tup_fetch=t.idx_tup_fetch,
            )
            for t in scans
        ),
        unused=tuple(
            UnusedIndexFigures(
                schema=i.schema, table=i.table, index=i.index, size_bytes=i.size_bytes
            )
            for i in unused
        ),
        note=note,
    )
