"""What the panes are given each tick: the newest samples per source and the history window.

The App keeps one :class:`History` (bounded deques, one per source) and hands the panes a
:class:`MonitorView`; panes never hold samples of their own beyond what they render.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice

from pgtop.model import AnySample, BouncerSample, Sample
from pgtop.ui.format import Palette

__all__ = ["History", "MonitorView", "has_data", "stall_note"]


def stall_note(sample: AnySample | None) -> str | None:
    """The error of a *connected* sample: the server did not answer this tick ("no answer for
    N s", the last data republished) or the tick failed (no data). None for fresh data and for
    a disconnected source (that has its own banner)."""
    if sample is None or not sample.connected:
        return None
    return sample.error


def has_data(sample: AnySample) -> bool:
    """Whether a sample carries server data (a failed tick carries none)."""
    if isinstance(sample, BouncerSample):
        return bool(sample.pools or sample.stats) or sample.clients is not None
    return sample.stats is not None or bool(sample.activity) or sample.replication is not None


class History:
    """The last ``maxlen`` samples of every source (for charts), oldest first.

    Only what charts read is kept: a PostgreSQL sample is stored without its per-row data
    (activity and its summary, statements, locks, progress). An hour of 0.5 s ticks on a server
    with 2,000 backends would otherwise hold 7,200 x 2,000 Backend records (gigabytes), and every
    one of them would be walked by each full garbage collection.
    """

    def __init__(self, maxlen: int = 3600) -> None:
        self.maxlen = maxlen
        self._by_source: dict[str, deque[AnySample]] = {}

    def add(self, sample: AnySample) -> None:
        if isinstance(sample, Sample):
            sample = replace(
                sample,
                activity=(),
                summary=None,
                statements=(),
                locks=(),
                lock_counts=(),
                progress=(),
            )
        ring = self._by_source.get(sample.source)
        if ring is None:
            ring = self._by_source[sample.source] = deque(maxlen=self.maxlen)
        ring.append(sample)

    def sources(self) -> list[str]:
        return list(self._by_source)

    def samples(self, source: str) -> list[AnySample]:
        return list(self._by_source.get(source, ()))

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


@dataclass(frozen=True, slots=True)
class MonitorView:
    """One render's input."""

    latest: Mapping[str, AnySample]
    """Newest sample per source, connected or not."""
    last_good: Mapping[str, AnySample]
    """Newest *connected* sample per source: what the panes show (dimmed when stale)."""
    main: str | None
    """The PostgreSQL source the activity, locks and statements panes follow."""
    history: History = field(default_factory=History)
    palette: Palette = field(default_factory=Palette)

    def stale(self, source: str | None) -> bool:
        sample = self.latest.get(source) if source is not None else None
        return sample is not None and not sample.connected

    def stalled(self, source: str | None) -> str | None:
        """Connected, but the newest tick brought no fresh data: why ("no answer for 7 s")."""
        return stall_note(self.latest.get(source) if source is not None else None)

    @property
    def main_sample(self) -> Sample | None:
        sample = self.last_good.get(self.main) if self.main is not None else None
        return sample if isinstance(sample, Sample) else None

    def postgres(self) -> Iterator[Sample]:
        """Connected PostgreSQL samples, the main source first."""
        main = self.main_sample
        if main is not None:
            yield main
        for name, sample in self.last_good.items():
            if isinstance(sample, Sample) and name != self.main:
                yield sample

    def bouncers(self) -> Iterator[BouncerSample]:
        for sample in self.last_good.values():
            if isinstance(sample, BouncerSample):
                yield sample

    @property
    def has_bouncer(self) -> bool:
        return any(isinstance(s, BouncerSample) for s in self.latest.values())
