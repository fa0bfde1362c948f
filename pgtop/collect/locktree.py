"""The blocking graph and tree, built in pure Python from ONE read of pg_locks.

Who blocks whom (:func:`resolve_blocking`): the locks probe returns every ungranted lock and the
granted locks on the same objects, from a single call of pg_lock_status() (none while nothing
waits; none either while the activity rows show that the graph read last still holds:
:class:`LockWatch`). A waiter is *hard*-blocked by every other backend that holds a lock on the
same object (same locktype and key fields: database, relation, page, tuple, virtualxid,
transactionid, classid, objid, objsubid) in a mode that conflicts with the one it asks for
(PostgreSQL's conflict table, :data:`CONFLICTS`); members of its own lock group (a parallel
query's leader and workers) never block it, a prepared transaction shows as pid 0, as in
``pg_blocking_pids()``. That call is what pgtop used to make once per waiter per tick: each takes
every lock-manager partition lock, so the server's cost grew with the pile-up.

A waiter no holder explains waits in the queue behind another waiter (*soft* block: a reader
queued behind an ``ALTER TABLE`` that itself waits). pg_locks does not show the queue's order:
those waiters are placed behind the earliest queued waiter whose requested mode conflicts with
theirs (the order of their wait start: pg_locks.waitstart on PostgreSQL 14+, else the age of
the backend's state), and the source asks the server (``pg_blocking_pids()``) for the exact answer
only for those among them that were already waiting at the previous tick, at most
:data:`RESOLVE_CAP` a tick, oldest wait first; the rest are counted as not resolved.

The cost is linear in the rows: holders are grouped by object and mode once, and every waiter
of an object asking for the same mode shares one tuple of hard blockers.

The tree (:func:`build_tree`): roots are blockers that do not themselves wait on a Lock; every
waiter sits under its FIRST blocker (the first pid of ``Backend.blocked_by`` that is not itself),
so C waiting on B waiting on A shows as A > B > C. A waiter that is part of a cycle (a deadlock
window before the detector fires) has no such root: the lowest pid of each cycle becomes a root
that keeps its own wait details. Every backend appears at most once; there is no recursion
without a visited set.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pgtop.model import Backend, LockCount, LockNode

__all__ = [
    "CONFLICTS",
    "RESOLVE_CAP",
    "Blocking",
    "Held",
    "LOCKS_REFRESH_S",
    "LockWatch",
    "Wait",
    "build_tree",
    "count_waits",
    "lineage",
    "resolve_blocking",
]

RESOLVE_CAP = 10
"""At most this many queued waiters a tick are resolved by ``pg_blocking_pids()`` on the server
(each call takes every lock-manager partition lock)."""

_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_BIT = {mode: 1 << i for i, mode in enumerate(_MODES)}


def _mask(*modes: str) -> int:
    bits = 0
    for mode in modes:
        bits |= _BIT[mode]
    return bits


_AS, _RS, _RX, _SUX, _S, _SRX, _X, _AX = _MODES
CONFLICTS: dict[str, int] = {
    # PostgreSQL's lock conflict table (src/backend/storage/lmgr/lock.c, LockConflicts)
    _AS: _mask(_AX),
    _RS: _mask(_X, _AX),
    _RX: _mask(_S, _SRX, _X, _AX),
    _SUX: _mask(_SUX, _S, _SRX, _X, _AX),
    _S: _mask(_RX, _SUX, _SRX, _X, _AX),
    _SRX: _mask(_RX, _SUX, _S, _SRX, _X, _AX),
    _X: _mask(_RS, _RX, _SUX, _S, _SRX, _X, _AX),
    _AX: _mask(*_MODES),
}
"""Lock mode → the bits of the modes it conflicts with (a mode unknown here conflicts with none)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """One ungranted lock (a row of pg_locks WHERE NOT granted)."""

    pid: int
    locktype: str
    mode: str
    relation: str | None
    waited_s: float | None
    target: Hashable = ""  # the locked object: locktype and key fields (equal for the same one)


@dataclass(frozen=True, slots=True)
class Held:
    """One granted lock on an object somebody waits for."""

    pid: int  # 0: a prepared transaction (pg_locks.pid is NULL)
    target: Hashable
    mode: str


@dataclass(frozen=True, slots=True)
class Blocking:
    """Who blocks whom, this tick."""

    blocked_by: dict[int, tuple[int, ...]]
    """Waiter pid → its blockers: the holders of a conflicting lock (those that wait on nothing
    themselves first, then by pid); for a waiter no holder explains, the waiters queued ahead
    of it with a conflicting request (the server's answer when it was asked, else the earliest
    per conflicting mode, in queue order). The first decides the waiter's place in the tree."""
    queued: tuple[int, ...] = ()
    """The waiters no holder explains, longest wait first: whom to ask the server about."""
    unresolved: int = 0
    """How many of them were placed by wait order, without the server's answer."""


