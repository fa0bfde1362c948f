"""The blocking tree from plain Backend records: chains, fan-out, cycles, multiple blockers; the
lock graph (who blocks whom) from pg_locks rows: hard blocks, queue order, lock groups."""

from __future__ import annotations

import pytest

from pgtop.collect import rows as conv
from pgtop.collect.locktree import (
    CONFLICTS,
    Held,
    LockWatch,
    Wait,
    build_tree,
    count_waits,
    resolve_blocking,
)
from pgtop.model import Backend, LockNode


def be(pid: int, *blocked_by: int, state: str = "active") -> Backend:
    return Backend(
        pid=pid,
        database="app",
        user="app",
        application=f"app-{pid}",
        client="127.0.0.1",
        backend_type="client backend",
        state=state,
        wait_event_type="Lock" if blocked_by else None,
        wait_event="transactionid" if blocked_by else None,
        backend_start=None,
        xact_start=None,
        query_start=None,
        state_change=None,
        query_s=None,
        xact_s=10.0,
        state_s=7.0,
        xid_age=None,
        xmin_age=None,
        leader_pid=None,
        query=f"query {pid}",
        blocked_by=tuple(blocked_by),
    )


def shape(nodes: tuple[LockNode, ...]) -> list[tuple[int, int]]:
    return [(depth, node.pid) for root in nodes for depth, node in root.walk()]


def test_no_waiters_no_tree() -> None:
    assert build_tree([be(1), be(2)]) == ()


def test_chain_nests_c_under_b_under_a() -> None:
    backends = [be(1, state="idle in transaction"), be(2, 1), be(3, 2)]
    waits = [
        Wait(2, "transactionid", "ShareLock", None, 4.0),
        Wait(3, "tuple", "ExclusiveLock", "t", None),
    ]
    roots = build_tree(backends, waits)
    assert shape(roots) == [(0, 1), (1, 2), (2, 3)]
    holder, b, c = (n for _, n in roots[0].walk())
    assert holder.mode is None
    assert holder.waited_s is None
    assert holder.query == "query 1"
    assert (b.mode, b.locktype, b.waited_s) == ("ShareLock", "transactionid", 4.0)
    assert (c.relation, c.waited_s) == ("t", 7.0)  # no waitstart (PG 13): state_change age


def test_fan_out_and_separate_trees() -> None:
    backends = [be(1), be(2, 1), be(3, 1), be(4, 1), be(10), be(11, 10)]
    assert shape(build_tree(backends)) == [(0, 1), (1, 2), (1, 3), (1, 4), (0, 10), (1, 11)]


def test_multiple_blockers_first_one_wins() -> None:
    backends = [be(1), be(2), be(3, 2, 1)]
    assert shape(build_tree(backends)) == [(0, 2), (1, 3)]


def test_unknown_blocker_becomes_a_stub_root() -> None:
    roots = build_tree([be(5, 99)])
    assert shape(roots) == [(0, 99), (1, 5)]
    assert roots[0].user is None
    assert roots[0].query == ""


@pytest.mark.parametrize(
    ("backends", "expected"),
    [
        ([be(1, 2), be(2, 1)], [(0, 1), (1, 2)]),  # two-way deadlock window
        ([be(3, 1), be(1, 2), be(2, 3)], [(0, 1), (1, 3), (2, 2)]),  # three-way
        ([be(1, 2), be(2, 1), be(5, 2)], [(0, 1), (1, 2), (2, 5)]),  # hanging below a cycle
        ([be(4, 4)], []),  # self-reference is ignored
    ],
)
def test_cycles_terminate_and_show_everyone_once(
    backends: list[Backend], expected: list[tuple[int, int]]
) -> None:
    assert shape(build_tree(backends)) == expected


def test_cycle_root_keeps_its_wait() -> None:
    roots = build_tree([be(1, 2), be(2, 1)], [Wait(1, "transactionid", "ShareLock", None, 1.0)])
    assert roots[0].mode == "ShareLock"


def test_count_waits() -> None:
    waits = [
        Wait(1, "tuple", "ExclusiveLock", "t", None),
        Wait(2, "tuple", "ExclusiveLock", "t", None),
        Wait(3, "relation", "AccessExclusiveLock", "u", None),
    ]
    counts = count_waits(waits)
    assert [(c.relation, c.mode, c.count) for c in counts] == [
        ("t", "ExclusiveLock", 2),
        ("u", "AccessExclusiveLock", 1),
    ]


def test_lineage_up_to_the_root_and_down_the_subtree() -> None:
    from pgtop.collect.locktree import lineage
    from pgtop.model import LockNode

    def node(pid: int, *children: LockNode) -> LockNode:
        return LockNode(pid, None, None, "", None, "", None, children=children)

    leaf = node(4)
    middle = node(3, leaf)
    root = node(1, node(2), middle)
    found = lineage((root,), 3)
    assert found is not None
    above, own = found
    assert [n.pid for n in above] == [1]
    assert [n.pid for n in own.children] == [4]
    deepest = lineage((root,), 4)
    assert deepest is not None
    assert [n.pid for n in deepest[0]] == [1, 3]
    assert lineage((root,), 1) == ((), root)
    assert lineage((root,), 99) is None


