"""What the panes are given each tick: the newest samples per source and the history window.

The App hands the panes a :class:`MonitorView` with the feed's one history
(:mod:`pgtop.history`); panes never hold samples of their own beyond what they render.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from pgtop.history import History
from pgtop.model import AnySample, BouncerSample, Sample
from pgtop.ui.format import Palette

__all__ = ["MonitorView", "has_data", "stall_note"]


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
