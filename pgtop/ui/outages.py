"""Outages that are over: "primary back after 1.4s · server restarted at 12:03:04".

A fast restart (``pg_ctl restart``, a crash and recovery, a failover behind a proxy) can end
between two ticks: the tick that finds the connection gone reconnects at once, and the
disconnected banner is on screen for a few milliseconds. Someone watching during an incident
must still learn that the server went away and came back, so an outage stays on screen for
:data:`NOTICE_S` after it ended, with what changed across it (a new postmaster, a new role).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pgtop.model import AnySample, Role
from pgtop.ui.view import has_data

__all__ = ["NOTICE_S", "Outage", "Outages"]

NOTICE_S = 60.0
"""How long an ended outage stays on screen, in seconds of the source's own sample clock."""


@dataclass(frozen=True, slots=True)
class Outage:
    source: str
    since: datetime
    back_at: datetime
    retries: int
    restarted_at: datetime | None
    """The new postmaster start time, when the server restarted during the outage."""
    role_before: Role | None
    """The role the source had before, when it changed (a standby promoted)."""
    role_after: Role | None

    @property
    def lasted_s(self) -> float:
        return max(0.0, (self.back_at - self.since).total_seconds())


class Outages:
    """Follows each source's samples; remembers the outages that ended recently."""

    def __init__(self) -> None:
        self._down: dict[str, AnySample] = {}
        self._before: dict[str, AnySample] = {}
        self._ended: dict[str, Outage] = {}

    def observe(self, sample: AnySample, last_good: AnySample | None) -> None:
        """``sample`` just arrived; ``last_good`` is the source's last data before it."""
        source = sample.source
        if not sample.connected:
            if source not in self._down:
                if last_good is None:
                    return  # never connected yet: that is not an outage
                self._before[source] = last_good
            self._down[source] = sample
            self._ended.pop(source, None)  # the disconnected banner says more now
            return
        down = self._down.get(source)
        if down is None or not has_data(sample):
            return
        del self._down[source]
        old, new = self._before.pop(source).info, sample.info
        restarted = (
            old is not None
            and new is not None
            and new.started_at is not None
            and old.started_at is not None
            and new.started_at != old.started_at
        )
        role_changed = old is not None and new is not None and old.role != new.role
        self._ended[source] = Outage(
            source=source,
            since=down.disconnected_since or down.taken_at,
            back_at=sample.taken_at,
            retries=down.retries,
            restarted_at=new.started_at if restarted and new is not None else None,
            role_before=old.role if role_changed and old is not None else None,
            role_after=new.role if role_changed and new is not None else None,
        )

    def recent(self, now_by_source: dict[str, datetime]) -> list[Outage]:
        """The outages that ended less than :data:`NOTICE_S` ago, by each source's clock."""
        for source, outage in list(self._ended.items()):
            now = now_by_source.get(source, outage.back_at)
            if (now - outage.back_at).total_seconds() >= NOTICE_S:
                del self._ended[source]
        return list(self._ended.values())
