"""How samples reach a consumer (the UI): the sampler implements Feed, tests replay recordings.

A feed may read some probes less often while no consumer shows them (:class:`ProbeGroup`); a
consumer that shows them says so with :func:`show_pane` (the UI, on every pane switch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

from pgtop.history import History
from pgtop.model import AnySample

Publish = Callable[[AnySample], None]


class ProbeGroup(StrEnum):
    """Probes whose results are on no screen but one pane's, and that no health status needs
    each tick: a feed may read them on a slower schedule while that pane is hidden (the
    schedule is in :mod:`pgtop.collect.postgres`). Every other probe runs each tick."""

    STATEMENTS = "statements"  # pg_stat_statements: the statements pane and its details


PANE_PROBES: Final[Mapping[str, frozenset[ProbeGroup]]] = MappingProxyType(
    {"statements": frozenset({ProbeGroup.STATEMENTS})}
)
"""Pane id → the probe groups it shows."""


@runtime_checkable
class Wants(Protocol):
    """A feed that schedules probe groups by what its consumer shows."""

    def want(self, groups: frozenset[ProbeGroup]) -> None:
        """Read ``groups`` every tick from now on (at once when they are behind), the other
        groups on their slower schedule. Never called: every group every tick (headless)."""
        ...


def show_pane(feed: Feed, pane: str) -> None:
    """Tell ``feed`` which pane is on screen, when it schedules probes by it."""
    if isinstance(feed, Wants):
        feed.want(PANE_PROBES.get(pane, frozenset()))


class Feed(Protocol):
    @property
    def history(self) -> History:
        """Every published sample's slim copy for ``monitor.history_minutes`` (charts read it)."""
        ...

    @property
    def interval(self) -> float:
        """Seconds between the starts of two ticks."""
        ...

    @property
    def paused(self) -> bool: ...

    async def run(self, publish: Publish) -> None:
        """Publish samples until cancelled; never raises for a server's failure."""
        ...

    def set_interval(self, seconds: float) -> None: ...

    def set_paused(self, paused: bool) -> None: ...


class RecordedFeed:
    """Publishes a fixed list of samples once, in order, then waits: stable UI tests/snapshots."""

    def __init__(
        self, samples: Sequence[AnySample], interval: float = 2.0, history_minutes: float = 60
    ) -> None:
        self._samples = list(samples)
        self._history = History(history_minutes)
        self._interval = interval
        self._paused = False

    @property
    def history(self) -> History:
        return self._history

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def paused(self) -> bool:
        return self._paused

    async def run(self, publish: Publish) -> None:
        for sample in self._samples:
            self._history.add(sample)
            publish(sample)
        await asyncio.Event().wait()

    def set_interval(self, seconds: float) -> None:
        self._interval = seconds

    def set_paused(self, paused: bool) -> None:
        self._paused = paused

    def want(self, groups: frozenset[ProbeGroup]) -> None:
        del groups  # a recording holds what it holds
