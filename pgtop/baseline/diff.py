"""Two baselines → what changed: statements slower, faster, new, gone; resources that moved.

Reads the records only (never the prose). Statements are matched by (database, user, queryid,
toplevel) as pg_profile does (``toplevel`` only where both documents know it); where queryids
differ (another major version, a recreated object), by the normalised text as a fallback.
The thresholds are the ops playbook's ("Query latency: > 2x baseline warn, > 5x critical") on
the mean execution time of the period; a noise floor (calls and execution time in the period,
on both sides) keeps trivial statements from ever flagging. A statement is "new" or "gone"
relative to the other document's top N: a baseline keeps the top statements only.

Resources are reported when they moved by at least ``resource_change_pct`` (the cache hit
ratio by its misses: 99% → 97% is three times the misses) or crossed a level; the playbook's
levels (:class:`pgtop.config.Thresholds`) judge the ones it names: cache hit ratio, connections
against max_connections, a drop of the transaction rate, replication lag; new deadlocks and a
temp-file volume up ``warn_ratio`` times warn (totals compared per hour: the windows' lengths may
differ). Identical documents report nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from pgtop import units
from pgtop.baseline.document import Baseline, BaselineError, BaselineStatement, Verdict
from pgtop.baseline.markdown import cell, statement_pattern, table
from pgtop.config import Threshold, Thresholds

__all__ = [
    "BaselineDiff",
    "Matched",
    "ResourceChange",
    "StatementChange",
    "diff",
    "render_diff",
]

ChangeKind = Literal["slower", "faster", "new", "gone"]
Matched = Literal["queryid", "text"]
_LEVELS: Final[dict[Verdict, int]] = {"ok": 0, "warn": 1, "crit": 2}
_WHITESPACE: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementChange:
    kind: ChangeKind
    level: Verdict
    old: BaselineStatement | None = None
    new: BaselineStatement | None = None
    ratio: float | None = None  # new mean / old mean
    matched_by: Matched | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceChange:
    metric: str  # the Resources field: "tps_avg", "cache_hit_avg_pct" …
    label: str
    old: float
    new: float
    level: Verdict
    why: str | None = None  # the rule that set the level


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineDiff:
    old: Baseline
    new: Baseline
    statements: tuple[StatementChange, ...] = ()
    resources: tuple[ResourceChange, ...] = ()
    notes: tuple[str, ...] = ()
    matched: int = 0  # statements found in both documents
    below_floor: int = 0  # of those, under the noise floor on either side: not judged
    warn_ratio: float
    crit_ratio: float
    min_calls: int
    min_total_ms: float

    @property
    def worst(self) -> Verdict:
        """The worst level of any change: ``ok`` when nothing regressed (exit code material)."""
        levels = [c.level for c in self.statements] + [c.level for c in self.resources]
        return max(levels, key=_LEVELS.__getitem__, default="ok")

    @property
    def changed(self) -> bool:
        return bool(self.statements or self.resources)


# --------------------------------------------------------------------------- diff


def diff(
    old: Baseline,
    new: Baseline,
    *,
    warn_ratio: float = 2.0,
    crit_ratio: float = 5.0,
    min_calls: int = 20,
    min_total_ms: float = 100.0,
    resource_change_pct: float = 15.0,
    thresholds: Thresholds | None = None,
) -> BaselineDiff:
    """What changed from ``old`` to ``new``. ``warn_ratio`` / ``crit_ratio``: a statement's
    mean execution time this many times the old one warns / is critical (the same ratio the
    other way is "faster", never a problem). A statement with fewer than ``min_calls`` calls or
    less than ``min_total_ms`` of execution time in its period (in either document) is never
    judged slower or faster, nor reported new or gone."""
    if not 1.0 < warn_ratio <= crit_ratio:
        raise BaselineError(
            f"the ratios must satisfy 1 < warn ({warn_ratio:g}) <= crit ({crit_ratio:g})"
        )
    levels = thresholds if thresholds is not None else Thresholds()

    def above(s: BaselineStatement) -> bool:
        return s.calls >= min_calls and s.total_ms >= min_total_ms

    pairs, added, removed = _match(old.statements.items, new.statements.items)
    changes: list[StatementChange] = []
    below = 0
    for before, after, how in pairs:
        if not (above(before) and above(after)):
            below += 1
            continue
        ratio = _ratio(before.mean_ms, after.mean_ms)
        if ratio >= warn_ratio:
            level: Verdict = "crit" if ratio >= crit_ratio else "warn"
            kind: ChangeKind = "slower"
        elif ratio <= 1.0 / warn_ratio:
            level, kind = "ok", "faster"
        else:
            continue
        changes.append(
            StatementChange(
                kind=kind, level=level, old=before, new=after, ratio=ratio, matched_by=how
            )
        )
    changes += [StatementChange(kind="new", level="ok", new=s) for s in added if above(s)]
    changes += [StatementChange(kind="gone", level="ok", old=s) for s in removed if above(s)]
    order = {"slower": 0, "new": 1, "faster": 2, "gone": 3}
    changes.sort(key=lambda c: (order[c.kind], -_LEVELS[c.level], -(c.ratio or 0.0)))
    return BaselineDiff(
        old=old,
        new=new,
        statements=tuple(changes),
        resources=tuple(_resources(old, new, resource_change_pct, warn_ratio, levels)),
        notes=tuple(_notes(old, new)),
        matched=len(pairs),
        below_floor=below,
        warn_ratio=warn_ratio,
        crit_ratio=crit_ratio,
        min_calls=min_calls,
        min_total_ms=min_total_ms,
    )


def _ratio(old_ms: float, new_ms: float) -> float:
    if old_ms > 0:
        return new_ms / old_ms
    return math.inf if new_ms > 0 else 1.0


def _text(s: BaselineStatement) -> str | None:
    return None if s.text is None else _WHITESPACE.sub(" ", s.text).strip()


def _match(
    old: Sequence[BaselineStatement], new: Sequence[BaselineStatement]
) -> tuple[
    list[tuple[BaselineStatement, BaselineStatement, Matched]],
    list[BaselineStatement],
    list[BaselineStatement],
]:
    """(pairs, only in new, only in old): by key first, then by text among the rest."""
    free = list(old)
    pairs: list[tuple[BaselineStatement, BaselineStatement, Matched]] = []
    unmatched: list[BaselineStatement] = []
    for after in new:
        found = next((b for b in free if _same_key(b, after)), None)
        if found is None:
            unmatched.append(after)
            continue
        free.remove(found)
        pairs.append((found, after, "queryid"))
    added: list[BaselineStatement] = []
    for after in unmatched:
        text = _text(after)
        found = next(
            (
                b
                for b in free
                if text is not None
                and _text(b) == text
                and (b.database, b.user) == (after.database, after.user)
            ),
            None,
        )
        if found is None:
            added.append(after)
            continue
        free.remove(found)
        pairs.append((found, after, "text"))
    return pairs, added, free


def _same_key(a: BaselineStatement, b: BaselineStatement) -> bool:
    if (a.database, a.user, a.queryid) != (b.database, b.user, b.queryid):
        return False
    return a.toplevel is None or b.toplevel is None or a.toplevel == b.toplevel


# --------------------------------------------------------------------------- resources


_Judge = Callable[[float, float], tuple[Verdict, str | None]]


def _level(threshold: Threshold, value: float) -> Verdict:
    found = threshold.level(value)
    return "crit" if found == 2 else "warn" if found == 1 else "ok"


def _moved(old: float, new: float, pct: float) -> bool:
    if old == new:
        return False
    if old == 0 or new == 0:
        return True
    return abs(new - old) / abs(old) * 100.0 >= pct


def _resources(
    old: Baseline, new: Baseline, pct: float, warn_ratio: float, levels: Thresholds
) -> list[ResourceChange]:
    a, b = old.resources, new.resources

    def lag(x: Baseline) -> float | None:
        lags = [s.replay_lag_max_s for s in x.replication.standbys]
        lags += [v.replay_lag_max_s for v in x.replication.views]
        return max((v for v in lags if v is not None), default=None)

    def conn_pct(x: Baseline) -> float | None:
        r = x.resources
        if not r.max_connections or r.connections_peak is None:
            return None
        return 100.0 * r.connections_peak / r.max_connections

    def tps_drop(before: float, after: float) -> tuple[Verdict, str | None]:
        if before <= 0 or after >= before:
            return "ok", None
        drop = 100.0 * (before - after) / before
        return _level(levels.tps_drop_pct, drop), f"a drop of {units.percent(drop)}"

    def worse_below(threshold: Threshold) -> _Judge:
        def judge(before: float, after: float) -> tuple[Verdict, str | None]:
            level = _level(threshold, after) if after < before else "ok"
            if level == "ok":
                return "ok", None
            limit = threshold.crit if level == "crit" else threshold.warn
            return level, f"≤ {level} {limit:g}% (playbook)"

        return judge

    def worse_above(threshold: Threshold, what: str) -> _Judge:
        def judge(before: float, after: float) -> tuple[Verdict, str | None]:
            level = _level(threshold, after) if after > before else "ok"
            if level == "ok":
                return "ok", None
            limit = threshold.crit if level == "crit" else threshold.warn
            return level, f"≥ {level} {limit:g}{what} (playbook)"

        return judge

    def ratio_up(before: float, after: float) -> tuple[Verdict, str | None]:
        if after > 0 and (before == 0 or after / before >= warn_ratio):
            return "warn", "none before" if before == 0 else f"≥ {warn_ratio:g}× before"
        return "ok", None

    info = None  # reported when it moved, never judged
    rules: Iterable[tuple[str, str, float | None, float | None, _Judge | None]] = (
        ("tps_avg", "Transactions/s (avg)", a.tps_avg, b.tps_avg, tps_drop),
        ("tps_peak", "Transactions/s (peak)", a.tps_peak, b.tps_peak, info),
        ("connections_avg", "Connections (avg)", a.connections_avg, b.connections_avg, info),
        (
            "connections_peak_pct",
            "Connections peak, % of max",
            conn_pct(old),
            conn_pct(new),
            worse_above(levels.connections_pct, "%"),
        ),
        ("active_avg", "Active (avg)", a.active_avg, b.active_avg, info),
        (
            "cache_hit_avg_pct",
            "Cache hit ratio (avg)",
            a.cache_hit_avg_pct,
            b.cache_hit_avg_pct,
            worse_below(levels.cache_hit_pct),
        ),
        (
            "cache_hit_min_pct",
            "Cache hit ratio (lowest)",
            a.cache_hit_min_pct,
            b.cache_hit_min_pct,
            info,
        ),
        (
            "temp_bytes_per_hour",
            "Temp file bytes per hour",
            _per_hour(a.temp_bytes, old),
            _per_hour(b.temp_bytes, new),
            ratio_up,
        ),
        (
            "deadlocks_per_hour",
            "Deadlocks per hour",
            _per_hour(a.deadlocks, old),
            _per_hour(b.deadlocks, new),
            ratio_up,
        ),
        (
            "database_size_bytes",
            "Database size",
            _f(a.database_size_bytes),
            _f(b.database_size_bytes),
            info,
        ),
        (
            "replay_lag_max_s",
            "Replication lag (worst standby, max)",
            lag(old),
            lag(new),
            worse_above(levels.replication_lag_s, " s"),
        ),
    )
    out: list[ResourceChange] = []
    for metric, label, before, after, judge in rules:
        if before is None or after is None or before == after:
            continue
        level, why = judge(before, after) if judge is not None else ("ok", None)
        # a ratio moves with its complement: 99% → 97% hits is three times the misses
        moved = _moved(100 - before, 100 - after, pct) if "cache_hit" in metric else None
        if level == "ok" and not (moved if moved is not None else _moved(before, after, pct)):
            continue
        out.append(
            ResourceChange(metric=metric, label=label, old=before, new=after, level=level, why=why)
        )
    return out


def _f(value: int | None) -> float | None:
    return None if value is None else float(value)


def _per_hour(value: int | None, doc: Baseline) -> float | None:
    """A window's total as a rate: two windows of different lengths compare."""
    if value is None or doc.duration_s <= 0:
        return None
    return value / doc.duration_s * 3600.0


