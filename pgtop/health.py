"""Thresholds → one Status per metric (the ops playbook's "Key Database Metrics" and runbooks).

Pure functions over model records: no I/O, no clock, no textual, no psycopg. Every Status says in
``message`` which number crossed which threshold (``connections 264/300 (88%) ≥ crit 85%``) and
carries a short ``label`` (≤ 14 characters) for the health bar. The comparison itself is always
:meth:`pgtop.config.Threshold.level`, so the messages use its operators: ``≥`` for
higher-is-worse metrics, ``≤`` for lower-is-worse ones (cache hit ratio).

A WARN or CRIT status names its culprit twice: in ``message``, in full, and in ``culprit``,
short and on one line (``pid 4201 lab-blocker``, a slot, a pool, an application, a statement's
text), which the health bar shows beside the label: the first screen says who to act on, and a
symbol says how bad, without colour. Info statuses (``progress``) are OK statuses with a culprit:
what they are about.

A metric that can be evaluated yields a Status even when it is OK (the bar shows green items); a
metric that does not apply (no replicas, no slots, archive_mode off, data not known) yields none.
A disconnected sample yields only its ``disconnected`` status: nothing else is known.

Statement regressions need what came before: :func:`evaluate` takes a :class:`HealthMemory`
(the sampler holds one; it keeps a small state per source, and nothing else here does) and judges
each statement's recent mean time against its own mean before (:func:`regression`: the formula
and its limits are in its docstring). Without a memory there is no ``statement_regression``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from pgtop import units
from pgtop.config import Threshold, Thresholds
from pgtop.model import (
    Backend,
    BouncerSample,
    Level,
    LockNode,
    Pool,
    Progress,
    Replication,
    Role,
    Sample,
    Slot,
    Statement,
    Status,
)

__all__ = [
    "CULPRIT_MAX",
    "LABEL_MAX",
    "LOCK_WAIT_MIN_S",
    "REGRESSION_SEPARATION",
    "REGRESSION_Z",
    "TPS_MIN_MEAN",
    "TPS_MIN_SAMPLES",
    "TPS_WINDOW",
    "Counters",
    "HealthMemory",
    "Regression",
    "StatementRegressions",
    "evaluate",
    "evaluate_bouncer",
    "mixture_before_ms",
    "regression",
    "slot_level",
    "worst",
    "worst_first",
]

LABEL_MAX = 14
"""Longest label a Status carries (the health bar's budget per item)."""

CULPRIT_MAX = 40
"""Longest culprit a Status carries (the bar cuts it further to fit its width)."""

TPS_WINDOW = 30
"""tps_drop compares the current TPS with the mean of this many previous samples …"""
TPS_MIN_SAMPLES = 10
"""… provided at least this many are there …"""
TPS_MIN_MEAN = 5.0
"""… and their mean is at least this many transactions per second (an idle server's TPS
swings by 100 % between 0 and 2: no signal)."""

LOCK_WAIT_MIN_S = 1.0
"""``lock_waiters`` counts the sessions that have waited at least this long: row locks taken
and released in milliseconds (pgbench's branches) are traffic, not a pile-up."""

REGRESSION_Z = 3.0
"""A statement's recent mean must exceed its mean before by this many standard errors of the
recent mean (stddev / √calls, from the window's own spread): a heavy-tailed statement whose
last few calls happened to be slow is noise, not a regression."""

REGRESSION_SEPARATION = 3.0
"""The "slower calls already counted" estimate (:func:`mixture_before_ms`) is tried only when
the cumulative minimum lies at least this many recent standard deviations below the recent
mean: the current behaviour cannot have produced it, an earlier, faster one did."""


# --------------------------------------------------------------------------- public API


def evaluate(
    sample: Sample,
    history: Sequence[Sample],
    thresholds: Thresholds,
    memory: HealthMemory | None = None,
) -> tuple[Status, ...]:
    """Health of one PostgreSQL sample.

    ``history``: earlier samples of the same server, oldest first (the current sample, if
    included, is ignored); only tps_drop uses it. ``memory``: what health keeps between the
    samples of a session (statement regressions); without it there is no regression status.
    Order of the result: metric order, stable; use :func:`worst_first` to sort by severity.
    """
    if not sample.connected:
        return (_disconnected(sample.source, sample),)
    th = thresholds
    found = (
        _connections(sample, th.connections_pct),
        _lock_waits(sample, th.lock_wait_s, th.lock_waiters),
        _replication_lag(sample.replication, th.replication_lag_s),
        _cache_hit(sample, th.cache_hit_pct),
        _tps_drop(sample, history, th.tps_drop_pct),
        _longest_xact(sample, th.longest_xact_s),
        _idle_in_xact(sample, th.idle_in_xact_s),
        _xid_age(sample, th.xid_age),
        _slot_retention(sample.replication, th.slot_retained_wal_bytes),
        _archiver(sample.replication, th.archive_age_s),
        _statements(sample),
        _statement_regression(sample, th, memory) if memory is not None else None,
        _progress(sample.progress),
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


def slot_level(slot: Slot, threshold: Threshold) -> Level:
    """How health judges one replication slot (the replication pane marks rows with it):
    WAL ``lost`` or ``unreserved`` is critical; an inactive slot retaining WAL warns whatever
    the amount and is critical from ``threshold.crit``; an active one is judged by both levels
    (a consumer that keeps up retains little)."""
    if slot.wal_status in ("unreserved", "lost"):
        return Level.CRIT
    retained = slot.retained_wal_bytes
    if retained is None:
        return Level.OK
    level = Level(threshold.level(retained))
    if not slot.active and retained > 0 and level is Level.OK:
        return Level.WARN
    return level


# --------------------------------------------------------------------------- building blocks

# (metric, label, level, value, message, culprit): a Status without its source yet
_Part = tuple[str, str, Level, float | None, str, str]


def _finish(part: _Part, source: str) -> Status:
    metric, label, level, value, message, culprit = part
    return Status(
        metric=metric,
        label=label[:LABEL_MAX],
        level=level,
        value=value,
        message=message,
        source=source,
        culprit=_shorten(culprit, CULPRIT_MAX),
    )


def _level(threshold: Threshold, value: float) -> Level:
    return Level(threshold.level(value))


def _verdict(threshold: Threshold, value: float, fmt: Callable[[float], str]) -> tuple[Level, str]:
    """The level of ``value`` and the comparison that decided it: ``≥ crit 85%``."""
    level = _level(threshold, value)
    return level, _comparison(threshold, level, fmt)


def _comparison(threshold: Threshold, level: Level, fmt: Callable[[float], str]) -> str:
    bad, good = ("≥", "<") if threshold.higher_is_worse else ("≤", ">")
    if level is Level.CRIT:
        return f"{bad} crit {fmt(threshold.crit)}"
    if level is Level.WARN:
        return f"{bad} warn {fmt(threshold.warn)}"
    return f"{good} warn {fmt(threshold.warn)}"


def _clear(value: float, decimals: int, threshold: Threshold | None = None) -> str:
    limits = (threshold.warn, threshold.crit) if threshold is not None else ()
    return units.number(value, decimals, limits)


def _num(value: float) -> str:
    """A threshold as written in the config: ``85``, ``0.5``."""
    return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}"


def _seconds(value: float, threshold: Threshold | None = None) -> str:
    return units.seconds(value, (threshold.warn, threshold.crit) if threshold else ())


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{units.count(n)} {word if n == 1 else (plural or word + 's')}"


def _shorten(text: str, limit: int) -> str:
    """``text`` on one line (every run of blanks, line breaks included, is one space), cut to
    ``limit`` characters with "…". Other characters are kept: the renderer neutralises them."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"


def _who(backend: Backend | None) -> str:
    if backend is None:
        return ""
    app = f', "{backend.application}"' if backend.application else ""
    return f" (pid {backend.pid}{app})"


def _pid_culprit(pid: int, application: str) -> str:
    """``pid 4201 lab-blocker``: what the bar shows of a backend (pid 0 is a prepared
    transaction in pg_locks)."""
    if pid == 0:
        return "prepared xact"
    return f"pid {pid} {application}".rstrip()


def _backend_culprit(backend: Backend | None) -> str:
    return "" if backend is None else _pid_culprit(backend.pid, backend.application)


def _statement_name(statement: Statement, limit: int) -> str:
    text = _shorten(statement.query, limit)
    return text or f"queryid {statement.queryid}"


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
    part = ("disconnected", f"down {units.duration(down_s)}", Level.CRIT, down_s, message, "")
    return _finish(part, source)


# --------------------------------------------------------------------------- PostgreSQL


def _connections(sample: Sample, th: Threshold) -> _Part | None:
    stats = sample.stats
    if stats is None or stats.connections_pct is None or stats.max_connections is None:
        return None
    pct = stats.connections_pct
    level, verdict = _verdict(th, pct, lambda v: f"{_num(v)}%")
    used = f"{stats.client_connections}/{stats.max_connections}"
    message = f"connections {used} ({_clear(pct, 0, th)}%) {verdict}"
    culprit = ""
    if level is not Level.OK:
        owners, culprit = _owners(sample.activity)
        if owners:
            message += f": {owners}"
    return ("connections", f"conn {_clear(pct, 0, th)}%", level, pct, message, culprit)


def _owners(activity: Sequence[Backend]) -> tuple[str, str]:
    """Who holds the client connections (the playbook's "find connection leaks" query): the
    application holding the most, with its sessions by state, then the top user and client;
    and the culprit, ``leaky-app ×268`` (the user or client when applications are unnamed)."""
    clients = [b for b in activity if b.is_client]
    if not clients:
        return "", ""
    apps = Counter(b.application for b in clients)
    users = Counter(b.user or "?" for b in clients)
    hosts = Counter(b.client or "?" for b in clients)
    named = [(app, n) for app, n in apps.most_common() if app]
    parts: list[str] = []
    culprit = ""
    if named:
        app, n = named[0]
        states = Counter(b.state or "unknown" for b in clients if b.application == app)
        by_state = ", ".join(
            f"{units.count(count)} {state}" for state, count in states.most_common()
        )
        parts.append(f'application "{app}" holds the most: {units.count(n)} ({by_state})')
        culprit = f"{app} ×{units.count(n)}"
    user, n_user = users.most_common(1)[0]
    host, n_host = hosts.most_common(1)[0]
    parts.append(
        f'top user "{user}" {units.count(n_user)}, top client {host} {units.count(n_host)}'
    )
    if not culprit:
        culprit = f"user {user} ×{units.count(n_user)}"
    return "; ".join(parts), culprit


def _lock_waits(sample: Sample, age: Threshold, count: Threshold) -> _Part | None:
    """Sessions waiting for a heavyweight lock (the blocking tree's waiters), the longest wait,
    and the root blocker of the worst tree: the session to act on."""
    if sample.stats is None and not sample.locks:
        return None
    # per tree: (its root, its waiters)
    trees: list[tuple[LockNode, list[LockNode]]] = []
    for root in sample.locks:
        waiters = [node for _, node in root.walk() if node.mode is not None]
        if waiters:
            trees.append((root, waiters))
    if not trees:
        message = f"no session waiting for a lock < warn {_num(age.warn)} s"
        return ("lock_waits", "locks 0", Level.OK, 0.0, message, "")

    def waited(node: LockNode) -> float:
        return node.waited_s or 0.0

    def judged(waiters: list[LockNode]) -> tuple[Level, Level, int, float]:
        longest = max(waited(n) for n in waiters)
        long_ones = sum(1 for n in waiters if waited(n) >= LOCK_WAIT_MIN_S)
        return _level(age, longest), _level(count, long_ones), len(waiters), longest

    root, _ = max(trees, key=lambda tree: judged(tree[1]))
    everyone = [n for _, waiters in trees for n in waiters]
    longest_node = max(everyone, key=waited)
    longest = waited(longest_node)
    long_ones = sum(1 for n in everyone if waited(n) >= LOCK_WAIT_MIN_S)
    age_level, count_level = _level(age, longest), _level(count, long_ones)
    if count_level > age_level:
        level, verdict = count_level, _comparison(count, count_level, _num)
        verdict = f"({_plural(long_ones, 'session')} waiting ≥ {_num(LOCK_WAIT_MIN_S)} s {verdict})"
    else:
        level, verdict = age_level, _comparison(age, age_level, lambda v: f"{_num(v)} s")
    target = longest_node.relation or longest_node.locktype or "a lock"
    mode = f"{longest_node.mode} on " if longest_node.mode else ""
    message = (
        f"{_plural(len(everyone), 'session')} waiting for locks, longest {_seconds(longest, age)}"
        f" (pid {longest_node.pid} for {mode}{target}) {verdict}"
    )
    blocked = sum(len(waiters) for r, waiters in trees if r is root)
    app = f' "{root.application}"' if root.application else ""
    what = ", ".join(
        x
        for x in (
            root.state or "",
            f"transaction {_seconds(root.xact_s)}" if root.xact_s is not None else "",
        )
        if x
    )
    who = "a prepared transaction" if root.pid == 0 else f"pid {root.pid}{app}"
    message += f": root blocker {who}{f' ({what})' if what else ''} blocks {units.count(blocked)}"
    if len(trees) > 1:
        message += f" (+{len(trees) - 1} more blocking {'tree' if len(trees) == 2 else 'trees'})"
    label = f"locks {len(everyone)} {units.duration(longest)}"
    culprit = _pid_culprit(root.pid, root.application)
    return ("lock_waits", label, level, longest, message, culprit)


def _replication_lag(replication: Replication | None, th: Threshold) -> _Part | None:
    """Primary: the worst replica; standby: its own replay lag. Seconds against the threshold;
    a lag reported only in bytes (no replay time, bytes > 0) is a WARN in bytes."""
    if replication is None:
        return None
    # (who, culprit, seconds, bytes)
    candidates: list[tuple[str, str, float | None, int | None]]
    if replication.role is Role.STANDBY or replication.standby is not None:
        standby = replication.standby
        if standby is None:
            return None
        where = f"this standby, upstream {standby.upstream}" if standby.upstream else "this standby"
        if standby.replay_paused:
            where += ", replay paused"
            culprit = "replay paused"
        elif standby.wal_receiver_status is None:
            where += ", no WAL receiver"
            culprit = "no WAL receiver"
        else:
            culprit = f"from {standby.upstream}" if standby.upstream else "this standby"
        candidates = [(where, culprit, standby.replay_lag_s, standby.receive_replay_lag_bytes)]
    else:
        candidates = [
            (f'replica "{r.application}"', r.application or f"pid {r.pid}", r.replay_lag_s,
             r.replay_lag_bytes)
            for r in replication.replicas
        ]  # fmt: skip
    # (level, sort value, label, value, head, who, tail, culprit)
    judged: list[tuple[Level, float, str, float | None, str, str, str, str]] = []
    for who, culprit, seconds, lag_bytes in candidates:
        if seconds is not None:
            level, verdict = _verdict(th, seconds, lambda v: f"{_num(v)} s")
            label = f"lag {units.duration(seconds)}"
            head = f"replication lag {_seconds(seconds, th)}"
            judged.append((level, seconds, label, seconds, head, who, verdict, culprit))
        elif lag_bytes is not None and lag_bytes > 0:
            head = f"replication lag {units.size(lag_bytes)} of WAL"
            tail = "> 0 B with no replay time reported → warn"
            label = f"lag {units.size_short(lag_bytes)}"
            who_b = f"{who}, in bytes"
            judged.append((Level.WARN, -1.0, label, None, head, who_b, tail, culprit))
        elif lag_bytes == 0:
            head, verdict = "replication lag 0 s", f"< warn {_num(th.warn)} s"
            judged.append(
                (Level.OK, 0.0, "lag 0s", 0.0, head, f"{who}, caught up", verdict, culprit)
            )
    if not judged:
        return None
    level, _, label, value, head, who, tail, culprit = max(judged, key=lambda j: (j[0], j[1]))
    if len(judged) > 1:
        who += f", worst of {len(judged)}"
    message = f"{head} ({who}) {tail}"
    return ("replication_lag", label, level, value, message, culprit if level else "")


def _cache_hit(sample: Sample, th: Threshold) -> _Part | None:
    if sample.stats is None or sample.stats.cache_hit_ratio is None:
        return None
    pct = 100.0 * sample.stats.cache_hit_ratio
    level, verdict = _verdict(th, pct, lambda v: f"{_num(v)}%")
    message = f"cache hit {_clear(pct, 1, th)}% {verdict}"
    culprit = ""
    if level is not Level.OK:
        reader = max(
            (s for s in sample.statements if s.shared_read_per_s),
            key=lambda s: s.shared_read_per_s or 0.0,
            default=None,
        )
        if reader is not None:
            blocks = units.rate(reader.shared_read_per_s)
            message += f': most blocks read by "{_statement_name(reader, 80)}" ({blocks}/s)'
            culprit = _statement_name(reader, CULPRIT_MAX)
    return ("cache_hit", f"hit {_clear(pct, 0, th)}%", level, pct, message, culprit)


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
    culprit = ""
    if level is Level.OK:
        label = f"tps {tps:.0f}/s"
        if drop == 0:
            message = f"TPS {tps:.1f}/s, not below {base}"
        else:
            message = f"TPS {tps:.1f}/s, {_clear(drop, 0, th)}% below {base} {verdict}"
    else:
        label = f"tps -{_clear(drop, 0, th)}%"
        message = f"TPS {tps:.1f}/s is {_clear(drop, 0, th)}% below {base} {verdict}"
        # the likeliest cause on screen: sessions queued behind a lock
        biggest = max(sample.locks, key=lambda r: len(r.walk()), default=None)
        if biggest is not None:
            waiting = sum(1 for _, n in biggest.walk() if n.mode is not None)
            culprit = _pid_culprit(biggest.pid, biggest.application)
            message += f": {_plural(waiting, 'session')} waiting behind {culprit}"
    return ("tps_drop", label, level, drop, message, culprit)


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
    label = f"xact {units.duration(seconds)}"
    return ("longest_xact", label, level, seconds, message, _backend_culprit(culprit))


def _idle_in_xact(sample: Sample, th: Threshold) -> _Part | None:
    stats = sample.stats
    if stats is None:
        return None
    seconds = stats.longest_idle_in_transaction_s
    if seconds is None:
        if stats.idle_in_transaction == 0:
            message = f"no session idle in transaction < warn {_num(th.warn)} s"
            return ("idle_in_xact", "idle-tx 0", Level.OK, 0.0, message, "")
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
    label = f"idle-tx {units.duration(seconds)}"
    return ("idle_in_xact", label, level, seconds, message, _backend_culprit(culprit))


def _xid_age(sample: Sample, th: Threshold) -> _Part | None:
    if sample.stats is None or sample.stats.oldest_xid_age is None:
        return None
    age = sample.stats.oldest_xid_age
    level, verdict = _verdict(th, age, lambda v: f"{v:,.0f}")
    message = f"xid age {age:,} (oldest database) {verdict}"
    culprit = ""
    if level is not Level.OK:
        # a session whose snapshot is that old keeps VACUUM from freezing: it comes first
        holder = max(
            (b for b in sample.activity if b.xmin_age is not None),
            key=lambda b: b.xmin_age or 0,
            default=None,
        )
        if holder is not None and (holder.xmin_age or 0) >= th.warn:
            message += (
                f": the oldest snapshot{_who(holder)} is {units.count(holder.xmin_age)} xids old"
            )
            culprit = _backend_culprit(holder)
        else:
            message += ": VACUUM (FREEZE) the oldest database"
            culprit = "vacuum freeze"
    return ("xid_age", f"xid {units.count_short(age)}", level, float(age), message, culprit)


def _slot_retention(replication: Replication | None, th: Threshold) -> _Part | None:
    """The worst slot (:func:`slot_level`): WAL lost or about to be, an inactive slot retaining
    any WAL (critical from ``th.crit``), an active one retaining ``th.warn`` or more."""
    if replication is None or not replication.slots:
        return None
    slots = replication.slots
    judged = [(slot_level(s, th), s.retained_wal_bytes or 0, s) for s in slots]
    level, retained, slot = max(judged, key=lambda j: (j[0], j[1]))
    if level is Level.OK:
        message = (
            f"replication slots: {_plural(len(slots), 'slot')}, none inactive, none lost, "
            f"none retaining ≥ {units.size(th.warn)}"
        )
        return ("slot_retention", "slots ok", Level.OK, float(retained), message, "")
    others = sum(1 for lvl, _, s in judged if lvl is not Level.OK and s is not slot)
    more = f" (+{others} more {'slot' if others == 1 else 'slots'} flagged)" if others else ""
    name = f'replication slot "{slot.name}" ({slot.slot_type})'
    size = units.size(retained)
    if slot.wal_status == "lost":
        message = (
            f"{name} has lost required WAL (wal_status lost){more}: "
            "its consumer cannot resume; drop the slot and rebuild the consumer"
        )
        return ("slot_retention", "slot lost", Level.CRIT, None, message, slot.name)
    if slot.wal_status == "unreserved":
        message = (
            f"{name} retains {size} of WAL past max_slot_wal_keep_size (wal_status unreserved): "
            f"it is removed at the next checkpoint and the consumer breaks{more}"
        )
        return ("slot_retention", "slot unresv", Level.CRIT, float(retained), message, slot.name)
    verdict = _comparison(th, level, units.size)
    if not slot.active and level is Level.WARN and retained < th.warn:
        verdict = "> 0 B while inactive → warn"
    state = "active" if slot.active else "inactive"
    message = f"{name} {state}, retaining {size} of WAL {verdict}{more}"
    label = f"slot {units.size_short(retained)}"
    return ("slot_retention", label, level, float(retained), message, slot.name)


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
        value = arch.last_archived_age_s
        return ("archiver", "archive FAIL", Level.CRIT, value, message, "archive_command")
    if arch.archived_count > 0 and arch.last_archived_age_s is not None:
        age = arch.last_archived_age_s
        wal = f" ({arch.last_archived_wal})" if arch.last_archived_wal else ""
        pending = arch.pending_segments
        if pending is not None and pending <= 0:
            # a quiet server fills no segment: an old last archive is no backlog, and the chip
            # says "ok" rather than an age that changes on every tick for nothing
            message = f"last WAL archived {_seconds(age, th)} ago{wal}, no complete segment waiting"
            return ("archiver", "arch ok", Level.OK, age, message, "")
        level, verdict = _verdict(th, age, lambda v: f"{_num(v)} s")
        waiting = f", {_plural(pending, 'segment')} waiting" if pending else ""
        message = f"last WAL archived {_seconds(age, th)} ago{wal}{waiting} {verdict}"
        culprit = "archive_command" if level is not Level.OK else ""
        return ("archiver", f"arch {units.duration(age)}", level, age, message, culprit)
    message = "archiving on, no WAL archived yet, no failures"
    return ("archiver", "arch ok", Level.OK, None, message, "")


def _statements(sample: Sample) -> _Part | None:
    status = sample.statements_status
    if status is None:
        return None
    if status.available:
        return ("statements", "pgss ok", Level.OK, None, "pg_stat_statements available", "")
    reason = status.reason or "no reason given"
    message = f"pg_stat_statements unavailable: {reason}"
    return ("statements", "pgss off", Level.WARN, None, message, "pg_stat_statements")


# --------------------------------------------------------------------------- statement regression


class Counters(NamedTuple):
    """One statement's cumulative pg_stat_statements figures at one read."""

    at: float  # the read's time, seconds since the epoch
    calls: int
    total_ms: float
    sum_sq: float  # Σ time² in ms²: calls × (stddev² + mean²), pg_stat_statements' stddev
    # being the population one (√(Σ(t - mean)² / calls))

    @classmethod
    def of(cls, statement: Statement, at: float) -> Counters:
        calls = statement.calls
        mean = statement.total_exec_ms / calls if calls else 0.0
        return cls(
            at, calls, statement.total_exec_ms, calls * (statement.stddev_ms**2 + mean * mean)
        )


def _summed(a: Counters, b: Counters) -> Counters:
    return Counters(
        max(a.at, b.at), a.calls + b.calls, a.total_ms + b.total_ms, a.sum_sq + b.sum_sq
    )


@dataclass(frozen=True, slots=True)
class Regression:
    """One statement's recent mean time against its mean before (see :func:`regression`)."""

    recent_calls: int
    recent_mean_ms: float
    recent_stddev_ms: float
    window_s: float
    before_calls: int  # calls counted before the window (since pg_stat_statements' reset)
    counted_mean_ms: float  # their mean, as counted
    estimated_mean_ms: float | None = None  # an earlier, faster behaviour separated from them

    def ratio(self, before_ms: float) -> float:
        return self.recent_mean_ms / before_ms if before_ms > 0 else math.inf

    def z(self, before_ms: float) -> float:
        """The rise over ``before_ms`` in standard errors of the recent mean (∞ when the
        window has no spread)."""
        rise = self.recent_mean_ms - before_ms
        if self.recent_stddev_ms <= 0:
            return math.inf if rise > 0 else 0.0
        return rise / (self.recent_stddev_ms / math.sqrt(self.recent_calls))

    @property
    def extra_ms_per_s(self) -> float:
        """What the slowdown costs the server: extra execution ms per second of the window."""
        before = min(self.counted_mean_ms, self.estimated_mean_ms or math.inf)
        rise = max(0.0, self.recent_mean_ms - before)
        return rise * self.recent_calls / max(self.window_s, 1.0)


def mixture_before_ms(
    before: Counters, recent_mean_ms: float, recent_stddev_ms: float, floor_ms: float,
    min_calls: int,
) -> float | None:  # fmt: skip
    """The mean of an earlier, faster behaviour hidden in cumulative counters that already hold
    calls of the current one (pgtop started after the change), or None when nothing separates.

    The counted calls (N, S = Σt, Q = Σt²) are split into n calls of the current behaviour
    (the recent window's mean m and coefficient of variation c = stddev / m) and N - n calls of
    an earlier one with mean μ and the same relative spread c. Then
    ``S = n·m + (N - n)·μ`` and ``Q = (1 + c²)·(n·m² + (N - n)·μ²)``, so n is the root of
    ``f(n) = (S - n·m)² / (N - n) + n·m² - Q / (1 + c²)``; f is non-decreasing
    (f'(n) = (m - μ)²), so the root is found by bisection, and ``μ = (S - n·m) / (N - n)``,
    never below ``floor_ms`` (the cumulative minimum: no call was faster).

    f(0) ≥ 0 means the counted calls spread no more than the current behaviour does: nothing to
    separate (None). No root with at least ``min_calls`` earlier calls: None too. The shared
    relative spread is an assumption; it matters little when the two behaviours are far apart
    (the mixture's spread is then mostly the gap between them). The estimate is as good as the
    recent mean: an error δ in it moves μ by about δ·n / (N - n), so with most counted calls
    already slow the estimate is rough (the level, not the exact ratio, is what it is for).
    """
    m, n_all, s_all = recent_mean_ms, before.calls, before.total_ms
    if n_all <= 0 or m <= 0 or m * n_all <= s_all:
        return None  # the current behaviour is not slower than what was counted
    target = before.sum_sq / (1.0 + (recent_stddev_ms / m) ** 2)

    def f(n: float) -> float:
        return (s_all - n * m) ** 2 / (n_all - n) + n * m * m - target

    if f(0.0) >= 0:
        return None
    lo, hi = 0.0, min(n_all - min_calls, s_all / m)
    if hi <= 0 or f(hi) < 0:
        return None
    for _ in range(64):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    n = hi
    return max((s_all - n * m) / (n_all - n), floor_ms)


def regression(
    start: Counters, now: Counters, min_ms: float, *, min_calls: int
) -> Regression | None:
    """A statement's calls since ``start`` (the recent window) against the calls counted
    before it; None below the floor (fewer than ``min_calls`` calls on either side).

    - recent mean ``m = (S_now - S_start) / (N_now - N_start)``, its standard deviation from
      Σt² the same way (Σt² = calls × (stddev² + mean²): pg_stat_statements' stddev is the
      population one);
    - counted mean before ``b = S_start / N_start``: every call since pg_stat_statements'
      reset up to the window, including those from before pgtop started. With pgtop running
      before the change it is exact;
    - when pgtop starts after the change, those counters already mix the fast calls and the
      slow ones and ``b`` is too high: a change that made the last 60 % of the calls 225×
      slower reads as 1.6×. Then, if the cumulative minimum ``min_ms`` lies
      :data:`REGRESSION_SEPARATION` recent standard deviations below ``m``, the earlier
      behaviour is separated from the counters (:func:`mixture_before_ms`):
      ``estimated_mean_ms``.

    Limits: "before" is since the last reset of pg_stat_statements (or the entry's eviction);
    a statement slow from its first call has no "before". The estimate needs a current
    behaviour tight enough to stand apart from the minimum (a busy server's scheduling noise
    can widen it: then only the counted mean speaks), and it cannot tell a change from a
    distribution that was always two-humped (a cache hit or miss) and now sits on its slow
    hump, nor from one that was wide and has narrowed near its top: its verdict is at most a
    WARN, and the message says it is an estimate.
    """
    n_r = now.calls - start.calls
    if n_r < min_calls or start.calls < min_calls:
        return None
    m_r = (now.total_ms - start.total_ms) / n_r
    sd_r = math.sqrt(max(0.0, (now.sum_sq - start.sum_sq) / n_r - m_r * m_r))
    counted = start.total_ms / start.calls
    estimated = None
    if m_r > counted and m_r - min_ms >= REGRESSION_SEPARATION * sd_r:
        estimated = mixture_before_ms(start, m_r, sd_r, min_ms, min_calls)
    return Regression(
        recent_calls=n_r,
        recent_mean_ms=m_r,
        recent_stddev_ms=sd_r,
        window_s=max(0.0, now.at - start.at),
        before_calls=start.calls,
        counted_mean_ms=counted,
        estimated_mean_ms=estimated,
    )


StatementKey = tuple[int, str | None, str | None]
"""(queryid, user, database), as the history names a statement (toplevel entries summed)."""


class StatementRegressions:
    """Every statement's counters at its last reads, and its :class:`Regression` on each read.

    Per statement only the reads that can still start a recent window are kept: the window is
    the newest reads holding ``min_calls`` calls (the mean over the last intervals: a busy
    statement's window is its last interval, so a regression shows on the first read after
    it), no older than ``window_s`` (but the interval since the previous read always counts:
    reads of pg_stat_statements may come further apart than the window); older reads are
    dropped as soon as a newer one qualifies.
    A read of 10,000 statements costs a dict look-up and a comparison for each one not called
    since the last read, and a few float operations for each one that was.
    """

    def __init__(self) -> None:
        self._points: dict[StatementKey, list[Counters]] = {}
        self._judged: dict[StatementKey, tuple[Statement, Regression]] = {}
        self._judgeable: set[StatementKey] = set()

    @property
    def judged(self) -> int:
        """Statements with enough calls to be judged at the last read."""
        return len(self._judgeable)

    def forget(self) -> None:
        """pg_stat_statements was reset: what came before is gone."""
        self._points.clear()
        self._judged.clear()
        self._judgeable.clear()

    def __len__(self) -> int:
        return len(self._points)

    def observe(
        self,
        statements: Iterable[Statement],
        at: float,
        *,
        window_s: float,
        min_calls: int,
        min_ms: float = 0.0,
    ) -> list[tuple[Statement, Regression]]:
        """One read of pg_stat_statements at ``at``: the statements judged whose recent mean
        is at least ``min_ms`` (no slower mean can rise by ``min_ms``); :attr:`judged` counts
        all those with enough calls."""
        first: dict[StatementKey, Statement] = {}
        nested: dict[StatementKey, list[Statement]] = {}
        for statement in statements:
            key = (statement.queryid, statement.user, statement.database)
            if key in first:  # toplevel and nested entries of one statement: summed
                nested.setdefault(key, []).append(statement)
            else:
                first[key] = statement
        oldest = at - window_s
        points, judged = self._points, self._judged
        kept: dict[StatementKey, list[Counters]] = {}
        out: dict[StatementKey, tuple[Statement, Regression]] = {}
        judgeable: set[StatementKey] = set()
        for key, statement in first.items():
            seen = points.get(key)
            calls = statement.calls
            low = statement.min_ms
            if key in nested:
                for other in nested[key]:
                    calls += other.calls
                    low = min(low, other.min_ms)
            if seen is not None:
                last = seen[-1]
                if calls == last.calls:  # not called since the last read
                    kept[key] = seen
                    if seen[0].at >= oldest:
                        if key in judged:
                            out[key] = judged[key]
                        if key in self._judgeable:
                            judgeable.add(key)
                    elif len(seen) > 1:
                        del seen[:-1]
                    continue
                if calls < last.calls:
                    seen = None  # its counters went back: reset, or evicted and re-added
            now = Counters.of(statement, at)
            for other in nested.get(key, ()):
                now = _summed(now, Counters.of(other, at))
            if seen is None:
                kept[key] = [now]
                continue
            kept[key] = seen
            seen.append(now)
            start = None
            for i in range(len(seen) - 2, -1, -1):
                if seen[i].at < oldest and i < len(seen) - 2:
                    break  # the last interval counts however long (reads may be sparse)
                if calls - seen[i].calls >= min_calls:
                    start = i
                    break
            if start is None:
                while len(seen) > 1 and seen[0].at < oldest:
                    del seen[0]
                continue
            del seen[:start]
            begin = seen[0]
            if begin.calls < min_calls:
                continue
            judgeable.add(key)
            recent_ms, recent_calls = now.total_ms - begin.total_ms, calls - begin.calls
            if recent_ms < min_ms * recent_calls or recent_ms * begin.calls <= (
                begin.total_ms * recent_calls
            ):
                continue  # below min_ms, or not above the mean before: no rise to judge
            found = regression(begin, now, low, min_calls=min_calls)
            if found is not None:
                out[key] = (statement, found)
        self._points, self._judged, self._judgeable = kept, out, judgeable
        return list(out.values())


@dataclass(slots=True)
class _SourceMemory:
    tracker: StatementRegressions
    statements: tuple[Statement, ...] | None = None  # the last read judged (by identity)
    verdict: _Part | None = None


class HealthMemory:
    """What :func:`evaluate` remembers between the samples of a session, per source: each
    statement's counters at its last reads, and the last regression verdict, kept on a tick
    without statements (reads may be less frequent than ticks: no flapping)."""

    def __init__(self) -> None:
        self._sources: dict[str, _SourceMemory] = {}

    def source(self, name: str) -> _SourceMemory:
        memory = self._sources.get(name)
        if memory is None:
            memory = self._sources[name] = _SourceMemory(StatementRegressions())
        return memory


def _statement_regression(sample: Sample, th: Thresholds, memory: HealthMemory) -> _Part | None:
    """The worst statement regression of a read of pg_stat_statements. pgtop's own role's
    statements are not judged (its probes slow down with the server's load: not an incident;
    the README's monitoring role is a role of its own)."""
    status = sample.statements_status
    mine = memory.source(sample.source)
    if status is not None and not status.available:
        mine.tracker.forget()
        mine.statements = mine.verdict = None
        return None
    if status is not None and status.reset_detected:
        mine.tracker.forget()
    if not sample.statements or sample.statements is mine.statements:
        return mine.verdict  # no read this tick: the last verdict stands
    mine.statements = sample.statements
    own = sample.info.user if sample.info is not None else None
    judged = mine.tracker.observe(
        (s for s in sample.statements if s.user is None or s.user != own),
        sample.taken_at.timestamp(),
        window_s=th.regression_window_s,
        min_calls=th.regression_min_calls,
        min_ms=th.regression_min_ms,
    )
    mine.verdict = _regression_verdict(judged, mine.tracker.judged, th)
    return mine.verdict


def _judge_against(found: Regression, before_ms: float, th: Thresholds) -> Level:
    if found.recent_mean_ms - before_ms < th.regression_min_ms or found.z(before_ms) < REGRESSION_Z:
        return Level.OK
    return _level(th.statement_regression_x, found.ratio(before_ms))


def _judge(found: Regression, th: Thresholds) -> tuple[Level, float, bool]:
    """(level, the mean before it is judged against, whether that mean is an estimate): the
    counted mean decides, unless the estimate says more; an estimate says WARN at most."""
    level = _judge_against(found, found.counted_mean_ms, th)
    if found.estimated_mean_ms is not None:
        guessed = min(Level.WARN, _judge_against(found, found.estimated_mean_ms, th))
        if guessed > level:
            return guessed, found.estimated_mean_ms, True
    return level, found.counted_mean_ms, False


def _times(value: float, th: Threshold) -> str:
    if math.isinf(value):
        return "∞×"
    return f"{_clear(value, 1 if value < 10 else 0, th)}×"


def _regression_verdict(
    judged: Sequence[tuple[Statement, Regression]], count: int, th: Thresholds
) -> _Part:
    x = th.statement_regression_x
    floor = (
        f"≥ {th.regression_min_calls} calls in the last {_num(th.regression_window_s)} s and before"
    )
    if not count:
        message = f"no statement slower than before (none judged yet: each needs {floor})"
        return ("statement_regression", "no slowdown", Level.OK, None, message, "")
    rated = [(*_judge(r, th), r.extra_ms_per_s, s, r) for s, r in judged]
    if not rated or max(j[0] for j in rated) is Level.OK:
        message = (
            f"no statement ≥ {_num(x.warn)}× slower than before "
            f"({_plural(count, 'statement')} judged, {floor})"
        )
        return ("statement_regression", "no slowdown", Level.OK, None, message, "")
    level, before, estimated, _, statement, found = max(rated, key=lambda j: (j[0], j[3]))
    ratio = found.ratio(before)
    basis = (
        f"estimated from its min, mean and stddev: its {units.count(found.before_calls)} "
        f"calls counted at {units.ms(found.counted_mean_ms)} already mix in slower ones; "
        "an estimate says warn at most"
        if estimated
        else f"the mean of its {units.count(found.before_calls)} calls counted before"
    )
    message = (
        f"statement {_times(ratio, x)} slower: {units.ms(found.recent_mean_ms)} per call "
        f"over its last {units.count(found.recent_calls)} calls ({_seconds(found.window_s)}) "
        f"vs {units.ms(before)} before ({basis}) "
        f"{_comparison(x, level, lambda v: f'{_num(v)}×')}: "
        f'"{_statement_name(statement, 80)}" (queryid {statement.queryid}'
        f"{f', user {statement.user}' if statement.user else ''}"
        f"{f', database {statement.database}' if statement.database else ''})"
    )
    others = sum(1 for j in rated if j[0] is not Level.OK and j[4] is not statement)
    if others:
        message += f" (+{others} more slower {'statement' if others == 1 else 'statements'})"
    label = f"slow {_times(ratio, x)}"
    culprit = _statement_name(statement, CULPRIT_MAX)
    return ("statement_regression", label, level, ratio, message, culprit)


# --------------------------------------------------------------------------- progress

# command → (short name for the label, rank: heavier, longer, more blocking first)
_COMMANDS: dict[str, tuple[str, int]] = {
    "CREATE INDEX CONCURRENTLY": ("idx", 0),
    "CREATE INDEX": ("idx", 0),
    "REINDEX CONCURRENTLY": ("reindex", 1),
    "REINDEX": ("reindex", 1),
    "VACUUM FULL": ("vac full", 2),
    "CLUSTER": ("cluster", 2),
    "BASE BACKUP": ("backup", 3),
    "COPY FROM": ("copy", 4),
    "COPY TO": ("copy", 4),
    "VACUUM": ("vacuum", 5),
    "ANALYZE": ("analyze", 6),
}


def _progress(progress: Sequence[Progress]) -> _Part | None:
    """A long command in flight, with its phase and %: an info status (OK), the heaviest first
    (an index build before an autovacuum)."""
    if not progress:
        return None

    def rank(p: Progress) -> tuple[int, float]:
        return _COMMANDS.get(p.command, (p.command.lower(), 9))[1], -(p.pct or 0.0)

    ordered = sorted(progress, key=rank)
    top = ordered[0]
    short = _COMMANDS.get(top.command, (top.command.lower(), 9))[0]
    pct = top.pct
    phase = top.phase or ""
    shown = "" if pct is None else f"{units.number(pct, 0, (100.0,))}%"  # 99.6 is not done
    label = f"{short} {shown or phase.split(' ', 1)[0]}".rstrip()
    what = top.relation or ("" if top.command == "BASE BACKUP" else "?")
    message = f"{top.command}{f' on {what}' if what else ''}"
    if phase:
        message += f": {phase}"
    if pct is not None and top.done is not None and top.total is not None:
        message += f" {shown} ({units.count(top.done)} of {units.count(top.total)})"
    message += f" (pid {top.pid}{f', database {top.database}' if top.database else ''})"
    if len(ordered) > 1:
        rest = ", ".join(f"{p.command} {p.relation or ''}".rstrip() for p in ordered[1:4])
        more = f", +{len(ordered) - 4}" if len(ordered) > 4 else ""
        message += f"; also {rest}{more}"
    culprit = _relation_name(top.relation) if top.relation else f"pid {top.pid}"
    return ("progress", label, Level.OK, pct, message, culprit)


def _relation_name(relation: str) -> str:
    """``orders`` for ``public.orders``: the bar has little room; the message has it all."""
    return relation.removeprefix("public.")


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
        return ("pool_waiting", "wait 0", level, 0.0, message, "")
    message = (
        f"pool {_pool_name(pool)}: {_plural(waiting, 'client')} waiting, "
        f"max wait {_seconds(pool.maxwait_s)} {verdict}"
    )
    others = sum(1 for p in pools if p.cl_waiting > 0) - 1
    if others > 0:
        message += f" (+{others} more {'pool' if others == 1 else 'pools'} with waiting clients)"
    culprit = _pool_name(pool) if level is not Level.OK else ""
    return ("pool_waiting", f"wait {waiting}", level, float(waiting), message, culprit)


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
    culprit = _pool_name(pool) if level is not Level.OK else ""
    return ("pool_utilisation", f"pool {_clear(pct, 0, th)}%", level, pct, message, culprit)