# --------------------------------------------------------------------------- the lock graph

TUPLE = "tuple 5 16471 0 1"
XID = "transactionid 743"
TABLE = "relation 5 16477"


def test_the_conflict_table_is_symmetric_and_complete() -> None:
    modes = list(CONFLICTS)
    assert len(modes) == 8
    for a in modes:
        for b in modes:
            a_b = bool(CONFLICTS[a] & (1 << modes.index(b)))
            b_a = bool(CONFLICTS[b] & (1 << modes.index(a)))
            assert a_b == b_a, (a, b)
    assert not CONFLICTS["AccessShareLock"] & (1 << modes.index("RowExclusiveLock"))
    assert CONFLICTS["ShareLock"] & (1 << modes.index("RowExclusiveLock"))
    assert CONFLICTS["ShareUpdateExclusiveLock"] & (1 << modes.index("ShareUpdateExclusiveLock"))
    assert not CONFLICTS["ShareLock"] & (1 << modes.index("ShareLock"))


def test_a_row_pile_up_is_hard_blocks_only() -> None:
    """The holder has the row's transaction; the first waiter holds the tuple lock and waits
    for that transaction; the others wait for the tuple lock."""
    waits = [
        Wait(11, "transactionid", "ShareLock", None, 9.0, XID),
        Wait(12, "tuple", "ExclusiveLock", "t", 8.0, TUPLE),
        Wait(13, "tuple", "ExclusiveLock", "t", 7.0, TUPLE),
    ]
    held = [Held(10, XID, "ExclusiveLock"), Held(11, TUPLE, "ExclusiveLock")]
    blocking = resolve_blocking(waits, held)
    assert blocking.blocked_by == {11: (10,), 12: (11,), 13: (11,)}
    assert blocking.blocked_by[12] is blocking.blocked_by[13]  # one tuple per object and mode
    assert (blocking.queued, blocking.unresolved) == ((), 0)


def test_a_reader_behind_a_pending_alter_is_placed_by_wait_order_then_by_the_server() -> None:
    waits = [
        Wait(21, "relation", "AccessExclusiveLock", "u", 5.0, TABLE),
        Wait(22, "relation", "AccessShareLock", "u", 3.0, TABLE),
        Wait(23, "relation", "AccessShareLock", "u", 1.0, TABLE),
    ]
    held = [Held(20, TABLE, "AccessShareLock")]
    blocking = resolve_blocking(waits, held)
    assert blocking.blocked_by == {21: (20,), 22: (21,), 23: (21,)}  # readers don't block readers
    assert (blocking.queued, blocking.unresolved) == ((22, 23), 2)
    answered = resolve_blocking(waits, held, server={22: [21, 21, 22]})
    assert answered.blocked_by[22] == (21,)  # deduplicated, never itself
    assert (answered.queued, answered.unresolved) == ((22, 23), 1)
    backends = [
        be(20, state="idle in transaction"),
        *(be(p, *answered.blocked_by[p]) for p in (21, 22, 23)),
    ]
    assert shape(build_tree(backends, waits)) == [(0, 20), (1, 21), (2, 22), (2, 23)]


def test_the_queue_order_comes_from_the_wait_age_or_the_state_age() -> None:
    """Two ALTERs queued: a reader waits behind the first one queued (the server's soft-block
    order); PostgreSQL 13 has no waitstart: the backend's state age stands in."""
    waits = [
        Wait(31, "relation", "AccessExclusiveLock", "u", None, TABLE),
        Wait(32, "relation", "AccessExclusiveLock", "u", None, TABLE),
        Wait(33, "relation", "AccessShareLock", "u", None, TABLE),
    ]
    held = [Held(30, TABLE, "AccessShareLock")]
    blocking = resolve_blocking(waits, held, ages={31: 2.0, 32: 6.0, 33: 1.0})
    assert blocking.blocked_by == {31: (30,), 32: (30,), 33: (32,)}


def test_own_lock_group_and_own_locks_never_block_and_prepared_transactions_are_pid_0() -> None:
    waits = [
        Wait(41, "relation", "AccessExclusiveLock", "u", 2.0, TABLE),  # an upgrade
        Wait(50, "relation", "ExclusiveLock", "v", 1.0, "relation 5 999"),
    ]
    held = [
        Held(41, TABLE, "AccessShareLock"),  # its own
        Held(42, TABLE, "RowShareLock"),  # a parallel worker of 41
        Held(44, TABLE, "AccessShareLock"),  # a parallel worker of 43: reported as 43
        Held(0, "relation 5 999", "RowExclusiveLock"),
    ]
    blocking = resolve_blocking(waits, held, leaders={42: 41, 44: 43})
    assert blocking.blocked_by == {41: (43,), 50: (0,)}


def test_holders_that_wait_on_nothing_come_first() -> None:
    waits = [
        Wait(62, "transactionid", "ShareLock", None, 1.0, "transactionid 9"),
        Wait(61, "relation", "AccessExclusiveLock", "u", 2.0, TABLE),
    ]
    held = [Held(62, TABLE, "AccessShareLock"), Held(70, TABLE, "AccessShareLock")]
    held.append(Held(70, "transactionid 9", "ExclusiveLock"))
    assert resolve_blocking(waits, held).blocked_by[61] == (70, 62)