def _age(wait: Wait, fallback: Mapping[int, float]) -> float:
    if wait.waited_s is not None:
        return wait.waited_s
    return fallback.get(wait.pid, 0.0)


def resolve_blocking(
    waits: Iterable[Wait],
    held: Iterable[Held],
    *,
    leaders: Mapping[int, int] | None = None,
    ages: Mapping[int, float] | None = None,
    server: Mapping[int, Sequence[int]] | None = None,
) -> Blocking:
    """Blockers of every waiter in ``waits`` (one wait per pid), from the granted locks
    ``held`` on the same objects. ``leaders``: parallel workers' lock group leader (pid → pid);
    ``ages``: a waiter's wait age when its Wait has none (PostgreSQL 13: the backend's state
    age), for the queue order; ``server``: pg_blocking_pids() of some queued waiters."""
    leaders = leaders or {}
    ages = ages or {}
    server = server or {}
    # object → mode bit → holders (reported by their lock group leader, as the server does)
    holders: dict[Hashable, dict[int, list[int]]] = {}
    for lock in held:
        bit = _BIT.get(lock.mode, 0)
        by_mode = holders.setdefault(lock.target, {})
        by_mode.setdefault(bit, []).append(leaders.get(lock.pid, lock.pid))
    queues: dict[Hashable, list[Wait]] = {}
    seen: set[int] = set()
    for wait in waits:
        if wait.pid not in seen:
            seen.add(wait.pid)
            queues.setdefault(wait.target, []).append(wait)
    waiting = seen

    blocked_by: dict[int, tuple[int, ...]] = {}
    queued: list[Wait] = []
    unresolved = 0
    for target, queue in queues.items():
        queue.sort(key=lambda w: (-_age(w, ages), w.pid))
        by_mode = holders.get(target, {})
        hard_of: dict[int, tuple[int, ...]] = {}  # conflict mask → holders in those modes
        first: dict[
            int, tuple[int, int, int]
        ] = {}  # mode bit → (position, pid, group) queued first
        for position, wait in enumerate(queue):
            group = leaders.get(wait.pid, wait.pid)
            mask = CONFLICTS.get(wait.mode, 0)
            hard = hard_of.get(mask)
            if hard is None:
                found = {pid for bit, pids in by_mode.items() if bit & mask for pid in pids}
                hard = hard_of[mask] = tuple(sorted(found, key=lambda p: (p in waiting, p)))
            if group in hard:  # its own group holds a conflicting lock: that never blocks it
                hard = tuple(p for p in hard if p != group)
            if hard:
                blocked_by[wait.pid] = hard
            else:
                queued.append(wait)
                answer = tuple(dict.fromkeys(p for p in server.get(wait.pid, ()) if p != group))
                if not answer:
                    unresolved += 1
                    ahead = sorted(
                        (at, pid)
                        for bit, (at, pid, at_group) in first.items()
                        if bit & mask and at_group != group
                    )
                    answer = tuple(pid for _, pid in ahead)
                if answer:
                    blocked_by[wait.pid] = answer
            first.setdefault(_BIT.get(wait.mode, 0), (position, wait.pid, group))
    queued.sort(key=lambda w: (-_age(w, ages), w.pid))
    return Blocking(blocked_by, tuple(w.pid for w in queued), unresolved)


LOCKS_REFRESH_S = 10.0
"""A lock graph nothing seems to change is read again after this long (what the activity rows
cannot show: a session-level advisory unlock, a holder taking another lock)."""

_GONE = object()


@dataclass(frozen=True, slots=True)
class _Graph:
    """One read of pg_locks and what it was read against."""

    read_at: float
    waits: tuple[Wait, ...]
    blocking: Blocking
    waiting: dict[int, Hashable]  # waiter pid → its wait as the activity rows showed it
    xacts: dict[int, object]  # blocker pid → its transaction start at the read
    answered: frozenset[int] = frozenset()  # queued waiters the server placed