def _major(version: str | None) -> str | None:
    return None if not version else version.split(".")[0]


def _notes(old: Baseline, new: Baseline) -> list[str]:
    notes: list[str] = []
    if old.server != new.server:
        notes.append(f"different servers: {old.server} and {new.server}")
    if _major(old.server_version) != _major(new.server_version):
        notes.append(
            f"PostgreSQL {old.server_version} → {new.server_version}: queryids differ across "
            "major versions; statements were matched by their text where the queryid did not"
        )
    redacted = [
        name
        for name, doc in (("old", old), ("new", new))
        if doc.statements.redacted and doc.statements.items
    ]
    if redacted:
        notes.append(
            f"the {' and '.join(redacted)} document{'s are' if len(redacted) > 1 else ' is'} "
            "redacted: statements are matched by queryid only"
        )
    a, b = old.statements, new.statements
    if a.basis is None or b.basis is None:
        which = "old" if a.basis is None else "new"
        notes.append(f"the {which} document has no statement figures: {a.note or b.note or ''}")
    elif a.basis != b.basis:
        notes.append(
            f"statement figures cover different periods (old: {a.basis}, new: {b.basis}): "
            "their means are compared all the same"
        )
    if a.top != b.top:
        notes.append(f"the documents keep different numbers of statements ({a.top}, {b.top})")
    return notes


