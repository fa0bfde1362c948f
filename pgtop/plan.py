"""EXPLAIN (FORMAT JSON) plans as typed, frozen records with their derived figures. Pure.

`parse_plan` takes what the server sent — the list psycopg returns for a json column, the
object auto_explain logs, or the JSON text — and returns a `Plan`: the node tree (`Node`, in the
server's order, InitPlans / SubPlans / CTEs included where the server put them) with each node's
figures derived the way dalibo/PEV2 derives them (`src/services/plan-service.ts`,
`src/node.ts`), plus the document's planning / execution / JIT / triggers / settings.
`slowest`, `worst_misestimate`, `costliest` pick a node; `findings` lists what a DBA would look
at first, one line each.

Units: times in milliseconds (the server's unit), sizes in kB (the server's unit), blocks in
8 kB pages, shares as fractions (0.42 = 42 %). `None` means "the server did not say" — a plain
EXPLAIN has no actual rows, a `TIMING OFF` one no times — never zero.

The maths (PEV2's, except where a comment says otherwise):

- inclusive time of a node = Actual Total Time × Actual Loops ÷ (workers launched by the
  enclosing Gather + 1): the server reports the mean per loop, and under a Gather the loops
  of every process (workers and leader) are counted, so the division gives wall-clock time;
- exclusive time = inclusive − the inclusive time of what ran inside it, floored at 0:
  * ordinary children and SubPlans: subtracted from the node they hang on;
  * a CTE (InitPlan "CTE name"): it runs when its CTE Scans pull rows, so its time sits inside
    those scans; each scan gives back a part of the CTE's time in proportion to its own time.
    The CTE's own nodes keep theirs: the time is counted where the CTE is defined, once;
  * an InitPlan: it runs when an expression first needs its value, inside the node that
    evaluates that expression; its time is subtracted from that node (the one whose
    expressions name "$n" / "(InitPlan n)", the busiest if several; the Gather above it when
    that node runs in workers, as the Gather evaluates such params in the leader), or from the
    node it hangs on when no expression names it (a Result's target list without VERBOSE).
    PEV2 subtracts it from every node naming it and from nothing else (a Result excepted),
    which may count it twice or leave it in the parent; here it is subtracted exactly once;
  * so the exclusive times add up to the root's inclusive time (floors aside);
- exclusive buffers: the same attribution, a CTE's blocks split among its scans in
  proportion to each scan's own count (PEV2 keeps a SubPlan's, InitPlan's or CTE's blocks in
  its parent too, counting them twice);
- share of execution = exclusive ÷ Execution Time (the root's time without it);
- misestimate = actual rows ÷ estimated rows per loop when under-estimated, the inverse when
  over-estimated; 0 rows against a non-zero estimate is an infinite factor (PEV2);
- rows and rows removed by a filter / join filter / index recheck × loops (the server reports
  per-loop means); Heap Fetches is already a total (explain.c prints ntuples2 as is);
- bands (PEV2 node.ts): share of execution above 10 / 40 / 90 %, misestimate above 10 / 100 /
  1000×.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from pgtop import units

__all__ = [
    "MISESTIMATE_BANDS",
    "TIME_BANDS",
    "Band",
    "Buffers",
    "Finding",
    "Jit",
    "Node",
    "Plan",
    "PlanError",
    "Trigger",
    "Worker",
    "costliest",
    "findings",
    "misestimate_band",
    "parse_plan",
    "slowest",
    "time_band",
    "worst_misestimate",
]


class PlanError(ValueError):
    """The document is not an EXPLAIN (FORMAT JSON) plan; the message is one line."""


# --------------------------------------------------------------------------- bands

TIME_BANDS = (0.10, 0.40, 0.90)  # share of execution; PEV2 node.ts durationClass (> 10/40/90 %)
MISESTIMATE_BANDS = (10.0, 100.0, 1000.0)  # factor; PEV2 node.ts estimationClass (> 10/100/1000)

# what findings() reports (the bands above colour nodes; these pick the lines worth reading)
FILTER_REMOVED_SHARE = 0.90  # a Seq Scan whose filter removed at least 90 % of the rows read …
FILTER_REMOVED_MIN = 1000  # … and at least this many rows
MISESTIMATE_FINDING = 100.0  # a row estimate off by 100x or more
MISESTIMATE_FINDINGS_MAX = 3  # the worst three: an error propagates up the tree
HEAP_FETCH_SHARE = 0.40  # heap fetches above 40 % of the rows read (PEV2's c-3 band) …
HEAP_FETCH_MIN = 100  # … and at least this many
JIT_SHARE = 0.25  # JIT compilation at least a quarter of the execution time
TRIGGER_SHARE = 0.10  # a trigger at least a tenth of the execution time


class Band(IntEnum):
    """How loudly to draw a figure; PEV2's c-2 / c-3 / c-4 classes. Ordered: max() is worst."""

    NONE = 0
    NOTABLE = 1
    HIGH = 2
    CRITICAL = 3


def _band(value: float | None, thresholds: tuple[float, float, float]) -> Band:
    if value is None or math.isnan(value):
        return Band.NONE
    for level in (3, 2, 1):
        if value > thresholds[level - 1]:
            return Band(level)
    return Band.NONE


def time_band(share: float | None) -> Band:
    """Band of a share of execution time (0.5 = 50 %)."""
    return _band(share, TIME_BANDS)


def misestimate_band(factor: float | None) -> Band:
    """Band of a misestimate factor (always >= 1; infinite for 0 rows against an estimate)."""
    return _band(factor, MISESTIMATE_BANDS)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Buffers:
    """Blocks (8 kB pages) a node touched, and the time spent reading / writing them.

    Counts are totals over every loop and process. The I/O times are None when the server did
    not time I/O (track_io_timing off); `io_*` sum shared and local (one figure before
    PostgreSQL 17, two after), `temp_io_*` exist from PostgreSQL 15.
    """

    shared_hit: int = 0
    shared_read: int = 0
    shared_dirtied: int = 0
    shared_written: int = 0
    local_hit: int = 0
    local_read: int = 0
    local_dirtied: int = 0
    local_written: int = 0
    temp_read: int = 0
    temp_written: int = 0
    io_read_ms: float | None = None
    io_write_ms: float | None = None
    temp_io_read_ms: float | None = None
    temp_io_write_ms: float | None = None