class LockWatch:
    """The lock graph between two reads of pg_locks.

    A read costs the server one pg_lock_status() call, linear in all the locks held (and in a
    pile-up it waits for every lock-manager partition lock behind the busy backends). The graph
    only changes when a backend starts or stops waiting, or a blocker's transaction ends: the
    activity rows of each tick show both. So a tick whose activity matches the last read reuses
    it (the waits' ages advance, ended blockers are dropped at once), a tick that shows a
    change makes the NEXT tick read pg_locks again (a wait that began since the last read is
    placed one tick later), and so does a graph older than :data:`LOCKS_REFRESH_S`. While no
    graph is held (nothing waited at the last read), every tick asks (the probe reads pg_locks
    only when some backend waits on a Lock, so a new pile-up is placed at once).

    The server is asked (``pg_blocking_pids()``) about the queued waiters at the tick after each
    read (so only about waits older than a tick): at most :data:`RESOLVE_CAP` of them, the
    longest waits first; its answers hold until the next read.
    """

    def __init__(self, refresh_s: float = LOCKS_REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self.read_due = True
        """Whether the next tick reads pg_locks."""
        self.resolve: tuple[int, ...] = ()
        """The queued waiters to ask the server about at the next tick."""
        self._graph: _Graph | None = None

    @property
    def holding(self) -> bool:
        """A graph is kept from an earlier read."""
        return self._graph is not None

    def forget(self) -> None:
        self.read_due = True
        self.resolve = ()
        self._graph = None

    def update(
        self,
        now: float,
        read: tuple[Sequence[Wait], Sequence[Held]] | None,
        waiting: Mapping[int, Hashable],
        xacts: Mapping[int, object],
        *,
        leaders: Callable[[], Mapping[int, int]] = dict,
        ages: Callable[[], Mapping[int, float]] = dict,
        answers: Mapping[int, Sequence[int]] | None = None,
    ) -> tuple[Blocking, tuple[Wait, ...]]:
        """This tick's blocking and waits. ``read``: this tick's rows of the locks probe, None
        when it did not run; ``waiting``: the backends waiting on a Lock now (pid → what
        identifies that wait: statement start and wait event); ``xacts``: every backend's
        transaction start now; ``answers``: the server's pg_blocking_pids() of the waiters
        asked about. ``leaders`` and ``ages`` are only called when a read is resolved."""
        answers = answers or {}
        if read is not None:
            waits, held = read
            blocking = resolve_blocking(waits, held, leaders=leaders(), ages=ages(), server=answers)
            self.resolve = blocking.queued[:RESOLVE_CAP]  # asked at the next tick
            if not waits:
                self._graph = None
                self.read_due = True
                return blocking, ()
            blockers = {p for pids in blocking.blocked_by.values() for p in pids}
            self._graph = _Graph(
                read_at=now,
                waits=tuple(waits),
                blocking=blocking,
                waiting={w.pid: waiting.get(w.pid) for w in waits},
                xacts={p: xacts.get(p, _GONE) for p in blockers if p},
                answered=frozenset(p for p in blocking.queued if answers.get(p)),
            )
            self.read_due = self.refresh_s <= 0  # 0: read every tick (benchmarks, tests)
            return blocking, tuple(waits)
        graph = self._graph
        if graph is None:
            self.read_due = True
            self.resolve = ()
            return Blocking({}), ()
        if answers:
            graph = self._graph = self._answered(graph, answers)
        self.resolve = ()
        return self._current(graph, now, waiting, xacts)

    def _answered(self, graph: _Graph, answers: Mapping[int, Sequence[int]]) -> _Graph:
        blocked_by = dict(graph.blocking.blocked_by)
        answered = set(graph.answered)
        for pid in graph.blocking.queued:
            answer = tuple(dict.fromkeys(p for p in answers.get(pid, ()) if p != pid))
            if answer:
                blocked_by[pid] = answer
                answered.add(pid)
        unresolved = sum(1 for p in graph.blocking.queued if p not in answered)
        blocking = Blocking(blocked_by, graph.blocking.queued, unresolved)
        return _Graph(
            graph.read_at, graph.waits, blocking, graph.waiting, graph.xacts, frozenset(answered)
        )

    def _current(
        self,
        graph: _Graph,
        now: float,
        waiting: Mapping[int, Hashable],
        xacts: Mapping[int, object],
    ) -> tuple[Blocking, tuple[Wait, ...]]:
        ended = {p for p, xact in graph.xacts.items() if xacts.get(p, _GONE) != xact}
        elapsed = now - graph.read_at
        blocked_by: dict[int, tuple[int, ...]] = {}
        waits: list[Wait] = []
        for wait in graph.waits:
            if waiting.get(wait.pid, _GONE) != graph.waiting[wait.pid]:
                continue  # no longer waits (or waits for something else now)
            blockers = graph.blocking.blocked_by.get(wait.pid, ())
            if ended and not ended.isdisjoint(blockers):
                blockers = tuple(p for p in blockers if p not in ended)
            if blockers:
                blocked_by[wait.pid] = blockers
            waited = wait.waited_s
            if waited is not None:
                wait = Wait(
                    wait.pid, wait.locktype, wait.mode, wait.relation, waited + elapsed, wait.target
                )
            waits.append(wait)
        # a wait began or ended, or a blocker's transaction did: read the graph again
        changed = bool(ended) or len(waits) != len(waiting) or len(waits) != len(graph.waits)
        self.read_due = changed or elapsed >= self.refresh_s
        still = {w.pid for w in waits}
        queued = tuple(p for p in graph.blocking.queued if p in still)
        unresolved = sum(1 for p in queued if p not in graph.answered)
        return Blocking(blocked_by, queued, unresolved), tuple(waits)


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
