"""pgtop.plan on plans recorded from real servers (tests/plans/*.json, see record.py there).

Every expected figure is computed by hand from the numbers in the recorded file, with the
arithmetic in a comment, never read back from the function under test.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgtop.plan import (
    Band,
    Node,
    Plan,
    PlanError,
    costliest,
    findings,
    misestimate_band,
    parse_plan,
    slowest,
    time_band,
    worst_misestimate,
)

PLANS = Path(__file__).parent / "plans"
RECORDED = sorted(PLANS.glob("*.json"))


def load(name: str) -> Plan:
    return parse_plan((PLANS / f"{name}.json").read_text())


def by_label(plan: Plan, label: str) -> Node:
    matches = [n for n in plan.nodes if n.label == label]
    assert len(matches) == 1, [n.label for n in plan.nodes]
    return matches[0]


def approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-9)


def test_the_module_is_pure() -> None:
    code = (
        "import sys, pgtop.plan; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'psycopg', 'rich', 'pgtop')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['pgtop', 'pgtop.plan', 'pgtop.units']"


# --------------------------------------------------------------------------- every recording


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_every_recorded_plan_reads_and_its_exclusive_times_add_up(path: Path) -> None:
    raw = path.read_text()
    plan = parse_plan(raw)
    assert plan == parse_plan(json.loads(raw)), "text and parsed list give the same plan"
    assert [n.node_id for n in plan.nodes] == list(range(len(plan.nodes)))
    assert list(plan.root.walk()) == list(plan.nodes)
    assert all(n.label and n.operation for n in plan.nodes)
    if plan.timed:
        # conservation: what each node did alone adds up to what the root did (no floor hit
        # in these recordings), CTEs and InitPlans counted once
        total = sum(n.exclusive_ms or 0.0 for n in plan.nodes)
        assert total == pytest.approx(plan.root.time_ms, abs=1e-6)
    else:
        assert all(n.time_ms is None and n.exclusive_ms is None for n in plan.nodes)


def test_recordings_come_from_both_majors() -> None:
    majors = {p.stem.rsplit("-pg", 1)[1] for p in RECORDED}
    assert {"15", "18"} <= majors


# --------------------------------------------------------------------------- loops


def test_nested_loop_multiplies_by_loops() -> None:
    plan = load("nested_loop-pg15")
    loop, tellers, accounts = plan.nodes
    assert loop.operation == "Nested Loop"
    assert accounts.label == "Index Scan using pgbench_accounts_pkey on pgbench_accounts a"
    assert tellers.label == "Seq Scan on pgbench_tellers t"
    # Index Scan: 0.002 ms per loop × 10 loops = 0.02 ms; 1 row per loop × 10 = 10 rows
    assert accounts.loops == 10
    assert accounts.time_ms == approx(0.02)
    assert accounts.actual_rows_total == approx(10.0)
    assert accounts.estimated_rows_total == approx(10.0)  # 1 planned per loop × 10
    assert accounts.exclusive_ms == approx(0.02)
    # Nested Loop: 0.032 − 0.010 (Seq Scan) − 0.020 (Index Scan) = 0.002
    assert loop.exclusive_ms == approx(0.002)
    # share: 0.020 / 0.042 (Execution Time) = 0.476 → above 40 %: HIGH
    assert accounts.share == approx(0.02 / 0.042)
    assert accounts.time_band is Band.HIGH
    # buffers are totals already: Nested Loop 31 − 1 − 30 = 0 of its own
    assert loop.buffers is not None
    assert loop.buffers.shared_hit == 31
    assert loop.exclusive_buffers is not None
    assert loop.exclusive_buffers.shared_hit == 0
    assert accounts.exclusive_buffers is not None
    assert accounts.exclusive_buffers.shared_hit == 30
    assert accounts.misestimate == 1.0
    assert accounts.misestimate_direction is None
    assert slowest(plan) is accounts
    assert worst_misestimate(plan) is None
    assert plan.setting("enable_hashjoin") == "off"


def test_nested_loop_pg18_fractional_rows() -> None:
    plan = load("nested_loop-pg18")
    loop, tellers, accounts = plan.nodes
    # 0.030 − 0.004 − 0.002 × 10 = 0.006
    assert loop.exclusive_ms == approx(0.006)
    assert accounts.actual_rows == 1.0
    assert accounts.actual_rows_total == approx(10.0)
    # I/O timing from PostgreSQL 17 comes as "Shared I/O Read Time" (0.0 here)
    assert loop.buffers is not None
    assert loop.buffers.io_read_ms == 0.0


# --------------------------------------------------------------------------- parallel


def test_parallel_divides_by_workers_plus_leader() -> None:
    plan = load("parallel-pg15")
    finalize, gather, partial, join, scan, hash_, index = plan.nodes
    assert [n.operation for n in plan.nodes] == [
        "Finalize Aggregate",
        "Gather",
        "Partial Aggregate",
        "Parallel Hash Join",
        "Parallel Seq Scan",
        "Parallel Hash",
        "Parallel Index Only Scan",
    ]
    assert (gather.workers_planned, gather.workers_launched) == (2, 2)
    assert gather.gather_workers == 0
    assert finalize.gather_workers == 0
    assert {n.gather_workers for n in (partial, join, scan, hash_, index)} == {2}
    # under the Gather: per-loop time × 3 loops ÷ (2 workers + 1) = the per-loop time
    assert partial.time_ms == approx(42.119 * 3 / 3)
    assert scan.time_ms == approx(12.425 * 3 / 3)
    # Gather: 55.443 − 42.119 = 13.324; Finalize: 55.448 − 55.443 = 0.005
    assert gather.exclusive_ms == approx(55.443 - 42.119)
    assert finalize.exclusive_ms == approx(55.448 - 55.443)
    # Partial Aggregate: 42.119 − 38.560 = 3.559
    assert partial.exclusive_ms == approx(42.119 - 38.56)
    # Hash Join: 38.560 − 12.425 (Seq Scan) − 15.009 (Hash) = 11.126
    assert join.exclusive_ms == approx(38.56 - 12.425 - 15.009)
    # Hash: 15.009 − 6.709 = 8.300
    assert hash_.exclusive_ms == approx(15.009 - 6.709)
    # rows over all processes: 33,333 per loop × 3 loops; removed 33,333 × 3
    assert scan.actual_rows_total == approx(99999.0)
    assert scan.rows_removed_by_filter == approx(99999.0)
    # estimate 41,602 per loop against 33,333: over by 41602 / 33333 = 1.248
    assert scan.misestimate == approx(41602 / 33333)
    assert scan.misestimate_direction == "over"
    assert [w.number for w in partial.workers] == [0, 1]
    assert partial.workers[0].actual_total_ms == 45.571
    assert partial.workers[0].buffers is not None
    assert partial.workers[0].buffers.shared_hit == 520
    # exclusive share: the Gather, 13.324 of 55.482 ms = 24 %
    assert gather.share == approx((55.443 - 42.119) / 55.482)
    assert slowest(plan) is gather


def test_parallel_pg18_fractional_rows_scale_by_loops() -> None:
    plan = load("parallel-pg18")
    join = by_label(plan, "Parallel Hash Join")
    scan = by_label(plan, "Parallel Seq Scan on pairs p")
    # 16,666.67 rows per loop × 3 loops = 50,000.01; 33,333.33 × 3 = 99,999.99
    assert join.actual_rows_total == pytest.approx(50000.01)
    assert scan.actual_rows_total == pytest.approx(99999.99)
    # estimate 21,193 against 16,666.67: over by 1.2716
    assert join.misestimate == pytest.approx(21193 / 16666.67)
    # Hash Join: 26.898 − 9.230 − 11.053 = 6.615
    assert join.exclusive_ms == approx(26.898 - 9.23 - 11.053)


# --------------------------------------------------------------------------- CTEs


def test_cte_time_is_counted_where_it_is_defined() -> None:
    plan = load("cte-pg15")
    aggregate, cte, merge, sort_x, scan_x, sort_y, scan_y = plan.nodes
    assert cte.subplan_name == "CTE top"
    assert cte.parent_relationship == "InitPlan"
    assert scan_x.label == "CTE Scan on top x"
    assert scan_y.label == "CTE Scan on top y"
    assert cte.exclusive_ms == approx(0.719)
    # the root does not give the CTE back (it ran inside the scans): 5.051 − 4.799 = 0.252
    assert aggregate.exclusive_ms == approx(5.051 - 4.799)
    # each scan gives back the CTE's 0.719 ms in proportion to its own time:
    # x: 1.862 − 0.719 × 1.862 / (1.862 + 0.355) = 1.862 − 0.60387 = 1.25813
    # y: 0.355 − 0.719 × 0.355 / 2.217 = 0.355 − 0.11513 = 0.23987
    assert scan_x.exclusive_ms == approx(1.862 - 0.719 * 1.862 / 2.217)
    assert scan_y.exclusive_ms == approx(0.355 - 0.719 * 0.355 / 2.217)
    # Sorts: 2.669 − 1.862 = 0.807 and 0.906 − 0.355 = 0.551; Merge Join: 4.799 − 2.669 − 0.906
    assert sort_x.exclusive_ms == approx(0.807)
    assert sort_y.exclusive_ms == approx(0.551)
    assert merge.exclusive_ms == approx(4.799 - 2.669 - 0.906)
    # the CTE's 97 blocks are the CTE's: scan x read all 97 through it (y none), nobody else
    # counts them again
    exclusive = {n.node_id: n.exclusive_buffers for n in plan.nodes}
    assert exclusive[cte.node_id] is not None
    assert exclusive[cte.node_id].shared_hit == 97
    assert all(
        b is not None and b.shared_hit == 0 for i, b in exclusive.items() if i != cte.node_id
    )
    # Merge Join: 118,536 estimated against 4,999: over by 118536 / 4999 = 23.71 (NOTABLE)
    assert merge.misestimate == approx(118536 / 4999)
    assert merge.misestimate_band is Band.NOTABLE
    assert worst_misestimate(plan) is merge


def test_cte_pg18_blocks_split_by_what_each_scan_read() -> None:
    plan = load("cte-pg18")
    scan_x = by_label(plan, "CTE Scan on top x")
    scan_y = by_label(plan, "CTE Scan on top y")
    # x read 3 of the CTE's 97 blocks, y 94 (the hash built first): 3 − 97 × 3/97 = 0, etc.
    assert scan_x.buffers is not None
    assert scan_x.buffers.shared_hit == 3
    assert scan_y.buffers is not None
    assert scan_y.buffers.shared_hit == 94
    assert scan_x.exclusive_buffers is not None
    assert scan_x.exclusive_buffers.shared_hit == 0
    assert scan_y.exclusive_buffers is not None
    assert scan_y.exclusive_buffers.shared_hit == 0
    # time: x 0.273 − 0.652 × 0.273 / (0.273 + 1.640); y 1.640 − 0.652 × 1.640 / 1.913
    assert scan_x.exclusive_ms == approx(0.273 - 0.652 * 0.273 / 1.913)
    assert scan_y.exclusive_ms == approx(1.64 - 0.652 * 1.64 / 1.913)


# --------------------------------------------------------------------------- InitPlans, SubPlans


def test_subplan_is_given_back_by_its_node_and_initplan_by_the_node_naming_it() -> None:
    for name, initplan in (("subplans-pg15", "InitPlan 2 (returns $2)"), ("subplans-pg18", None)):
        plan = load(name)
        tellers, init, _, sub, index = plan.nodes
        assert sub.subplan_name == "SubPlan 1"
        assert sub.parent_relationship == "SubPlan"
        if initplan:
            assert init.subplan_name == initplan
        if name.endswith("15"):
            # SubPlan: 0.999 ms × 10 loops = 9.99; Index Scan 0.715 × 10 = 7.15
            assert sub.time_ms == approx(9.99)
            assert sub.exclusive_ms == approx(9.99 - 7.15)
            # Seq Scan t: 10.010 − 9.990 (SubPlan) − 0.004 (InitPlan, "$2" in its filter)
            assert tellers.exclusive_ms == approx(10.01 - 9.99 - 0.004)
            # Index Scan: 5,500 rows × 10 loops; 33,333 estimated: over by 6.06
            assert index.actual_rows_total == approx(55000.0)
            assert index.misestimate == approx(33333 / 5500)
        else:
            # PostgreSQL 17+ names it "(InitPlan 2).col1": 9.396 − 0.938 × 10 − 0.004
            assert tellers.exclusive_ms == approx(9.396 - 9.38 - 0.004)


def test_initplan_run_by_a_node_below_the_one_it_hangs_on() -> None:
    for name in ("initplan_deep-pg15", "initplan_deep-pg18"):
        plan = load(name)
        group, init, _, sort, loop, tellers, index = plan.nodes
        assert group.operation == "GroupAggregate"
        assert init.parent_id == group.node_id
        if name.endswith("15"):
            # the InitPlan's 0.007 ms sit in the Seq Scan whose filter reads $0:
            # Seq Scan t 0.013 − 0.007 = 0.006; GroupAggregate 0.041 − 0.036 (Sort) = 0.005
            assert tellers.exclusive_ms == approx(0.013 - 0.007)
            assert group.exclusive_ms == approx(0.041 - 0.036)
            # blocks alike: the scan's 2 − the InitPlan's 1 = 1
            assert tellers.exclusive_buffers is not None
            assert tellers.exclusive_buffers.shared_hit == 1
        else:
            # "(InitPlan 1).col1": Seq Scan t 0.015 − 0.007 = 0.008; group 0.040 − 0.035
            assert tellers.exclusive_ms == approx(0.015 - 0.007)
            assert group.exclusive_ms == approx(0.04 - 0.035)


def test_initplan_for_parallel_workers_is_run_by_the_gather() -> None:
    plan = load("parallel_initplan-pg18")
    finalize, init, _, gather, partial, scan = plan.nodes
    # the workers' filter reads (InitPlan 1).col1, which the Gather evaluated in the leader:
    # Gather 18.391 − 13.190 − 0.012 = 5.189; the scan keeps its 10.654
    assert gather.exclusive_ms == approx(18.391 - 13.19 - 0.012)
    assert scan.exclusive_ms == approx(10.654)
    assert finalize.exclusive_ms == approx(18.405 - 18.391)
    # blocks: Gather 1,437 − 1,436 − 1 (the InitPlan's) = 0
    assert gather.exclusive_buffers is not None
    assert gather.exclusive_buffers.shared_hit == 0
    # PostgreSQL 15 prints "Params Evaluated: $0" on the Gather: same attribution
    plan15 = load("parallel_initplan-pg15")
    assert plan15.nodes[3].exclusive_ms == approx(17.209 - 9.486 - 0.009)


def test_initplan_of_a_result_is_given_back_once() -> None:
    for name, total, init_ms in (
        ("initplan_result-pg15", 7.528, 7.525),
        ("initplan_result-pg18", 7.238, 7.237),
    ):
        plan = load(name)
        result, init, scan = plan.nodes
        # Result: its time − the InitPlan's, once (its Output names it)
        assert result.exclusive_ms == approx(total - init_ms)
        assert init.parent_relationship == "InitPlan"
        # Index Only Scan: 14,285 rows against 500 estimated, under by 28.57 (NOTABLE)
        assert scan.misestimate == approx(14285 / 500)
        assert scan.misestimate_direction == "under"
        assert scan.misestimate_band is Band.NOTABLE
        # filter removed 85,715 of 100,000: not a Seq Scan, no finding
        assert findings(plan) == []


# --------------------------------------------------------------------------- spills, fetches


def test_sort_on_disk() -> None:
    plan = load("sort_disk-pg15")
    sort, scan = plan.nodes
    assert sort.sort_method == "external merge"
    assert sort.sort_space_type == "Disk"
    assert sort.sort_space_kb == 9736
    assert sort.sort_key == ("pgbench_accounts.filler DESC", "pgbench_accounts.aid")
    # 128.710 − 10.413 = 118.297 ms; of 133.620: 88.5 % → HIGH, not above 90 %
    assert sort.exclusive_ms == approx(128.71 - 10.413)
    assert sort.share == approx((128.71 - 10.413) / 133.62)
    assert sort.time_band is Band.HIGH
    assert sort.exclusive_buffers is not None
    assert sort.exclusive_buffers.temp_written == 5184
    # I/O: 1.08 ms reading the 548 blocks, all in the scan
    assert scan.exclusive_buffers is not None
    assert scan.exclusive_buffers.io_read_ms == 1.08
    assert sort.exclusive_buffers.io_read_ms == 0.0
    assert [f.text for f in findings(plan)] == [
        "Sort (pgbench_accounts): sorted on disk (external merge, 9.5 MiB); work_mem is 64kB"
    ]


def test_hash_in_batches() -> None:
    plan = load("hash_batches-pg15")
    aggregate, join, outer, hash_, inner = plan.nodes
    assert (hash_.hash_batches, hash_.original_hash_batches) == (64, 64)
    assert hash_.peak_memory_kb == 89
    # Hash Join: 172.429 − 8.414 − 75.305 = 88.710; Hash: 75.305 − 8.560 = 66.745
    assert join.exclusive_ms == approx(172.429 - 8.414 - 75.305)
    assert hash_.exclusive_ms == approx(75.305 - 8.56)
    # temp blocks: the join wrote 630 in all, 252 of them while building the hash
    assert join.exclusive_buffers is not None
    assert join.exclusive_buffers.temp_written == 378
    (finding,) = findings(plan)
    assert finding.kind == "hash_spill"
    assert finding.node_id == hash_.node_id
    assert (
        finding.text == "Hash (pgbench_accounts b): hashed in 64 batches on disk; work_mem is 64kB"
    )


def test_hash_aggregate_on_disk() -> None:
    plan = load("hashagg_disk-pg15")
    agg = plan.root
    assert agg.operation == "HashAggregate"
    assert (agg.hashagg_batches, agg.disk_usage_kb) == (85, 3464)
    # 100,000 estimated groups against 50,000: over by 2
    assert agg.misestimate == approx(2.0)
    assert [f.text for f in findings(plan)] == [
        "HashAggregate (pgbench_accounts): aggregated in 85 batches, 3.4 MiB on disk; "
        "work_mem is 64kB"
    ]


def test_index_only_scan_with_heap_fetches() -> None:
    plan = load("index_only-pg15")
    scan = plan.root
    assert scan.label == "Index Only Scan using ios_pkey on ios"
    assert scan.heap_fetches == 5000.0
    assert scan.conditions == (("Index Cond", "(ios.id <= 5000)"),)
    assert [f.text for f in findings(plan)] == [
        "Index Only Scan using ios_pkey on ios: 5,000 heap fetches for 5,000 rows (100%), "
        "the visibility map lags: VACUUM ios"
    ]


def test_seq_scan_filter_and_misestimate() -> None:
    plan = load("misestimate-pg15")
    scan = plan.root
    # 199,800 removed of 199,800 + 200 = 200,000 read: 99.9 %
    assert scan.rows_removed_by_filter == 199800.0
    assert scan.removed_share == approx(199800 / 200000)
    # 200 rows against 1 estimated: under by 200 → HIGH (above 100, not above 1000)
    assert scan.misestimate == approx(200.0)
    assert scan.misestimate_direction == "under"
    assert scan.misestimate_band is Band.HIGH
    assert worst_misestimate(plan) is scan
    assert [(f.kind, f.text) for f in findings(plan)] == [
        (
            "filter",
            "Seq Scan on pairs: the filter removed 199,800 of the 200,000 rows read (99.9%)",
        ),
        ("misestimate", "Seq Scan on pairs: rows under-estimated 200x (1 estimated, 200 actual)"),
    ]


def test_never_executed_node() -> None:
    plan = load("never_executed-pg15")
    loop, tellers, accounts = plan.nodes
    assert accounts.never_executed
    assert accounts.loops == 0
    assert accounts.time_ms == 0.0
    assert accounts.exclusive_ms == 0.0
    assert accounts.misestimate is None  # never ran: no estimate error
    assert accounts.actual_rows_total == 0.0
    # PEV2: 0 rows against an estimate of 1 is an infinite over-estimate (CRITICAL) …
    assert loop.misestimate == math.inf
    assert loop.misestimate_direction == "over"
    assert loop.misestimate_band is Band.CRITICAL
    # … but counting 0 as 1 row there is nothing to look at
    assert worst_misestimate(plan) is None
    assert findings(plan) == []


# --------------------------------------------------------------------------- JIT, triggers


def test_jit_taking_most_of_the_execution() -> None:
    plan = load("jit-pg15")
    jit = plan.jit
    assert jit is not None
    assert jit.functions == 5
    assert (jit.generation_ms, jit.inlining_ms, jit.optimization_ms, jit.emission_ms) == (
        0.262,
        8.888,
        28.311,
        15.852,
    )
    assert jit.total_ms == 53.312
    assert jit.deform_ms is None
    assert dict(jit.options) == {
        "Inlining": True,
        "Optimization": True,
        "Expressions": True,
        "Deforming": True,
    }
    # 53.312 / 62.464 = 85.3 %
    assert plan.jit_share == approx(53.312 / 62.464)
    assert [f.text for f in findings(plan)] == [
        "JIT compilation took 53.31 ms of the 62.46 ms execution (85%, 5 functions)"
    ]


def test_triggers_and_wal() -> None:
    plan = load("triggers-pg15")
    (trigger,) = plan.triggers
    assert trigger.name == "RI_ConstraintTrigger_c_16495"
    assert (trigger.constraint, trigger.relation) == ("child_aid_fkey", "child")
    assert (trigger.time_ms, trigger.calls) == (2.542, 500)
    insert = plan.root
    assert insert.operation == "Insert"
    assert insert.label == "Insert on child"
    assert (insert.wal_records, insert.wal_fpi, insert.wal_bytes) == (1016, 0, 65745)
    # 0 rows planned, 0 returned: exact
    assert insert.misestimate == 1.0
    # 2.542 / 3.620 = 70.2 %
    assert [f.text for f in findings(plan)] == [
        "Trigger RI_ConstraintTrigger_c_16495 on child took 2.54 ms (70% of execution, 500 calls)"
    ]
    assert plan.planning_ms == 0.017
    assert plan.planning_buffers is not None
    assert plan.planning_buffers.shared_hit == 0
    assert plan.execution_buffers == insert.buffers
    assert plan.query_id == 3074752543250069109


# --------------------------------------------------------------------------- without timing


def test_timing_off_has_rows_but_no_times() -> None:
    plan = load("timing_off-pg18")
    assert plan.analyzed
    assert not plan.timed
    assert plan.execution_ms == 0.024
    loop, tellers, index = plan.nodes
    assert index.loops == 10
    assert index.actual_rows_total == approx(10.0)
    assert all(n.time_ms is None and n.exclusive_ms is None and n.share is None for n in plan.nodes)
    assert index.actual_total_ms is None
    assert index.misestimate == 1.0
    assert slowest(plan) is None
    # blocks still attribute: Nested Loop 22 − 1 − 21 = 0
    assert loop.exclusive_buffers is not None
    assert loop.exclusive_buffers.shared_hit == 0


@pytest.mark.parametrize("name", ["plain-pg15", "plain-pg18"])
def test_plain_explain_leaves_actuals_unknown(name: str) -> None:
    plan = load(name)
    assert not plan.analyzed
    assert not plan.timed
    assert plan.execution_ms is None
    assert plan.planning_ms is None
    assert plan.duration_ms is None
    for node in plan.nodes:
        for field in (
            "loops",
            "actual_rows",
            "actual_rows_total",
            "actual_startup_ms",
            "actual_total_ms",
            "time_ms",
            "exclusive_ms",
            "share",
            "misestimate",
            "misestimate_direction",
            "estimated_rows_total",
            "heap_fetches",
            "buffers",
            "exclusive_buffers",
        ):
            assert getattr(node, field) is None, (node.label, field)
        assert not node.never_executed
        assert node.time_band is Band.NONE
    assert slowest(plan) is None
    assert worst_misestimate(plan) is None
    assert findings(plan) == []
    assert plan.setting("enable_hashjoin") == "off"
    group = plan.root
    assert group.operation == "GroupAggregate"
    assert group.output == ("t.tid", "count(*)")
    if name.endswith("15"):
        # PEV2's exclusive cost: 545.55 − 1.14 (InitPlan) − 319.52 (Sort) = 224.89, the CTE's
        # 224.50 aside; the costliest node
        assert group.exclusive_cost == approx(545.55 - 1.14 - 319.52)
        assert costliest(plan) is group
        assert plan.nodes[2].subplan_name == "InitPlan 2 (returns $1)"


# --------------------------------------------------------------------------- bands


@pytest.mark.parametrize(
    ("share", "band"),
    [
        (None, Band.NONE),
        (0.0, Band.NONE),
        (0.10, Band.NONE),  # PEV2: strictly above 10 %
        (0.1001, Band.NOTABLE),
        (0.40, Band.NOTABLE),
        (0.41, Band.HIGH),
        (0.90, Band.HIGH),
        (0.95, Band.CRITICAL),
        (1.0, Band.CRITICAL),
    ],
)
def test_time_bands(share: float | None, band: Band) -> None:
    assert time_band(share) is band


@pytest.mark.parametrize(
    ("factor", "band"),
    [
        (None, Band.NONE),
        (math.nan, Band.NONE),
        (1.0, Band.NONE),
        (10.0, Band.NONE),
        (10.5, Band.NOTABLE),
        (100.0, Band.NOTABLE),
        (101.0, Band.HIGH),
        (1000.0, Band.HIGH),
        (1000.5, Band.CRITICAL),
        (math.inf, Band.CRITICAL),
    ],
)
def test_misestimate_bands(factor: float | None, band: Band) -> None:
    assert misestimate_band(factor) is band


# --------------------------------------------------------------------------- hand-made plans


def node(node_type: str, **keys: Any) -> dict[str, Any]:
    return {"Node Type": node_type, **keys}


def analyzed(
    node_type: str, total: float, rows: float, plan_rows: float, **keys: Any
) -> dict[str, Any]:
    return node(
        node_type,
        **{
            "Plan Rows": plan_rows,
            "Actual Startup Time": 0.0,
            "Actual Total Time": total,
            "Actual Rows": rows,
            "Actual Loops": keys.pop("loops", 1),
            **keys,
        },
    )


@pytest.mark.parametrize(
    ("actual", "estimated", "factor", "direction"),
    [
        (0, 5, math.inf, "over"),  # PEV2: plan / 0
        (3, 0, math.inf, "under"),  # PEV2: 3 / 0
        (0, 0, 1.0, None),
        (50, 5, 10.0, "under"),
        (5, 50, 10.0, "over"),
        (0.5, 1, 2.0, "over"),  # PostgreSQL 18 fractional rows
    ],
)
def test_zero_rows(actual: float, estimated: float, factor: float, direction: str | None) -> None:
    plan = parse_plan({"Plan": analyzed("Seq Scan", 1.0, actual, estimated)})
    assert plan.root.misestimate == factor
    assert plan.root.misestimate_direction == direction


def test_misestimate_finding_counts_zero_as_one_row() -> None:
    doc = {
        "Plan": analyzed(
            "Hash Join",
            5.0,
            0,
            5000,
            Plans=[
                analyzed("Seq Scan", 1.0, 0, 1, **{"Relation Name": "a"}),
                analyzed("Seq Scan", 2.0, 3, 1, **{"Relation Name": "b"}),
            ],
        ),
        "Execution Time": 5.0,
    }
    plan = parse_plan(doc)
    join, scan_a, _ = plan.nodes
    assert scan_a.misestimate == math.inf  # 0 rows against 1: PEV2's infinity …
    assert worst_misestimate(plan) is join  # … but 5,000 against 0 is the one that matters
    assert [f.text for f in findings(plan)] == [
        "Hash Join (a): rows over-estimated 5,000x (5,000 estimated, 0 actual)"
    ]


def test_missing_keys_degrade() -> None:
    plan = parse_plan({"Plan": {"Plans": [{}]}})
    root, child = plan.nodes
    assert root.node_type == "Unknown"
    assert root.label == "Unknown"
    assert root.total_cost is None
    assert root.estimated_rows is None
    assert root.buffers is None
    assert root.workers == ()
    assert root.output is None
    assert not plan.analyzed
    assert plan.jit is None
    assert plan.triggers == ()
    assert plan.settings == ()
    assert child.parent_id == 0
    assert child.depth == 1
    assert costliest(plan) is None
    assert findings(plan) == []


def test_unknown_types_and_keys_are_kept_as_text() -> None:
    raw = analyzed(
        "Frobnicate Scan",
        1.0,
        10,
        10,
        Alias="f",
        Frobs=3,
        Flags=["a", "b"],
        Mode={"x": True},
        Parallel=True,
    )
    raw["Actual Rows"] = "10"  # a string where a number belongs: unknown, not a crash
    raw["Total Cost"] = True  # a bool is not a number
    plan = parse_plan({"Plan": raw, "Frob Time": 1.5})
    scan = plan.root
    assert scan.label == "Frobnicate Scan on f"
    assert scan.actual_rows is None
    assert scan.misestimate is None
    assert scan.total_cost is None
    assert ("Frobs", "3") in scan.details
    assert ("Flags", "a, b") in scan.details
    assert ("Mode", '{"x": true}') in scan.details
    assert ("Parallel", "true") in scan.details
    assert plan.details == (("Frob Time", "1.5"),)


def test_pg17_jit_and_io_shapes() -> None:
    doc = {
        "Plan": node(
            "Seq Scan",
            **{
                "Relation Name": "t",
                "Shared Hit Blocks": 1,
                "Shared I/O Read Time": 1.5,
                "Local I/O Read Time": 0.25,
                "Temp I/O Read Time": 2.0,
            },
        ),
        "JIT": {
            "Functions": 3,
            "Timing": {"Generation": {"Deform": 0.1, "Total": 0.4}, "Total": 4.0},
        },
        "Serialization": {"Time": 0.3, "Output Volume": 12, "Format": "text"},
    }
    plan = parse_plan(doc)
    assert plan.root.buffers is not None
    assert plan.root.buffers.io_read_ms == 1.75  # shared 1.5 + local 0.25
    assert plan.root.buffers.temp_io_read_ms == 2.0
    assert plan.root.buffers.io_write_ms is None  # the server did not say
    assert plan.jit is not None
    assert (plan.jit.generation_ms, plan.jit.deform_ms, plan.jit.total_ms) == (0.4, 0.1, 4.0)
    assert plan.serialization_ms == 0.3


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (node("Hash Join", **{"Join Type": "Left"}), "Hash Left Join"),
        (node("Hash Join", **{"Join Type": "Inner"}), "Hash Join"),
        (node("Nested Loop", **{"Join Type": "Anti"}), "Nested Loop Anti Join"),
        (node("Merge Join", **{"Join Type": "Right Semi"}), "Merge Right Semi Join"),
        (node("Aggregate", Strategy="Mixed", **{"Partial Mode": "Simple"}), "MixedAggregate"),
        (node("SetOp", Strategy="Hashed"), "HashSetOp"),
        (node("ModifyTable", Operation="Update", **{"Relation Name": "t"}), "Update on t"),
        (
            node(
                "Index Scan",
                **{
                    "Scan Direction": "Backward",
                    "Index Name": "t_pkey",
                    "Relation Name": "t",
                    "Schema": "app",
                    "Alias": "x",
                },
            ),
            "Index Scan Backward using t_pkey on app.t x",
        ),
        (
            node("Seq Scan", **{"Relation Name": "t", "Schema": "public", "Alias": "t"}),
            "Seq Scan on t",
        ),
        (node("Bitmap Index Scan", **{"Index Name": "t_idx"}), "Bitmap Index Scan on t_idx"),
        (
            node("Function Scan", **{"Function Name": "generate_series", "Alias": "g"}),
            "Function Scan on generate_series g",
        ),
        (node("Subquery Scan", Alias="sub"), "Subquery Scan on sub"),
        (node("Custom Scan", **{"Custom Plan Provider": "Citus"}), "Custom Scan (Citus)"),
        (
            node("Append", **{"Parallel Aware": True, "Async Capable": False}),
            "Parallel Append",
        ),
    ],
)
def test_labels(raw: dict[str, Any], label: str) -> None:
    assert parse_plan({"Plan": raw}).root.label == label


def test_initplan_named_twice_is_given_back_once() -> None:
    # InitPlan 1 hangs on the Hash Join; both scans' filters read $0: it ran in one of them
    doc = {
        "Plan": analyzed(
            "Hash Join",
            10.0,
            1,
            1,
            Plans=[
                analyzed(
                    "Aggregate",
                    4.0,
                    1,
                    1,
                    **{
                        "Parent Relationship": "InitPlan",
                        "Subplan Name": "InitPlan 1 (returns $0)",
                    },
                ),
                analyzed(
                    "Seq Scan", 6.0, 1, 1, Filter="(a > $0)", **{"Parent Relationship": "Outer"}
                ),
                analyzed("Hash", 1.0, 1, 1, Filter="(b > $0)", **{"Parent Relationship": "Inner"}),
            ],
        ),
        "Execution Time": 10.0,
    }
    plan = parse_plan(doc)
    join, init, outer, inner = plan.nodes
    # the busier scan (6 ms) ran it: 6 − 4 = 2; the Hash keeps its 1; the join 10 − 6 − 1 = 3
    assert outer.exclusive_ms == 2.0
    assert inner.exclusive_ms == 1.0
    assert join.exclusive_ms == 3.0
    assert init.exclusive_ms == 4.0
    # $10 is not $1: names match whole
    doc2 = copy.deepcopy(doc)
    doc2["Plan"]["Plans"][1]["Filter"] = "(a > $01)"
    doc2["Plan"]["Plans"][2]["Filter"] = "(b > $00)"
    plan2 = parse_plan(doc2)
    # nobody names $0: the node it hangs on gave it back (10 − 6 − 1 − 4 = −1, floored at 0)
    assert plan2.nodes[0].exclusive_ms == 0.0
    assert plan2.nodes[2].exclusive_ms == 6.0


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("EXPLAIN what?", "not a JSON plan"),
        ("", "not a JSON plan"),
        (b"\xff\xfe", "not a JSON plan"),
        ("[]", "an empty list"),
        ([1], "a JSON int"),
        ({"plan": {}}, 'no "Plan" key'),
        ({"Plan": 3}, '"Plan" is not an object'),
        ({"Plan": {"Node Type": "Seq Scan", "Plans": {}}}, '"Plans" of node 0 is not a list'),
        ({"Plan": {"Node Type": "Seq Scan", "Plans": ["x"]}}, "is not an object"),
        ("[" * 100_000 + "]" * 100_000, "not a JSON plan"),
    ],
)
def test_malformed_documents_raise_one_line(doc: object, message: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(doc)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_very_deep_plan_does_not_exhaust_the_stack() -> None:
    leaf: dict[str, Any] = node("Result")
    for _ in range(5000):
        leaf = node("Materialize", Plans=[leaf])
    plan = parse_plan({"Plan": leaf})
    assert len(plan.nodes) == 5001
    assert plan.nodes[-1].depth == 5000
    assert sum(1 for _ in plan.root.walk()) == 5001


def test_a_sort_spilled_by_a_worker_only() -> None:
    worker = {"Worker Number": 1, "Sort Method": "external merge", "Sort Space Used": 2048}
    worker["Sort Space Type"] = "Disk"
    doc = {
        "Plan": analyzed(
            "Sort",
            3.0,
            10,
            10,
            **{"Sort Method": "quicksort", "Sort Space Type": "Memory", "Sort Space Used": 25},
            Workers=[worker],
            Plans=[analyzed("Seq Scan", 1.0, 10, 10, **{"Relation Name": "t"})],
        ),
        "Execution Time": 3.0,
    }
    plan = parse_plan(doc)
    (w,) = plan.root.workers
    assert (w.number, w.sort_method, w.sort_space_kb, w.sort_space_type) == (
        1,
        "external merge",
        2048,
        "Disk",
    )
    assert [f.text for f in findings(plan)] == ["Sort (t): sorted on disk (external merge, 2 MiB)"]


# --------------------------------------------------------------------------- anything at all

_KEYS = [
    "Node Type", "Parent Relationship", "Subplan Name", "CTE Name", "Relation Name", "Alias",
    "Index Name", "Join Type", "Strategy", "Partial Mode", "Parallel Aware", "Plan Rows",
    "Total Cost", "Actual Rows", "Actual Loops", "Actual Total Time", "Workers Launched",
    "Filter", "Output", "Rows Removed by Filter", "Heap Fetches", "Shared Hit Blocks",
    "I/O Read Time", "Hash Batches", "Sort Space Type", "Workers", "Plans", "Frob",
]  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        ["InitPlan", "SubPlan", "CTE x", "x", "InitPlan 1 (returns $0)", "(x > $0)", "Disk"]
    )
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_NODES: st.SearchStrategy[dict[str, Any]] = st.deferred(
    lambda: st.builds(
        lambda fields, kids: {**fields, **({"Plans": kids} if kids is not None else {})},
        st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8),
        st.none() | st.lists(_NODES, max_size=3),
    )
)


@settings(max_examples=150, deadline=None)
@given(
    root=_NODES,
    top=st.dictionaries(
        st.sampled_from(["Execution Time", "Planning Time", "JIT", "Triggers", "Settings"]),
        _VALUES,
    ),
)
def test_any_document_reads_or_raises_plan_error(root: dict[str, Any], top: dict[str, Any]) -> None:
    try:
        plan = parse_plan({"Plan": root, **top})
    except PlanError as exc:
        message = str(exc)
        plan = None
    else:
        message = ""
    assert "\n" not in message
    if plan is None:
        return
    for node in plan.nodes:
        assert node.exclusive_ms is None or node.exclusive_ms >= 0.0
        assert node.label
    findings(plan)
    slowest(plan)
    worst_misestimate(plan)
    costliest(plan)


def test_plain_explain_names_a_filtered_seq_scan_as_the_costliest_node() -> None:
    """Without ANALYZE nothing is measured: the costliest node, a Seq Scan testing every row
    against a filter (a lookup whose index was dropped), is the finding; an index scan is not."""
    from pgtop.plan import costliest, findings, parse_plan

    doc = [
        {
            "Plan": {
                "Node Type": "Seq Scan",
                "Relation Name": "pgbench_accounts",
                "Alias": "pgbench_accounts",
                "Startup Cost": 0.0,
                "Total Cost": 2890.0,
                "Plan Rows": 1,
                "Plan Width": 97,
                "Filter": "(aid = $1)",
            }
        }
    ]
    plan = parse_plan(doc)
    node = costliest(plan)
    assert node is not None
    assert node.node_type == "Seq Scan"
    (finding,) = findings(plan)
    assert finding.kind == "filtered_scan"
    assert finding.text.startswith(
        "Seq Scan on pgbench_accounts is the costliest node: it reads every row and tests it "
        "against Filter (aid = $1); the planner expects 1 to match"
    )
    doc[0]["Plan"] |= {"Node Type": "Index Scan", "Index Name": "pgbench_accounts_pkey"}
    assert findings(parse_plan(doc)) == []
