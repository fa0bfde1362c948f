"""How samples reach a consumer (the UI): the sampler implements Feed, tests replay recordings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from pgtop.history import History
from pgtop.model import AnySample

Publish = Callable[[AnySample], None]


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
