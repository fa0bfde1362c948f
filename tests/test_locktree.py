"""The blocking tree from plain Backend records: chains, fan-out, cycles, multiple blockers."""

from __future__ import annotations

import pytest

from pgtop.collect.locktree import Wait, build_tree, count_waits
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