def test_a_waiter_nothing_explains_is_queued_without_blockers() -> None:
    waits = [Wait(81, "relation", "RowExclusiveLock", "u", 4.0, TABLE)]
    blocking = resolve_blocking(waits, [Held(80, TABLE, "AccessShareLock")])
    assert blocking.blocked_by == {}
    assert (blocking.queued, blocking.unresolved) == ((81,), 1)


def test_lock_rows_become_waits_and_holds() -> None:
    key = (5, 16477, None, None, None, None, None, None, None)
    target = ("relation", *key)
    waits, held = conv.locks(
        [
            (7, "relation", "AccessShareLock", False, "u", -0.001, *key),
            (None, "relation", "RowExclusiveLock", True, None, None, *key),
            (8, "relation", "AccessShareLock", True, None, None, *key),
        ]
    )
    assert waits == [Wait(7, "relation", "AccessShareLock", "u", 0.0, target)]
    assert held == [Held(0, target, "RowExclusiveLock"), Held(8, target, "AccessShareLock")]


# --------------------------------------------------------------------------- between two reads

T0 = 100.0


def _alter_queue(readers: int) -> tuple[list[Wait], list[Held]]:
    """20 and 24 hold the table; 21 (ALTER) waits; readers queued behind it."""
    waits = [Wait(21, "relation", "AccessExclusiveLock", "u", 50.0, TABLE)]
    waits += [
        Wait(100 + n, "relation", "AccessShareLock", "u", 40.0 - n, TABLE) for n in range(readers)
    ]
    return waits, [Held(20, TABLE, "AccessShareLock"), Held(24, TABLE, "AccessShareLock")]


def _waiting(waits: list[Wait]) -> dict[int, object]:
    return {w.pid: ("started", "relation") for w in waits}


XACTS = {20: "x20", 21: "x21", 24: "x24"}


def test_a_graph_nothing_changes_is_kept_and_ages() -> None:
    watch = LockWatch(refresh_s=10.0)
    waits, held = _alter_queue(2)
    blocking, _ = watch.update(T0, (waits, held), _waiting(waits), XACTS)
    assert blocking.blocked_by[21] == (20, 24)
    assert not watch.read_due
    assert watch.resolve == (100, 101)
    answers = {100: (21,), 101: (21,)}
    kept, aged = watch.update(T0 + 2, None, _waiting(waits), XACTS, answers=answers)
    assert kept.blocked_by == {21: (20, 24), 100: (21,), 101: (21,)}
    assert kept.unresolved == 0
    assert [w.waited_s for w in aged] == [52.0, 42.0, 41.0]
    assert (watch.read_due, watch.resolve) == (False, ())
    watch.update(T0 + 10, None, _waiting(waits), XACTS)
    assert watch.read_due  # read again after refresh_s, whatever the activity says


def test_an_ended_blocker_is_dropped_at_once_and_the_graph_read_again() -> None:
    watch = LockWatch()
    waits, held = _alter_queue(1)
    watch.update(T0, (waits, held), _waiting(waits), XACTS)
    blocking, _ = watch.update(T0 + 1, None, _waiting(waits), {**XACTS, 20: "another"})
    assert blocking.blocked_by[21] == (24,)
    assert watch.read_due


def test_a_new_or_ended_wait_makes_the_next_tick_read() -> None:
    watch = LockWatch()
    waits, held = _alter_queue(2)
    watch.update(T0, (waits, held), _waiting(waits), XACTS)
    more = {**_waiting(waits), 300: ("started", "tuple")}
    blocking, kept = watch.update(T0 + 1, None, more, XACTS)
    assert 300 not in blocking.blocked_by  # placed by the next read
    assert len(kept) == 3
    assert watch.read_due
    watch.update(T0 + 2, (waits, held), _waiting(waits), XACTS)
    fewer = _waiting(waits[:2])
    blocking, kept = watch.update(T0 + 3, None, fewer, XACTS)
    assert [w.pid for w in kept] == [21, 100]
    assert set(blocking.blocked_by) == {21, 100}
    assert watch.read_due


def test_the_server_is_asked_about_ten_queued_waiters_once_per_read() -> None:
    watch = LockWatch()
    waits, held = _alter_queue(15)
    first, _ = watch.update(T0, (waits, held), _waiting(waits), XACTS)
    assert (len(first.queued), first.unresolved) == (15, 15)
    assert watch.resolve == tuple(range(100, 110))  # the longest waits
    answers = dict.fromkeys(watch.resolve, (21,))
    second, _ = watch.update(T0 + 1, None, _waiting(waits), XACTS, answers=answers)
    assert second.unresolved == 5
    assert watch.resolve == ()


def test_no_waiter_no_graph() -> None:
    watch = LockWatch()
    blocking, waits = watch.update(T0, ([], []), {}, {})
    assert (blocking.blocked_by, waits, watch.read_due, watch.holding) == ({}, (), True, False)
