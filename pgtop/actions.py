"""What the UI may ask of a server besides watching it: cancel a query, terminate a backend.

The UI holds a :class:`Signaller` (``pgtop.collect.signals.BackendSignals`` implements it) and
never runs SQL itself, as with :class:`pgtop.feed.Feed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = ["Outcome", "Signal", "Signaller"]


class Signal(StrEnum):
    CANCEL = "cancel"
    TERMINATE = "terminate"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did, as one line for the user; ``ok`` False when nothing was achieved."""

    ok: bool
    message: str


class Signaller(Protocol):
    @property
    def name(self) -> str:
        """The source whose backends it signals ("primary")."""
        ...

    async def send(self, signal: Signal, pid: int, backend_start: datetime | None) -> Outcome:
        """Signal backend ``pid`` if it is still the one started at ``backend_start``; never
        raises for a server's refusal or failure (the outcome says it)."""
        ...

    async def close(self) -> None: ...