_BLOCK_KEYS = {
    "shared_hit": "Shared Hit Blocks",
    "shared_read": "Shared Read Blocks",
    "shared_dirtied": "Shared Dirtied Blocks",
    "shared_written": "Shared Written Blocks",
    "local_hit": "Local Hit Blocks",
    "local_read": "Local Read Blocks",
    "local_dirtied": "Local Dirtied Blocks",
    "local_written": "Local Written Blocks",
    "temp_read": "Temp Read Blocks",
    "temp_written": "Temp Written Blocks",
}
_IO_KEYS = {
    "io_read_ms": ("I/O Read Time", "Shared I/O Read Time", "Local I/O Read Time"),
    "io_write_ms": ("I/O Write Time", "Shared I/O Write Time", "Local I/O Write Time"),
    "temp_io_read_ms": ("Temp I/O Read Time",),
    "temp_io_write_ms": ("Temp I/O Write Time",),
}
_BUFFER_FIELDS = tuple(_BLOCK_KEYS) + tuple(_IO_KEYS)
_BUFFER_KEYS = frozenset(_BLOCK_KEYS.values()) | frozenset(
    k for ks in _IO_KEYS.values() for k in ks
)


@dataclass(frozen=True, slots=True)
class Worker:
    """One parallel worker's own figures under a node (VERBOSE with ANALYZE)."""

    number: int | None
    actual_startup_ms: float | None
    actual_total_ms: float | None
    actual_rows: float | None
    loops: int | None
    sort_method: str | None
    sort_space_kb: int | None
    sort_space_type: str | None
    buffers: Buffers | None
    details: tuple[tuple[str, str], ...]  # every other key (JIT, hash figures …) as text


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    constraint: str | None
    relation: str | None
    time_ms: float | None
    calls: int | None


@dataclass(frozen=True, slots=True)
class Jit:
    """JIT compilation for the whole statement (the leader's; workers report their own)."""

    functions: int | None
    generation_ms: float | None
    deform_ms: float | None  # part of generation, PostgreSQL 17+
    inlining_ms: float | None
    optimization_ms: float | None
    emission_ms: float | None
    total_ms: float | None
    options: tuple[tuple[str, bool], ...]  # Inlining, Optimization, Expressions, Deforming


Direction = Literal["under", "over"]
FindingKind = Literal[
    "filter",
    "filtered_scan",
    "sort_spill",
    "hash_spill",
    "hashagg_spill",
    "misestimate",
    "heap_fetches",
    "jit",
    "trigger",
]


@dataclass(frozen=True, slots=True)
class Node:
    """One plan node with the server's figures and the derived ones (see the module doc)."""

    node_id: int  # preorder position: plan.nodes[node_id] is this node
    parent_id: int | None
    depth: int
    node_type: str  # the server's "Node Type" ("Unknown" if it sent none)
    operation: str  # as the TEXT format names it: "Parallel Seq Scan", "Hash Left Join", …
    label: str  # one line: "Index Scan using pgbench_accounts_pkey on pgbench_accounts a"
    parent_relationship: str | None  # Outer, Inner, Subquery, Member, InitPlan, SubPlan, …
    subplan_name: str | None  # "CTE top", "InitPlan 1 (returns $0)", "SubPlan 2"
    join_type: str | None
    strategy: str | None
    scan_direction: str | None
    partial_mode: str | None
    parallel_aware: bool
    relation: str | None
    schema: str | None
    alias: str | None
    index_name: str | None
    cte_name: str | None
    function_name: str | None
    # estimates
    startup_cost: float | None
    total_cost: float | None
    exclusive_cost: float | None  # total cost minus the children's (CTEs aside), floored at 0
    estimated_rows: float | None  # per loop, as the planner says
    estimated_rows_total: float | None  # × actual loops (ANALYZE only)
    width: int | None
    # actuals (None without ANALYZE; times None with TIMING OFF)
    loops: int | None
    actual_rows: float | None  # per loop (fractional from PostgreSQL 18)
    actual_rows_total: float | None  # × loops
    actual_startup_ms: float | None  # per loop, as reported
    actual_total_ms: float | None  # per loop, as reported
    time_ms: float | None  # inclusive: × loops ÷ (gather_workers + 1)
    exclusive_ms: float | None
    share: float | None  # exclusive ÷ execution time
    never_executed: bool
    misestimate: float | None  # >= 1, inf for 0 rows against an estimate
    misestimate_direction: Direction | None  # None when exact (or unknown)
    rows_removed_by_filter: float | None  # totals (× loops)
    rows_removed_by_join_filter: float | None
    rows_removed_by_index_recheck: float | None
    heap_fetches: float | None  # total
    buffers: Buffers | None  # inclusive, as reported (BUFFERS)
    exclusive_buffers: Buffers | None
    wal_records: int | None
    wal_fpi: int | None
    wal_bytes: int | None
    # sorts, hashes, aggregates
    sort_key: tuple[str, ...]
    sort_method: str | None  # quicksort, top-N heapsort, external merge, external sort
    sort_space_kb: int | None
    sort_space_type: str | None  # Memory, Disk
    hash_buckets: int | None
    original_hash_buckets: int | None
    hash_batches: int | None
    original_hash_batches: int | None  # what the planner sized; fewer than batches: it grew
    peak_memory_kb: int | None
    hashagg_batches: int | None  # HashAggregate spill, PostgreSQL 13+
    disk_usage_kb: int | None
    # parallelism
    workers_planned: int | None  # on a Gather / Gather Merge
    workers_launched: int | None
    gather_workers: int  # workers launched by the Gather this node runs under (0: none)
    workers: tuple[Worker, ...]
    output: tuple[str, ...] | None  # VERBOSE
    conditions: tuple[tuple[str, str], ...]  # ("Index Cond", "(aid = 1)"), ("Filter", …)
    details: tuple[tuple[str, str], ...]  # every other key the server sent, as text
    children: tuple[Node, ...]

    @property
    def time_band(self) -> Band:
        return time_band(self.share)

    @property
    def misestimate_band(self) -> Band:
        return misestimate_band(self.misestimate)

    @property
    def rows_read(self) -> float | None:
        """Rows the node looked at: returned + removed by its filters (totals)."""
        if self.actual_rows_total is None:
            return None
        removed = (self.rows_removed_by_filter or 0.0) + (self.rows_removed_by_join_filter or 0.0)
        return self.actual_rows_total + removed

    @property
    def removed_share(self) -> float | None:
        """Share of the rows read that the filter removed (PEV2's rows-removed percentage)."""
        removed = self.rows_removed_by_filter
        if removed is None:
            removed = self.rows_removed_by_join_filter
        if removed is None or self.actual_rows_total is None:
            return None
        read = removed + self.actual_rows_total
        return removed / read if read > 0 else None

    def walk(self) -> Iterable[Node]:
        """This node and every node under it, in preorder."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


@dataclass(frozen=True, slots=True)
class Plan:
    root: Node
    nodes: tuple[Node, ...]  # preorder; nodes[i].node_id == i
    analyzed: bool  # EXPLAIN ANALYZE (actual rows present)
    timed: bool  # … with node timing (not TIMING OFF)
    planning_ms: float | None
    execution_ms: float | None
    triggers: tuple[Trigger, ...]
    jit: Jit | None
    settings: tuple[tuple[str, str], ...]  # SETTINGS: the non-default planner settings
    planning_buffers: Buffers | None  # BUFFERS, PostgreSQL 13+
    execution_buffers: Buffers | None  # the root node's (inclusive) buffers
    serialization_ms: float | None  # SERIALIZE, PostgreSQL 17+
    query_text: str | None  # auto_explain's "Query Text"
    query_id: int | None  # "Query Identifier" (VERBOSE, compute_query_id)
    details: tuple[tuple[str, str], ...]  # other top-level keys, as text

    @property
    def duration_ms(self) -> float | None:
        """Execution time, or the root's time when the server gave none (SUMMARY OFF)."""
        return self.execution_ms if self.execution_ms is not None else self.root.time_ms

    @property
    def jit_share(self) -> float | None:
        total = self.jit.total_ms if self.jit else None
        duration = self.duration_ms
        if total is None or not duration:
            return None
        return total / duration

    def setting(self, name: str) -> str | None:
        return next((value for key, value in self.settings if key == name), None)


