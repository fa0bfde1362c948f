"""``pgtop DSN --baseline FILE``: the live statements judged against a saved baseline.

Each statement of a tick is matched with the baseline's entry as ``baseline diff`` matches two
documents (database, user, queryid; the normalised text when the queryid differs) and its mean
over the interval is compared with the baseline's mean: 2x warns, 5x is critical (the
``[baseline]`` settings). The noise floor applies to both sides: the baseline entry must have
had ``min_calls`` calls and ``min_total_ms`` of execution in its window, and the interval at
least :data:`MIN_INTERVAL_CALLS` calls, so a statement called once in a slow moment never flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from pgtop import units
from pgtop.baseline.document import Baseline, BaselineStatement
from pgtop.config import BaselineSettings, Threshold
from pgtop.model import Level, Sample, Statement, Status
from pgtop.text import one_line

__all__ = ["MIN_INTERVAL_CALLS", "LiveBaseline", "Verdict"]

MIN_INTERVAL_CALLS: Final = 3
"""Calls an interval must have for its mean to be judged."""

_LABEL_TEXT: Final = 60


@dataclass(frozen=True, slots=True)
class Verdict:
    """One statement of a tick against its baseline entry."""

    statement: Statement
    base: BaselineStatement
    ratio: float
    level: Level


class LiveBaseline:
    """A baseline document ready to judge ticks (built once, at start)."""

    def __init__(self, baseline: Baseline, name: str, rules: BaselineSettings) -> None:
        self.baseline = baseline
        self.name = name
        self.threshold = Threshold(rules.warn_ratio, rules.crit_ratio)
        floor = [
            s
            for s in baseline.statements.items
            if s.calls >= rules.min_calls and s.total_ms >= rules.min_total_ms and s.mean_ms > 0
        ]
        self._by_key = {(s.database, s.user, s.queryid): s for s in floor}
        self._by_text = {(s.database, s.user, s.text): s for s in floor if s.text}
        self._last: dict[str, Status] = {}

    def judge(self, sample: Sample, source: str = "primary") -> Status | None:
        """The sampler's extra verdict for ``source``'s samples: judged on a tick that read
        the statements, the last verdict kept on one that did not (no flapping)."""
        if sample.source != source:
            return None
        if sample.statements_read:
            self._last[source] = self.status(sample.statements, sample.interval_s, source)
        return self._last.get(source)

    def entry(self, statement: Statement) -> BaselineStatement | None:
        key = (statement.database, statement.user, statement.queryid)
        found = self._by_key.get(key)
        if found is None and statement.query:
            found = self._by_text.get((statement.database, statement.user, statement.query))
        return found

    def ratio(self, statement: Statement) -> float | None:
        """The interval's mean over the baseline's (None: no entry, or too few calls)."""
        base = self.entry(statement)
        mean = statement.mean_ms_interval
        if base is None or mean is None or statement.calls_per_s is None:
            return None
        return mean / base.mean_ms

    def verdicts(self, statements: Iterable[Statement], interval_s: float | None) -> list[Verdict]:
        """The statements of one tick that pass the noise floor, judged."""
        out: list[Verdict] = []
        for statement in statements:
            calls = (statement.calls_per_s or 0.0) * (interval_s or 0.0)
            if calls < MIN_INTERVAL_CALLS:
                continue
            ratio = self.ratio(statement)
            base = self.entry(statement)
            if ratio is None or base is None:
                continue
            out.append(Verdict(statement, base, ratio, Level(self.threshold.level(ratio))))
        return out

    def status(
        self, statements: Iterable[Statement], interval_s: float | None, source: str
    ) -> Status:
        """The health item: the worst statement against the baseline, named by its text."""
        judged = self.verdicts(statements, interval_s)
        worst = max(judged, key=lambda v: (v.level, v.ratio), default=None)
        th = self.threshold
        if worst is None or worst.level is Level.OK:
            message = (
                f"{len(judged)} statements within {th.warn:g}x of the baseline {self.name}"
                if judged
                else f"no statement of the baseline {self.name} called enough to judge"
            )
            return Status("baseline", "base ok", Level.OK, None, message, source)
        s, base = worst.statement, worst.base
        limit = th.crit if worst.level is Level.CRIT else th.warn
        text = one_line(s.query or f"queryid {s.queryid}", _LABEL_TEXT)
        others = sum(1 for v in judged if v.level is not Level.OK) - 1
        more = f" (+{others} more)" if others > 0 else ""
        message = (
            f'statement "{text}" mean {units.ms(s.mean_ms_interval)} is {worst.ratio:.1f}x its '
            f"baseline {units.ms(base.mean_ms)} ({self.name}) ≥ {limit:g}x{more}"
        )
        return Status(
            "baseline", f"base {worst.ratio:.1f}x", worst.level, worst.ratio, message, source
        )
