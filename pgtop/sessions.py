"""Sessions grouped by who holds them: the playbook's "find connection leaks" query, over the
activity rows of one tick (pure: the activity pane's grouped view and its filter use it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pgtop.model import Backend

__all__ = ["GroupKey", "SessionGroup", "group_key", "group_sessions"]

GroupKey = tuple[str, str | None, str | None, str | None]
"""(application, user, client, database)."""


def group_key(backend: Backend) -> GroupKey:
    return (backend.application, backend.user, backend.client, backend.database)


@dataclass(slots=True)
class SessionGroup:
    key: GroupKey
    total: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    """Sessions waiting on a heavyweight lock."""
    oldest_xact_s: float | None = None

    @property
    def application(self) -> str:
        return self.key[0]

    @property
    def user(self) -> str | None:
        return self.key[1]

    @property
    def client(self) -> str | None:
        return self.key[2]

    @property
    def database(self) -> str | None:
        return self.key[3]

    def count(self, *states: str) -> int:
        return sum(self.by_state.get(state, 0) for state in states)


def group_sessions(backends: Iterable[Backend]) -> list[SessionGroup]:
    """Client sessions grouped by (application, user, client, database), most first."""
    groups: dict[GroupKey, SessionGroup] = {}
    for b in backends:
        if not b.is_client:
            continue
        key = group_key(b)
        group = groups.get(key)
        if group is None:
            group = groups[key] = SessionGroup(key)
        group.total += 1
        state = b.state or "unknown"
        group.by_state[state] = group.by_state.get(state, 0) + 1
        if b.wait_event_type == "Lock":
            group.waiting += 1
        if b.xact_s is not None and (group.oldest_xact_s is None or b.xact_s > group.oldest_xact_s):
            group.oldest_xact_s = b.xact_s
    return sorted(groups.values(), key=lambda g: (-g.total, g.key[0], str(g.key[1:])))