@dataclass(frozen=True, slots=True)
class Finding:
    """One line worth reading first: what, where (node_id, None for JIT and triggers)."""

    kind: FindingKind
    node_id: int | None
    text: str


# --------------------------------------------------------------------------- reading values


def _num(d: Mapping[str, Any], key: str) -> float | None:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # exactly: a 64-bit query id does not survive a float
    number = _num(d, key)
    return int(number) if number is not None else None


def _str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) else None


def _strs(d: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = d.get(key)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item if isinstance(item, str) else _text(item) for item in value)
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _details(d: Mapping[str, Any], known: frozenset[str]) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), _text(v)) for k, v in d.items() if k not in known)


def _buffers(d: Mapping[str, Any]) -> Buffers | None:
    if not any(key in d for key in _BUFFER_KEYS):
        return None
    values: dict[str, Any] = {name: _int(d, key) or 0 for name, key in _BLOCK_KEYS.items()}
    for name, keys in _IO_KEYS.items():
        times = [t for t in (_num(d, key) for key in keys) if t is not None]
        values[name] = round(sum(times), 3) if times else None
    return Buffers(**values)


# --------------------------------------------------------------------------- the document


def _document(doc: object) -> Mapping[str, Any]:
    if isinstance(doc, bytes | bytearray | memoryview):
        doc = bytes(doc).decode("utf-8", errors="replace")
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except (ValueError, RecursionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PlanError(f"not a JSON plan: {first}") from None
    if isinstance(doc, Sequence) and not isinstance(doc, str):
        if not doc:
            raise PlanError("not a plan: an empty list")
        doc = doc[0]  # one statement; a rule can make more plans: the first is the query's
    if not isinstance(doc, Mapping):
        raise PlanError(f"not a plan: a JSON {type(doc).__name__}, not an object")
    if "Plan" not in doc:
        raise PlanError('not a plan: no "Plan" key')
    if not isinstance(doc["Plan"], Mapping):
        raise PlanError('not a plan: "Plan" is not an object')
    return doc


_TOP_KEYS = frozenset(
    {
        "Plan",
        "Planning",
        "Planning Time",
        "Execution Time",
        "Triggers",
        "JIT",
        "Settings",
        "Serialization",
        "Query Text",
        "Query Identifier",
    }
)


def parse_plan(doc: object) -> Plan:
    """The plan in `doc` (JSON text, bytes, or the parsed list / object); PlanError if it is
    not one. Unknown keys and node types are kept as text; missing figures are None."""
    top = _document(doc)
    raws, parents, depths, kids = _flatten(top["Plan"])
    analyzed = "Actual Loops" in raws[0] or "Actual Rows" in raws[0]
    timed = analyzed and "Actual Total Time" in raws[0]
    execution_ms = _num(top, "Execution Time")
    loops = [_int(r, "Actual Loops") if analyzed else None for r in raws]
    shape = _Shape(raws, parents, kids, loops if timed else None)
    time_ms = shape.time_ms
    exclusive_ms = shape.exclusive(time_ms)
    duration = execution_ms if execution_ms is not None else time_ms[0]

    buffers = [_buffers(r) for r in raws]
    exclusive_buffers = _exclusive_buffers(shape, buffers)

    built: list[Node | None] = [None] * len(raws)
    for i in reversed(range(len(raws))):  # children have larger ids: built before parents
        children = tuple(built[k] for k in kids[i])
        built[i] = _node(
            raws[i],
            node_id=i,
            parent_id=parents[i],
            depth=depths[i],
            analyzed=analyzed,
            loops=loops[i],
            time_ms=time_ms[i],
            exclusive_ms=exclusive_ms[i],
            duration=duration,
            gather_workers=shape.gather_workers[i],
            buffers=buffers[i],
            exclusive_buffers=exclusive_buffers[i],
            exclusive_cost=shape.exclusive_cost(i),
            children=tuple(c for c in children if c is not None),
        )
    nodes = tuple(n for n in built if n is not None)
    planning = top.get("Planning")
    return Plan(
        root=nodes[0],
        nodes=nodes,
        analyzed=analyzed,
        timed=timed,
        planning_ms=_num(top, "Planning Time"),
        execution_ms=execution_ms,
        triggers=_triggers(top.get("Triggers")),
        jit=_jit(top.get("JIT")),
        settings=_settings(top.get("Settings")),
        planning_buffers=_buffers(planning) if isinstance(planning, Mapping) else None,
        execution_buffers=nodes[0].buffers,
        serialization_ms=_serialization_ms(top.get("Serialization")),
        query_text=_str(top, "Query Text"),
        query_id=_int(top, "Query Identifier"),
        details=_details(top, _TOP_KEYS),
    )


def _flatten(
    root: Mapping[str, Any],
) -> tuple[list[Mapping[str, Any]], list[int | None], list[int], list[list[int]]]:
    """Preorder without recursion (a deep plan cannot exhaust the stack)."""
    raws: list[Mapping[str, Any]] = []
    parents: list[int | None] = []
    depths: list[int] = []
    kids: list[list[int]] = []
    stack: list[tuple[Mapping[str, Any], int | None, int]] = [(root, None, 0)]
    while stack:
        raw, parent, depth = stack.pop()
        index = len(raws)
        raws.append(raw)
        parents.append(parent)
        depths.append(depth)
        kids.append([])
        if parent is not None:
            kids[parent].append(index)
        plans = raw.get("Plans")
        if plans is None:
            continue
        if not isinstance(plans, list):
            raise PlanError(f'not a plan: "Plans" of node {index} is not a list')
        for child in reversed(plans):
            if not isinstance(child, Mapping):
                raise PlanError(f"not a plan: a child of node {index} is not an object")
            stack.append((child, index, depth + 1))
    return raws, parents, depths, kids


def _triggers(value: object) -> tuple[Trigger, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        Trigger(
            name=_str(t, "Trigger Name") or "?",
            constraint=_str(t, "Constraint Name"),
            relation=_str(t, "Relation"),
            time_ms=_num(t, "Time"),
            calls=_int(t, "Calls"),
        )
        for t in value
        if isinstance(t, Mapping)
    )


def _jit(value: object) -> Jit | None:
    if not isinstance(value, Mapping):
        return None
    timing = value.get("Timing")
    timing = timing if isinstance(timing, Mapping) else {}
    generation: float | None
    deform: float | None = None
    phase = timing.get("Generation")
    if isinstance(phase, Mapping):  # PostgreSQL 17+: {"Deform": …, "Total": …}
        generation, deform = _num(phase, "Total"), _num(phase, "Deform")
    else:
        generation = _num(timing, "Generation")
    options = value.get("Options")
    return Jit(
        functions=_int(value, "Functions"),
        generation_ms=generation,
        deform_ms=deform,
        inlining_ms=_num(timing, "Inlining"),
        optimization_ms=_num(timing, "Optimization"),
        emission_ms=_num(timing, "Emission"),
        total_ms=_num(timing, "Total"),
        options=tuple((str(k), bool(v)) for k, v in options.items() if isinstance(v, bool))
        if isinstance(options, Mapping)
        else (),
    )


def _settings(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    return tuple((str(k), _text(v)) for k, v in value.items())


def _serialization_ms(value: object) -> float | None:
    return _num(value, "Time") if isinstance(value, Mapping) else None


# --------------------------------------------------------------------------- attribution

_INITPLAN = re.compile(r"InitPlan\s+(\d+)(?:\s+\(returns\s+([^)]*)\))?")
_PARAM = re.compile(r"\$\d+")
_NOT_EXPRESSIONS = frozenset({"Node Type", "Parent Relationship", "Subplan Name", "Plans"})


class _Shape:
    """Who ran inside whom: the tree with PEV2's parallel, CTE and InitPlan attribution."""

    def __init__(
        self,
        raws: list[Mapping[str, Any]],
        parents: list[int | None],
        kids: list[list[int]],
        loops: list[int | None] | None,
    ) -> None:
        """`loops` None: no node timing (plain EXPLAIN, TIMING OFF)."""
        self.raws = raws
        self.parents = parents
        self.kids = kids
        self.relationship = [_str(r, "Parent Relationship") for r in raws]
        self.subplan = [_str(r, "Subplan Name") for r in raws]
        self.gather_workers = self._gather_workers()
        self.time_ms: list[float | None] = [None] * len(raws)
        for i, raw in enumerate(raws):
            total = _num(raw, "Actual Total Time")
            n = loops[i] if loops is not None else None
            if total is not None and n is not None:
                # PEV2 calculateActuals: the mean per loop × loops, per process under a Gather
                self.time_ms[i] = total * n / (self.gather_workers[i] + 1)
        self.whole, self.part = self._charges()

    def is_cte(self, i: int) -> bool:
        name = self.subplan[i]
        return self.relationship[i] == "InitPlan" and name is not None and name.startswith("CTE")

    def is_initplan(self, i: int) -> bool:
        return self.relationship[i] == "InitPlan" and not self.is_cte(i)

    def _gather_workers(self) -> list[int]:
        """PEV2's "Workers Launched By Gather": a Gather's launched workers handed down to the
        nodes under it. InitPlans and CTEs run in the leader: 0. A SubPlan runs where the node
        it hangs on runs (PEV2 hands nothing to SubPlans, so a SubPlan under a Parallel Seq
        Scan kept the sum over all processes)."""
        workers = [0] * len(self.raws)
        for i, raw in enumerate(self.raws):  # preorder: a parent is done before its children
            launched = _int(raw, "Workers Launched") or 0
            for child in self.kids[i]:
                if self.is_cte(child) or self.is_initplan(child):
                    workers[child] = 0
                elif self.relationship[child] == "SubPlan":
                    workers[child] = workers[i]
                else:
                    workers[child] = launched or workers[i]
        return workers

    def subtree(self, i: int) -> set[int]:
        out, stack = set(), [i]
        while stack:
            node = stack.pop()
            out.add(node)
            stack.extend(self.kids[node])
        return out

    def cte_scans(self, i: int) -> list[int]:
        name = (self.subplan[i] or "")[len("CTE") :].strip()
        return [
            j
            for j, raw in enumerate(self.raws)
            if _str(raw, "Node Type") == "CTE Scan" and _str(raw, "CTE Name") == name
        ]

    def initplan_consumer(self, i: int, basic: list[float | None]) -> int:
        """The node whose expression ran InitPlan i (see the module doc)."""
        parent = self.parents[i]
        assert parent is not None
        match = _INITPLAN.search(self.subplan[i] or "")
        if match is None:
            return parent
        patterns = [re.compile(rf"\bInitPlan\s+{match.group(1)}(?!\d)")]
        patterns += [
            re.compile(re.escape(p) + r"(?!\d)") for p in _PARAM.findall(match.group(2) or "")
        ]
        inside = self.subtree(i)
        candidates = [
            j
            for j, raw in enumerate(self.raws)
            if j not in inside
            and self.relationship[j] != "InitPlan"
            and _int(raw, "Actual Loops") != 0
            and _names_any(raw, patterns)
        ]
        if not candidates:
            return parent
        if parent in candidates:
            consumer = parent
        else:
            busy = [-1.0 if b is None else b for b in basic]
            consumer = max(candidates, key=lambda c: busy[c])
        if self.gather_workers[consumer]:
            # params a worker needs are evaluated by the Gather, in the leader
            up: int | None = consumer
            while up is not None and _int(self.raws[up], "Workers Launched") is None:
                up = self.parents[up]
            if up is not None:
                consumer = up
        return consumer

    def _charges(self) -> tuple[list[list[int]], list[list[tuple[int, list[int]]]]]:
        """Per node: the children whose whole figure it gives back (ordinary children,
        SubPlans, InitPlans it ran), and the CTEs it gives back a part of (with the CTE's
        scans, to weigh the part)."""
        whole: list[list[int]] = [[] for _ in self.raws]
        part: list[list[tuple[int, list[int]]]] = [[] for _ in self.raws]
        basic: list[float | None] = []
        time_ms = self.time_ms
        for i in range(len(self.raws)):  # exclusive time before InitPlans and CTEs
            own = time_ms[i]
            if own is None:
                basic.append(None)
                continue
            inner = sum(
                time_ms[c] or 0.0
                for c in self.kids[i]
                if not self.is_cte(c) and not self.is_initplan(c)
            )
            basic.append(own - inner)
        for i in range(len(self.raws)):
            for child in self.kids[i]:
                if self.is_cte(child):
                    scans = self.cte_scans(child)
                    for scan in scans:
                        part[scan].append((child, scans))
                elif self.is_initplan(child):
                    whole[self.initplan_consumer(child, basic)].append(child)
                else:
                    whole[i].append(child)
        return whole, part

    def exclusive(self, metric: list[float | None]) -> list[float | None]:
        """metric minus what ran inside, floored at 0; a CTE's part by the scans' metric."""
        whole, part = self.whole, self.part
        out: list[float | None] = []
        for i, own in enumerate(metric):
            if own is None:
                out.append(None)
                continue
            given = sum(metric[c] or 0.0 for c in whole[i])
            for cte, scans in part[i]:
                weights = sum(metric[s] or 0.0 for s in scans)
                if weights > 0:
                    given += (metric[cte] or 0.0) * (own / weights)
            out.append(max(0.0, own - given))
        return out

    def exclusive_cost(self, i: int) -> float | None:
        """PEV2: total cost minus the children's total cost (CTEs aside), floored at 0."""
        total = _num(self.raws[i], "Total Cost")
        if total is None:
            return None
        inner = sum(
            _num(self.raws[c], "Total Cost") or 0.0 for c in self.kids[i] if not self.is_cte(c)
        )
        return max(0.0, total - inner)


def _names_any(raw: Mapping[str, Any], patterns: list[re.Pattern[str]]) -> bool:
    for key, value in raw.items():
        if key in _NOT_EXPRESSIONS:
            continue
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for text in texts:
            if isinstance(text, str) and any(p.search(text) for p in patterns):
                return True
    return False


def _exclusive_buffers(shape: _Shape, buffers: list[Buffers | None]) -> list[Buffers | None]:
    if all(b is None for b in buffers):
        return list(buffers)
    columns: dict[str, list[float | None]] = {}
    for name in _BUFFER_FIELDS:
        metric: list[float | None] = [
            None if b is None else _as_float(getattr(b, name)) for b in buffers
        ]
        columns[name] = shape.exclusive(metric)
    out: list[Buffers | None] = []
    for i, b in enumerate(buffers):
        if b is None:
            out.append(None)
            continue
        values: dict[str, Any] = {}
        for name in _BUFFER_FIELDS:
            value = columns[name][i]
            if name in _BLOCK_KEYS:
                values[name] = round(value or 0.0)
            else:
                values[name] = None if getattr(b, name) is None else round(value or 0.0, 3)
        out.append(Buffers(**values))
    return out


def _as_float(value: int | float | None) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------- one node

_JOINS = ("Nested Loop", "Hash Join", "Merge Join")
_AGGREGATES = {"Sorted": "GroupAggregate", "Hashed": "HashAggregate", "Mixed": "MixedAggregate"}
_CONDITIONS = (
    "Index Cond",
    "Recheck Cond",
    "TID Cond",
    "Hash Cond",
    "Merge Cond",
    "Join Filter",
    "Filter",
    "One-Time Filter",
    "Order By",
)
_NODE_KEYS = (
    frozenset(
        {
            "Node Type",
            "Parent Relationship",
            "Subplan Name",
            "Join Type",
            "Strategy",
            "Scan Direction",
            "Partial Mode",
            "Parallel Aware",
            "Async Capable",
            "Operation",
            "Relation Name",
            "Schema",
            "Alias",
            "Index Name",
            "CTE Name",
            "Function Name",
            "Startup Cost",
            "Total Cost",
            "Plan Rows",
            "Plan Width",
            "Actual Startup Time",
            "Actual Total Time",
            "Actual Rows",
            "Actual Loops",
            "Rows Removed by Filter",
            "Rows Removed by Join Filter",
            "Rows Removed by Index Recheck",
            "Heap Fetches",
            "WAL Records",
            "WAL FPI",
            "WAL Bytes",
            "Sort Key",
            "Sort Method",
            "Sort Space Used",
            "Sort Space Type",
            "Hash Buckets",
            "Original Hash Buckets",
            "Hash Batches",
            "Original Hash Batches",
            "Peak Memory Usage",
            "HashAgg Batches",
            "Disk Usage",
            "Workers Planned",
            "Workers Launched",
            "Workers",
            "Output",
            "Plans",
        }
    )
    | _BUFFER_KEYS
    | frozenset(_CONDITIONS)
)
_WORKER_KEYS = (
    frozenset(
        {
            "Worker Number",
            "Actual Startup Time",
            "Actual Total Time",
            "Actual Rows",
            "Actual Loops",
            "Sort Method",
            "Sort Space Used",
            "Sort Space Type",
        }
    )
    | _BUFFER_KEYS
)


def _operation(raw: Mapping[str, Any]) -> str:
    """The node's name as EXPLAIN's TEXT format prints it (PEV2 node.ts nodeName, with the
    TEXT format's spelling: no "Simple" partial mode, no "Inner" join type)."""
    name = _str(raw, "Node Type") or "Unknown"
    strategy = _str(raw, "Strategy")
    if name == "Aggregate":
        name = _AGGREGATES.get(strategy or "", name)
    elif name == "SetOp" and strategy == "Hashed":
        name = "HashSetOp"
    elif name == "ModifyTable":
        name = _str(raw, "Operation") or name
    elif name == "Foreign Scan":
        operation = _str(raw, "Operation")
        if operation and operation != "Select":
            name = f"Foreign {operation}"
    elif name == "Custom Scan":
        provider = _str(raw, "Custom Plan Provider")
        if provider:
            name = f"Custom Scan ({provider})"
    join = _str(raw, "Join Type")
    if join and join != "Inner" and name in _JOINS:
        name = f"{name} {join} Join" if name == "Nested Loop" else f"{name[:-5]} {join} Join"
    partial = _str(raw, "Partial Mode")
    if partial and partial != "Simple":
        name = f"{partial} {name}"
    if raw.get("Async Capable") is True:
        name = f"Async {name}"
    if raw.get("Parallel Aware") is True:
        name = f"Parallel {name}"
    if _str(raw, "Scan Direction") == "Backward":
        name = f"{name} Backward"
    return name


def _label(raw: Mapping[str, Any], operation: str) -> str:
    """EXPLAIN's TEXT line without the figures: "Index Scan using i on t a"."""
    relation = _str(raw, "Relation Name")
    schema = _str(raw, "Schema")
    alias = _str(raw, "Alias")
    index = _str(raw, "Index Name")
    node_type = _str(raw, "Node Type") or ""
    label = operation
    if index and node_type == "Bitmap Index Scan":
        return f"{label} on {index}"
    if index:
        label += f" using {index}"
    target = (
        relation
        or _str(raw, "CTE Name")
        or _str(raw, "Function Name")
        or _str(raw, "Table Function Name")
        or _str(raw, "Tuplestore Name")
    )
    if target is not None:
        if relation and schema and schema != "public":
            target = f"{schema}.{relation}"
        label += f" on {target}"
        if alias and alias != (relation or _str(raw, "CTE Name") or _str(raw, "Function Name")):
            label += f" {alias}"
    elif alias and node_type.endswith("Scan"):
        label += f" on {alias}"
    return label


def _misestimate(
    analyzed: bool, loops: int | None, actual: float | None, estimated: float | None
) -> tuple[float | None, Direction | None]:
    """PEV2 calculatePlannerEstimate, per loop; a never executed node has no estimate error."""
    if not analyzed or not loops or actual is None or estimated is None:
        return None, None
    if actual > estimated:
        return (actual / estimated if estimated > 0 else math.inf), "under"
    if actual < estimated:
        return (estimated / actual if actual > 0 else math.inf), "over"
    return 1.0, None


def _workers(value: object) -> tuple[Worker, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        Worker(
            number=_int(w, "Worker Number"),
            actual_startup_ms=_num(w, "Actual Startup Time"),
            actual_total_ms=_num(w, "Actual Total Time"),
            actual_rows=_num(w, "Actual Rows"),
            loops=_int(w, "Actual Loops"),
            sort_method=_str(w, "Sort Method"),
            sort_space_kb=_int(w, "Sort Space Used"),
            sort_space_type=_str(w, "Sort Space Type"),
            buffers=_buffers(w),
            details=_details(w, _WORKER_KEYS),
        )
        for w in value
        if isinstance(w, Mapping)
    )


def _times(value: float | None, loops: int | None) -> float | None:
    return None if value is None or loops is None else value * loops


def _node(
    raw: Mapping[str, Any],
    *,
    node_id: int,
    parent_id: int | None,
    depth: int,
    analyzed: bool,
    loops: int | None,
    time_ms: float | None,
    exclusive_ms: float | None,
    duration: float | None,
    gather_workers: int,
    buffers: Buffers | None,
    exclusive_buffers: Buffers | None,
    exclusive_cost: float | None,
    children: tuple[Node, ...],
) -> Node:
    operation = _operation(raw)
    actual_rows = _num(raw, "Actual Rows") if analyzed else None
    estimated = _num(raw, "Plan Rows")
    factor, direction = _misestimate(analyzed, loops, actual_rows, estimated)
    share = None
    if exclusive_ms is not None and duration:
        share = exclusive_ms / duration
    return Node(
        node_id=node_id,
        parent_id=parent_id,
        depth=depth,
        node_type=_str(raw, "Node Type") or "Unknown",
        operation=operation,
        label=_label(raw, operation),
        parent_relationship=_str(raw, "Parent Relationship"),
        subplan_name=_str(raw, "Subplan Name"),
        join_type=_str(raw, "Join Type"),
        strategy=_str(raw, "Strategy"),
        scan_direction=_str(raw, "Scan Direction"),
        partial_mode=_str(raw, "Partial Mode"),
        parallel_aware=raw.get("Parallel Aware") is True,
        relation=_str(raw, "Relation Name"),
        schema=_str(raw, "Schema"),
        alias=_str(raw, "Alias"),
        index_name=_str(raw, "Index Name"),
        cte_name=_str(raw, "CTE Name"),
        function_name=_str(raw, "Function Name"),
        startup_cost=_num(raw, "Startup Cost"),
        total_cost=_num(raw, "Total Cost"),
        exclusive_cost=exclusive_cost,
        estimated_rows=estimated,
        estimated_rows_total=_times(estimated, loops) if analyzed else None,
        width=_int(raw, "Plan Width"),
        loops=loops,
        actual_rows=actual_rows,
        actual_rows_total=_times(actual_rows, loops),
        actual_startup_ms=_num(raw, "Actual Startup Time") if analyzed else None,
        actual_total_ms=_num(raw, "Actual Total Time") if analyzed else None,
        time_ms=time_ms,
        exclusive_ms=exclusive_ms,
        share=share,
        never_executed=analyzed and loops == 0,
        misestimate=factor,
        misestimate_direction=direction,
        rows_removed_by_filter=_times(_num(raw, "Rows Removed by Filter"), loops),
        rows_removed_by_join_filter=_times(_num(raw, "Rows Removed by Join Filter"), loops),
        rows_removed_by_index_recheck=_times(_num(raw, "Rows Removed by Index Recheck"), loops),
        heap_fetches=_num(raw, "Heap Fetches") if analyzed else None,
        buffers=buffers,
        exclusive_buffers=exclusive_buffers,
        wal_records=_int(raw, "WAL Records"),
        wal_fpi=_int(raw, "WAL FPI"),
        wal_bytes=_int(raw, "WAL Bytes"),
        sort_key=_strs(raw, "Sort Key") or (),
        sort_method=_str(raw, "Sort Method"),
        sort_space_kb=_int(raw, "Sort Space Used"),
        sort_space_type=_str(raw, "Sort Space Type"),
        hash_buckets=_int(raw, "Hash Buckets"),
        original_hash_buckets=_int(raw, "Original Hash Buckets"),
        hash_batches=_int(raw, "Hash Batches"),
        original_hash_batches=_int(raw, "Original Hash Batches"),
        peak_memory_kb=_int(raw, "Peak Memory Usage"),
        hashagg_batches=_int(raw, "HashAgg Batches"),
        disk_usage_kb=_int(raw, "Disk Usage"),
        workers_planned=_int(raw, "Workers Planned"),
        workers_launched=_int(raw, "Workers Launched"),
        gather_workers=gather_workers,
        workers=_workers(raw.get("Workers")),
        output=_strs(raw, "Output"),
        conditions=tuple((key, _text(raw[key])) for key in _CONDITIONS if key in raw),
        details=_details(raw, _NODE_KEYS),
        children=children,
    )


# --------------------------------------------------------------------------- picking nodes


def slowest(plan: Plan) -> Node | None:
    """The node with the largest exclusive time (None without timing)."""
    timed = [n for n in plan.nodes if n.exclusive_ms is not None]
    return max(timed, key=lambda n: n.exclusive_ms or 0.0) if timed else None


def costliest(plan: Plan) -> Node | None:
    """The node with the largest exclusive cost: a plain EXPLAIN's hot spot."""
    costed = [n for n in plan.nodes if n.exclusive_cost is not None]
    return max(costed, key=lambda n: n.exclusive_cost or 0.0) if costed else None


def _effective_factor(node: Node) -> float:
    """The misestimate with 0 rows counted as 1, to rank: an index probe estimated at 1 row
    that found none is an infinite factor (PEV2) but nothing to look at."""
    if node.misestimate is None or node.actual_rows is None or node.estimated_rows is None:
        return 0.0
    actual, estimated = max(node.actual_rows, 1.0), max(node.estimated_rows, 1.0)
    return max(actual / estimated, estimated / actual)


def worst_misestimate(plan: Plan) -> Node | None:
    """The executed node whose row estimate is furthest off (None if every one was right)."""
    ranked = [n for n in plan.nodes if _effective_factor(n) > 1.0]
    return max(ranked, key=_effective_factor) if ranked else None


# --------------------------------------------------------------------------- findings


def findings(plan: Plan) -> list[Finding]:
    """One-line findings, in the order a DBA reads them: wasted scans, spills to disk, bad
    estimates, heap fetches, JIT, triggers. Each names its node, so it reads without colour."""
    if not plan.analyzed:
        return _estimated_findings(plan)
    out: list[Finding] = []
    by_time = sorted(plan.nodes, key=lambda n: -(n.exclusive_ms or 0.0))
    work_mem = plan.setting("work_mem")
    memo = f"; work_mem is {work_mem}" if work_mem else ""
    for node in by_time:
        share = node.removed_share
        removed = node.rows_removed_by_filter
        if (
            node.node_type == "Seq Scan"
            and share is not None
            and removed is not None
            and share >= FILTER_REMOVED_SHARE
            and removed >= FILTER_REMOVED_MIN
        ):
            read = removed + (node.actual_rows_total or 0.0)
            out.append(
                Finding(
                    "filter",
                    node.node_id,
                    f"{_named(node)}: the filter removed {_rows(removed)} of the "
                    f"{_rows(read)} rows read ({_percent(share)})",
                )
            )
    for node in by_time:
        sorts = [(node.sort_method, node.sort_space_type, node.sort_space_kb)]
        sorts += [(w.sort_method, w.sort_space_type, w.sort_space_kb) for w in node.workers]
        spilled = [s for s in sorts if s[1] == "Disk" or (s[0] or "").startswith("external")]
        if spilled:  # the leader's or a worker's: the largest
            method, _, kb = max(spilled, key=lambda s: s[2] or 0)
            size = f", {_kb(kb)}" if kb is not None else ""
            out.append(
                Finding(
                    "sort_spill",
                    node.node_id,
                    f"{_named(node)}: sorted on disk ({method or 'disk'}{size}){memo}",
                )
            )
        batches, original = node.hash_batches, node.original_hash_batches
        if batches is not None and batches > 1:
            grew = f", planned {original}" if original is not None and original != batches else ""
            out.append(
                Finding(
                    "hash_spill",
                    node.node_id,
                    f"{_named(node)}: hashed in {batches} batches on disk{grew}{memo}",
                )
            )
        if (node.hashagg_batches or 0) > 1 or (node.disk_usage_kb or 0) > 0:
            disk = f", {_kb(node.disk_usage_kb)} on disk" if node.disk_usage_kb else " on disk"
            out.append(
                Finding(
                    "hashagg_spill",
                    node.node_id,
                    f"{_named(node)}: aggregated in {node.hashagg_batches or 1} "
                    f"batches{disk}{memo}",
                )
            )
    ranked = sorted(
        (n for n in plan.nodes if _effective_factor(n) >= MISESTIMATE_FINDING),
        key=lambda n: -_effective_factor(n),
    )
    for node in ranked[:MISESTIMATE_FINDINGS_MAX]:
        per_loop = f" per loop, {node.loops:,} loops" if (node.loops or 0) > 1 else ""
        out.append(
            Finding(
                "misestimate",
                node.node_id,
                f"{_named(node)}: rows {node.misestimate_direction}-estimated "
                f"{_factor(_effective_factor(node))} ({_rows(node.estimated_rows or 0.0)} "
                f"estimated, {_rows(node.actual_rows or 0.0)} actual{per_loop})",
            )
        )
    for node in by_time:
        fetches, looked_at = node.heap_fetches, node.rows_read
        if node.node_type != "Index Only Scan" or not fetches or not looked_at:
            continue
        if fetches >= HEAP_FETCH_MIN and fetches / looked_at > HEAP_FETCH_SHARE:
            table = f": VACUUM {node.relation}" if node.relation else ""
            out.append(
                Finding(
                    "heap_fetches",
                    node.node_id,
                    f"{_named(node)}: {_rows(fetches)} heap fetches for {_rows(looked_at)} "
                    f"rows ({_percent(fetches / looked_at)}), the visibility map lags{table}",
                )
            )
    jit_share = plan.jit_share
    if plan.jit is not None and jit_share is not None and jit_share >= JIT_SHARE:
        functions = f", {plan.jit.functions} functions" if plan.jit.functions else ""
        out.append(
            Finding(
                "jit",
                None,
                f"JIT compilation took {_ms(plan.jit.total_ms)} of the "
                f"{_ms(plan.duration_ms)} execution ({_percent(jit_share)}{functions})",
            )
        )
    duration = plan.duration_ms
    for trigger in sorted(plan.triggers, key=lambda t: -(t.time_ms or 0.0)):
        if trigger.time_ms is None or not duration or trigger.time_ms / duration < TRIGGER_SHARE:
            continue
        where = f" on {trigger.relation}" if trigger.relation else ""
        calls = f", {trigger.calls:,} calls" if trigger.calls is not None else ""
        out.append(
            Finding(
                "trigger",
                None,
                f"Trigger {trigger.name}{where} took {_ms(trigger.time_ms)} "
                f"({_percent(trigger.time_ms / duration)} of execution{calls})",
            )
        )
    return out


def _estimated_findings(plan: Plan) -> list[Finding]:
    """Without ANALYZE nothing was measured: the plan's costliest node, when it is a Seq Scan
    that tests every row against a filter (the usual sign of a missing or unusable index)."""
    node = costliest(plan)
    condition = (
        next((text for name, text in node.conditions if name == "Filter"), None) if node else None
    )
    if node is None or node.node_type != "Seq Scan" or condition is None:
        return []
    expected = node.estimated_rows
    estimate = f"; the planner expects {_rows(expected)} to match" if expected is not None else ""
    return [
        Finding(
            "filtered_scan",
            node.node_id,
            f"{_named(node)} is the costliest node: it reads every row and tests it against "
            f"Filter {condition}{estimate} (an estimate: E measures it)",
        )
    ]


def _named(node: Node) -> str:
    """The node's label; one without a relation of its own names the first one under it."""
    if node.relation or node.index_name or node.cte_name or node.function_name:
        return node.label
    for inner in node.walk():
        if inner is not node and inner.relation:
            alias = f" {inner.alias}" if inner.alias and inner.alias != inner.relation else ""
            return f"{node.label} ({inner.relation}{alias})"
    return node.label


def _rows(value: float) -> str:
    if value.is_integer() or value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _percent(share: float) -> str:
    pct = share * 100
    if 99 < pct < 100:
        return f"{math.floor(pct * 10) / 10:.1f}%"
    if 0 < pct < 1:
        return "<1%"
    return f"{math.floor(pct)}%"


def _factor(factor: float) -> str:
    return f"{factor:,.0f}x" if factor >= 10 else f"{factor:.1f}x"


def _kb(kb: int | None) -> str:
    return "? KiB" if kb is None else units.size(kb * 1024)


def _ms(ms: float | None) -> str:
    return "? ms" if ms is None else units.ms(ms)
