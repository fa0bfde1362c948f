"""The blocking tree, built in pure Python from activity rows and ungranted locks.

Roots are blockers that do not themselves wait on a Lock; every waiter sits under its FIRST
blocker (the first pid of pg_blocking_pids() that is not itself), so C waiting on B waiting on
A shows as A > B > C. A waiter that is part of a cycle (a deadlock window before the detector
fires) has no such root: the lowest pid of each cycle becomes a root that keeps its own wait
details. Every backend appears at most once; there is no recursion without a visited set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pgtop.model import Backend, LockCount, LockNode

__all__ = ["Wait", "build_tree", "count_waits", "lineage"]


@dataclass(frozen=True, slots=True)
class Wait:
    """One ungranted lock (a row of pg_locks WHERE NOT granted)."""

    pid: int
    locktype: str
    mode: str
    relation: str | None
    waited_s: float | None


def _first_blocker(backend: Backend) -> int | None:
    return next((pid for pid in backend.blocked_by if pid != backend.pid), None)


def build_tree(backends: Sequence[Backend], waits: Iterable[Wait] = ()) -> tuple[LockNode, ...]:
    """Roots of the blocking tree (ordered by pid), each with its waiters nested below it."""
    by_pid = {b.pid: b for b in backends}
    wait_of: dict[int, Wait] = {}
    for wait in waits:
        wait_of.setdefault(wait.pid, wait)
    parent: dict[int, int] = {}
    for backend in backends:
        blocker = _first_blocker(backend)
        if blocker is not None:
            parent[backend.pid] = blocker
    if not parent:
        return ()
    children: dict[int, list[int]] = {}
    for waiter, blocker in sorted(parent.items()):
        children.setdefault(blocker, []).append(waiter)

    visited: set[int] = set()

    def node(pid: int) -> LockNode:
        visited.add(pid)
        kids = [node(c) for c in children.get(pid, ()) if c not in visited]
        return _make_node(pid, by_pid.get(pid), wait_of.get(pid) if pid in parent else None, kids)

    roots = [node(pid) for pid in sorted(children) if pid not in parent]
    # Whatever is left waits, directly or not, on a cycle: root each cycle at its lowest pid.
    for pid in sorted(parent):
        if pid in visited:
            continue
        seen: list[int] = []
        current = pid
        while current in parent and current not in seen and current not in visited:
            seen.append(current)
            current = parent[current]
        if current in visited:  # hangs below a cycle already placed; reached from there
            continue
        cycle = seen[seen.index(current) :] if current in seen else seen
        roots.append(node(min(cycle)))
    # Anything still unvisited hangs below a placed cycle through a visited node: place it.
    for pid in sorted(parent):
        if pid not in visited:
            roots.append(node(pid))
    return tuple(sorted(roots, key=lambda n: n.pid))


def _make_node(
    pid: int, backend: Backend | None, wait: Wait | None, children: list[LockNode]
) -> LockNode:
    waited = wait.waited_s if wait else None
    if wait is not None and waited is None and backend is not None:
        waited = backend.state_s  # PG 13: no waitstart; waiting since the last state change
    return LockNode(
        pid=pid,
        user=backend.user if backend else None,
        database=backend.database if backend else None,
        application=backend.application
        if backend
        else ("prepared transaction" if pid == 0 else ""),
        state=backend.state if backend else None,
        query=backend.query if backend else "",
        xact_s=backend.xact_s if backend else None,
        mode=wait.mode if wait else None,
        locktype=wait.locktype if wait else None,
        relation=wait.relation if wait else None,
        waited_s=waited if wait else None,
        children=tuple(children),
    )


def count_waits(waits: Iterable[Wait]) -> tuple[LockCount, ...]:
    """Ungranted locks grouped by relation, lock type and mode; most first."""
    counts: dict[tuple[str | None, str, str], int] = {}
    for wait in waits:
        key = (wait.relation, wait.locktype, wait.mode)
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1], kv[0][2]))
    return tuple(LockCount(rel, locktype, mode, n) for (rel, locktype, mode), n in ordered)


def lineage(roots: Sequence[LockNode], pid: int) -> tuple[tuple[LockNode, ...], LockNode] | None:
    """Where ``pid`` sits in the blocking tree: the chain above it from the root blocker down
    to its direct blocker, and its own node (whose children are what it blocks); None when it
    neither blocks nor waits."""
    stack: list[tuple[LockNode, tuple[LockNode, ...]]] = [(root, ()) for root in roots]
    while stack:
        node, above = stack.pop()
        if node.pid == pid:
            return above, node
        stack.extend((child, (*above, node)) for child in node.children)
    return None