# --------------------------------------------------------------------------- Markdown


def render_diff(d: BaselineDiff) -> str:
    """The diff as Markdown (for stdout): a summary, then each kind of change."""
    o, n = d.old, d.new
    out = [
        f"# Baseline diff: {cell(o.server)} {o.window_end:%Y-%m-%d %H:%M} → "
        f"{cell(n.server)} {n.window_end:%Y-%m-%d %H:%M} UTC",
        "",
        f"- **Verdict:** {d.worst.upper()}" + _counts(d),
        f"- **Old:** {_window(o)}",
        f"- **New:** {_window(n)}",
        f"- **Rules:** a mean {d.warn_ratio:g}× the old one warns, {d.crit_ratio:g}× is "
        f"critical; statements under {units.count(d.min_calls)} calls or "
        f"{units.milliseconds(d.min_total_ms)} ms of execution time in their period are not "
        "judged.",
        "",
    ]
    if not d.changed:
        out += [
            f"No change beyond the noise floor ({units.count(d.matched)} statements matched, "
            f"{units.count(d.below_floor)} of them below the floor).",
            "",
        ]
    out += _changes(d, "slower", "Slower statements")
    out += _changes(d, "new", f"New statements (not in the old document's top {o.statements.top})")
    out += _changes(d, "faster", "Faster statements")
    out += _changes(
        d, "gone", f"Gone statements (not in the new document's top {n.statements.top})"
    )
    if d.resources:
        out += ["## Resource changes", ""]
        out += table(
            ("Level", "Metric", "Old", "New", "Change", "Why"),
            (
                (
                    r.level.upper(),
                    r.label,
                    _figure(r.metric, r.old),
                    _figure(r.metric, r.new),
                    _change(r.old, r.new),
                    cell(r.why) if r.why else "",
                )
                for r in d.resources
            ),
        )
    if d.notes:
        out += ["## Notes", "", *(f"- {cell(note)}" for note in d.notes), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _counts(d: BaselineDiff) -> str:
    kinds = [c.kind for c in d.statements]
    parts = [
        f"{kinds.count(kind)} {kind}"
        for kind in ("slower", "new", "faster", "gone")
        if kinds.count(kind)
    ]
    flagged = sum(1 for r in d.resources if r.level != "ok")
    if d.resources:
        parts.append(f"{len(d.resources)} resource changes, {flagged} of them flagged")
    return f" ({', '.join(parts)})" if parts else ""


def _window(b: Baseline) -> str:
    version = f", PostgreSQL {cell(b.server_version)}" if b.server_version else ""
    return (
        f"{cell(b.server)}{version}, {b.window_start:%Y-%m-%d %H:%M:%S} → "
        f"{b.window_end:%H:%M:%S} UTC ({units.duration(b.duration_s)}), "
        f"statements {b.statements.basis or 'not available'}"
    )


def _changes(d: BaselineDiff, kind: ChangeKind, title: str) -> list[str]:
    shown = [c for c in d.statements if c.kind == kind]
    if not shown:
        return []
    out = [f"## {title}", ""]
    if kind in ("slower", "faster"):
        return out + table(
            (
                "Level",
                "Query pattern",
                "queryid",
                "Mean ms old",
                "Mean ms new",
                "Ratio",
                "Calls old",
                "Calls new",
                "Matched by",
            ),
            (
                (
                    c.level.upper(),
                    _pattern(c.new, d.new),
                    _queryids(c),
                    units.milliseconds(c.old.mean_ms if c.old else None),
                    units.milliseconds(c.new.mean_ms if c.new else None),
                    _times(c.ratio),
                    units.count(c.old.calls if c.old else None),
                    units.count(c.new.calls if c.new else None),
                    c.matched_by or "",
                )
                for c in shown
            ),
        )
    return out + table(
        ("Query pattern", "queryid", "Database", "User", "Calls", "Mean ms", "Share of time"),
        (
            (
                _pattern(s, d.new if kind == "new" else d.old),
                str(s.queryid),
                cell(s.database or ""),
                cell(s.user or ""),
                units.count(s.calls),
                units.milliseconds(s.mean_ms),
                units.percent(s.share_pct),
            )
            for c in shown
            for s in ((c.new if kind == "new" else c.old),)
            if s is not None
        ),
    )


def _pattern(s: BaselineStatement | None, doc: Baseline) -> str:
    return "" if s is None else statement_pattern(s, doc.statements.redacted)


def _queryids(c: StatementChange) -> str:
    ids = [str(s.queryid) for s in (c.old, c.new) if s is not None]
    return ids[0] if len(set(ids)) == 1 else " → ".join(ids)


def _times(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return "new time" if math.isinf(ratio) else f"{units.number(ratio, 1)}×"


def _change(old: float, new: float) -> str:
    if old == 0:
        return "from zero"
    return f"{'+' if new >= old else ''}{units.percent(100.0 * (new - old) / old)}"


def _figure(metric: str, value: float) -> str:
    if metric.endswith("_pct"):
        return units.percent(value)
    if metric == "temp_bytes_per_hour":
        return f"{units.size(value)}/h"
    if metric == "deadlocks_per_hour":
        return f"{units.number(value, 1)}/h"
    if metric.endswith("_bytes"):
        return units.size(value)
    if metric.endswith("_s"):
        return units.seconds(value)
    if metric.startswith("tps"):
        return units.rate(value)
    return units.number(value, 1)
