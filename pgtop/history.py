"""The session's one history: every source's recent samples, kept for ``monitor.history_minutes``.

The sampler appends each judged sample; health compares over it (TPS drop), the charts draw
from it and a baseline taken from the monitor reads it. Only slim copies are kept: the
per-server figures (stats, replication, pools, health), without the per-backend, per-lock and
per-statement tuples, so a day at 1 s with 1,000 backends costs kilobytes per sample, not the
~0.4 MB a full one holds, and a full garbage collection never walks millions of rows.

The window is a time, not a count: a refresh changed at run time (``+``/``-``) keeps the same
minutes. A hard cap (the window at the fastest refresh) bounds memory whatever the clock does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from itertools import islice
from typing import Final

from pgtop.model import AnySample, BouncerSample, Sample

__all__ = ["FASTEST_REFRESH_S", "STATEMENTS_FOLLOWED", "History", "StatementKey", "slim"]

FASTEST_REFRESH_S: Final = 0.5
"""The shortest interval between two samples of a source (the refresh's lower bound)."""

STATEMENTS_FOLLOWED: Final = 200
"""Per source, at most this many statements have a series (the first ones seen called); a
statement is followed from the first interval it is called in."""

StatementKey = tuple[int, str | None, str | None]
"""(queryid, user, database): a statement of one source."""

# (taken_at as seconds since the epoch, calls/s, mean ms per call in the interval)
_Point = tuple[float, float, float | None]


def slim(sample: AnySample) -> AnySample:
    """The sample without its large per-row parts."""
    if isinstance(sample, BouncerSample):
        return sample
    return replace(
        sample, activity=(), summary=None, statements=(), locks=(), lock_counts=(), progress=()
    )


class History:
    """Slim samples per source, oldest first, no older than ``minutes`` before the newest."""

    def __init__(self, minutes: float = 60) -> None:
        self.window = timedelta(minutes=minutes)
        self.cap = max(2, int(minutes * 60 / FASTEST_REFRESH_S) + 1)
        self._by_source: dict[str, deque[AnySample]] = {}
        self._statements: dict[str, dict[StatementKey, deque[_Point]]] = {}

    def add(self, sample: AnySample) -> None:
        ring = self._by_source.get(sample.source)
        if ring is None:
            ring = self._by_source[sample.source] = deque(maxlen=self.cap)
        ring.append(slim(sample))
        oldest_kept = sample.taken_at - self.window
        while ring[0].taken_at < oldest_kept:
            ring.popleft()
        if isinstance(sample, Sample) and sample.statements_read:
            self._add_statements(sample, oldest_kept.timestamp())

    def _add_statements(self, sample: Sample, oldest: float) -> None:
        """One point per statement called in the interval (interval rates only exist then)."""
        series = self._statements.setdefault(sample.source, {})
        moment = sample.taken_at.timestamp()
        for statement in sample.statements:
            calls = statement.calls_per_s
            if not calls:
                continue
            key = (statement.queryid, statement.user, statement.database)
            points = series.get(key)
            if points is None:
                if len(series) >= STATEMENTS_FOLLOWED:
                    continue
                points = series[key] = deque(maxlen=self.cap)
            points.append((moment, calls, statement.mean_ms_interval))
        for key in [k for k, points in series.items() if points[-1][0] < oldest]:
            del series[key]  # not called for the whole window: make room for another
        for points in series.values():
            while points[0][0] < oldest:
                points.popleft()

    def statement_series(
        self, source: str, key: StatementKey
    ) -> tuple[list[float], list[float], list[float]]:
        """(x, calls/s, mean ms) of one statement's intervals, x in seconds relative to the
        newest sample of ``source`` (<= 0); intervals it was not called in are gaps."""
        points = self._statements.get(source, {}).get(key)
        ring = self._by_source.get(source)
        if not points or not ring:
            return [], [], []
        newest = ring[-1].taken_at.timestamp()
        xs: list[float] = []
        calls: list[float] = []
        means: list[float] = []
        for moment, per_s, mean in points:
            if mean is None:
                continue
            xs.append(moment - newest)
            calls.append(per_s)
            means.append(mean)
        return xs, calls, means

    def sources(self) -> list[str]:
        return list(self._by_source)

    def samples(self, source: str) -> list[AnySample]:
        return list(self._by_source.get(source, ()))

    def __len__(self) -> int:
        return sum(len(ring) for ring in self._by_source.values())

    def connected(self, source: str, limit: int | None = None) -> list[Sample]:
        """Connected PostgreSQL samples of ``source``, oldest first; only the newest ``limit``
        when given (walked from the end, so a full ring is not copied on every tick)."""
        found: list[Sample] = []
        for sample in reversed(self._by_source.get(source, ())):
            if limit is not None and len(found) >= limit:
                break
            if isinstance(sample, Sample) and sample.connected:
                found.append(sample)
        found.reverse()
        return found

    def latest(self, source: str, value: Callable[[Sample], float | None]) -> float | None:
        """``value`` of the newest sample that has one, among the last few (a chart's title)."""
        for sample in islice(reversed(self._by_source.get(source, ())), 5):
            if not isinstance(sample, Sample) or not sample.connected or sample.error:
                continue
            y = value(sample)
            if y is not None:
                return float(y)
        return None

    def series(
        self, source: str, value: Callable[[Sample], float | None]
    ) -> tuple[list[float], list[float]]:
        """(x, y): x in seconds relative to the newest sample (<= 0), gaps where unknown."""
        ring = self._by_source.get(source)
        if not ring:
            return [], []
        newest = ring[-1].taken_at
        xs: list[float] = []
        ys: list[float] = []
        for sample in ring:
            if not isinstance(sample, Sample) or not sample.connected or sample.error:
                continue  # disconnected, failed tick, or the last data republished by a stall
            y = value(sample)
            if y is None:
                continue
            xs.append((sample.taken_at - newest).total_seconds())
            ys.append(float(y))
        return xs, ys
