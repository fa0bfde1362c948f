"""The plan reader: an EXPLAIN (ANALYZE) drawn as a tree with PEV2's figures per node.

Per node: exclusive time and its share of execution, estimated → actual rows with the
misestimate factor and its direction, rows removed by filters, buffers, loops. The slowest node
(the costliest without ANALYZE) and the worst misestimate carry a symbol, so they read without
colour; the findings line says what to look at first. ``s`` saves the plan (text and JSON) in
pgtop's state folder and shows where; ``y`` copies the text. Plans never leave the machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import platformdirs
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pgtop import units
from pgtop.atomic import WriteError, write_atomically
from pgtop.explaining import Explanation
from pgtop.plan import (
    Band,
    Node,
    Plan,
    PlanError,
    costliest,
    findings,
    parse_plan,
    slowest,
    worst_misestimate,
)
from pgtop.text import one_line, visible

__all__ = ["PlanScreen", "plan_lines", "plans_dir"]

SLOWEST = "◆"
MISESTIMATE = "✱"
_ARROW = {"under": "↑", "over": "↓"}
"""Actual rows above the estimate (under-estimated) or below it."""


def plans_dir() -> Path:
    """Where ``s`` saves plans: pgtop's state folder, never a shared place."""
    return platformdirs.user_state_path("pgtop") / "plans"


def _rows(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}" if value >= 10 or value.is_integer() else f"{value:.1f}"


def _factor(node: Node) -> str:
    factor, direction = node.misestimate, node.misestimate_direction
    if factor is None or direction is None or factor < 2:
        return ""
    shown = (
        "∞" if factor == float("inf") else f"{factor:,.0f}×" if factor >= 10 else f"{factor:.1f}×"
    )
    return f"{_ARROW[direction]}{shown}"


def _buffers(node: Node) -> str:
    b = node.exclusive_buffers or node.buffers
    if b is None:
        return ""
    parts = []
    if b.shared_hit:
        parts.append(f"hit {units.count_short(b.shared_hit)}")
    if b.shared_read:
        parts.append(f"read {units.count_short(b.shared_read)}")
    temp = (b.temp_read or 0) + (b.temp_written or 0)
    if temp:
        parts.append(f"temp {units.count_short(temp)}")
    return " ".join(parts)


def _marks(node: Node, slow: Node | None, worst: Node | None) -> str:
    return (SLOWEST if node is slow else "") + (MISESTIMATE if node is worst else "")


def _band_style(band: Band) -> str:
    return {Band.NONE: "", Band.NOTABLE: "", Band.HIGH: "bold", Band.CRITICAL: "bold reverse"}[band]


def _hot(plan: Plan) -> Node | None:
    return slowest(plan) if plan.analyzed and plan.timed else costliest(plan)


def plan_lines(plan: Plan) -> list[str]:
    """The plan as plain text lines (what ``y`` copies and ``s`` saves next to the JSON)."""
    hot, worst = _hot(plan), worst_misestimate(plan)
    lines = []
    for node in plan.nodes:
        lead = "  " * node.depth + ("-> " if node.depth else "")
        figures = [f"cost {node.total_cost:,.2f}" if node.total_cost is not None else ""]
        figures.append(f"rows {_rows(node.estimated_rows)}")
        if plan.analyzed:
            figures.append(f"actual {_rows(node.actual_rows)} x{node.loops or 0}")
            if node.exclusive_ms is not None:
                share = units.percent(100 * (node.share or 0.0), 0)
                figures.append(f"self {units.ms(node.exclusive_ms)} ({share})")
        marks = _marks(node, hot, worst)
        lines.append(f"{lead}{node.label}  ({', '.join(f for f in figures if f)}) {marks}".rstrip())
        for name, condition in node.conditions:
            lines.append(f"{'  ' * node.depth}     {name}: {condition}")
    return lines


class PlanScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="plan.close"),
        Binding("s", "save", "Save", id="plan.save", tooltip="Save the plan (text and JSON)"),
        Binding("y", "copy", "Copy", id="plan.copy", tooltip="Copy the plan text (OSC 52)"),
    ]

    def __init__(
        self, explanation: Explanation, *, now: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(id="plan-screen")
        self.explanation = explanation
        self._now = now or (lambda: datetime.now(UTC))
        try:
            self.plan: Plan | None = parse_plan(explanation.plan)
            self.error: str | None = None
        except PlanError as exc:
            self.plan, self.error = None, str(exc)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Static(self._head(), id="plan-head")
            yield Static(self._tree(), id="plan-tree")
            yield Static("query", classes="section-title")
            yield Static(Text(visible(self.explanation.query)), id="detail-query")
            yield Static(
                f"esc closes · s saves (text and JSON) · y copies the text · "
                f"{SLOWEST} slowest node · {MISESTIMATE} worst row estimate · "
                "↑ more rows than estimated, ↓ fewer",
                classes="hint",
            )

    def _head(self) -> RenderableType:
        e, plan = self.explanation, self.plan
        kind = "EXPLAIN ANALYZE" if e.analyzed else "EXPLAIN"
        if e.generic:
            kind += f" (generic plan, {e.parameters} parameters without values)"
        title = Text(f"{kind} on {one_line(e.server)} / {one_line(e.database)}", style="bold")
        lines: list[RenderableType] = [title]
        lines.append(Text(f"text from {e.source.value}"))
        lines.extend(Text(one_line(note), style="italic") for note in e.notes)
        if plan is None:
            lines.append(Text(f"the plan could not be read: {self.error}", style="bold"))
            return Group(*lines)
        times = []
        if plan.planning_ms is not None:
            times.append(f"planning {units.ms(plan.planning_ms)}")
        if plan.execution_ms is not None:
            times.append(f"execution {units.ms(plan.execution_ms)}")
        total = plan.execution_buffers
        if total is not None:
            times.append(
                f"buffers hit {units.count(total.shared_hit)} read {units.count(total.shared_read)}"
            )
        if plan.jit is not None and plan.jit.total_ms is not None:
            times.append(f"JIT {units.ms(plan.jit.total_ms)}")
        if times:
            lines.append(Text(" · ".join(times)))
        found = findings(plan)
        if found:
            lines.append(Text("findings", style="bold underline"))
            lines.extend(Text(f"▲ {one_line(f.text)}") for f in found)
        else:
            lines.append(Text("findings: none of the usual suspects"))
        return Group(*lines)

    def _tree(self) -> RenderableType:
        plan = self.plan
        if plan is None:
            return Text("")
        hot, worst = _hot(plan), worst_misestimate(plan)
        wide = self.app.size.width >= 110 if self.is_attached else True
        table = Table(box=None, padding=(0, 1, 0, 0), expand=True)
        table.add_column("", no_wrap=True, width=2)
        table.add_column("self ms" if plan.analyzed else "self cost", justify="right", no_wrap=True)
        table.add_column("share", justify="right", no_wrap=True)
        table.add_column("rows est→act", justify="right", no_wrap=True)
        table.add_column("off", justify="right", no_wrap=True)
        table.add_column("removed", justify="right", no_wrap=True)
        if wide:
            table.add_column("loops", justify="right", no_wrap=True)
            table.add_column("buffers", no_wrap=True)
        table.add_column("node", no_wrap=True, overflow="ellipsis", ratio=1)
        for node in plan.nodes:
            if plan.analyzed:
                own = units.milliseconds(node.exclusive_ms) if node.exclusive_ms is not None else ""
                share = units.percent(100 * node.share, 0) if node.share is not None else ""
                rows = f"{_rows(node.estimated_rows)}→{_rows(node.actual_rows)}"
            else:
                own = f"{node.exclusive_cost:,.0f}" if node.exclusive_cost is not None else ""
                share, rows = "", _rows(node.estimated_rows)
            removed = sum(
                v or 0
                for v in (
                    node.rows_removed_by_filter,
                    node.rows_removed_by_join_filter,
                    node.rows_removed_by_index_recheck,
                )
            )
            label = Text("  " * node.depth + ("└ " if node.depth else "") + one_line(node.label))
            if node.never_executed:
                label.append("  (never executed)", style="italic")
            cells: list[RenderableType] = [
                _marks(node, hot, worst),
                Text(own, _band_style(node.time_band)),
                share,
                rows,
                Text(_factor(node), _band_style(node.misestimate_band)),
                units.count_short(removed) if removed else "",
            ]
            if wide:
                cells += [units.count(node.loops) if plan.analyzed else "", _buffers(node)]
            table.add_row(*cells, label)
        return table

    def _text(self) -> str:
        if self.explanation.text:
            return "\n".join(self.explanation.text)
        return "\n".join(plan_lines(self.plan)) if self.plan is not None else ""

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self._text())
        self.notify("plan copied to the clipboard (OSC 52)", timeout=4)

    def action_save(self) -> None:
        e = self.explanation
        stamp = self._now().strftime("%Y%m%dT%H%M%SZ")
        kind = "analyze" if e.analyzed else "plan"
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{e.server}-{e.database}")
        folder = plans_dir()
        text_path = folder / f"{stamp}-{stem}-{kind}.txt"
        json_path = text_path.with_suffix(".json")
        header = f"-- {e.server} / {e.database}, {kind}, text from {e.source.value}\n"
        query = f"-- query:\n{e.query}\n\n"
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomically(
                text_path, header + query + self._text() + "\n", replace=False, mode=0o600
            )
            document = {
                "server": e.server,
                "database": e.database,
                "query": e.query,
                "plan": e.plan,
            }
            write_atomically(
                json_path,
                json.dumps(document, indent=2, default=str) + "\n",
                replace=False,
                mode=0o600,
            )
        except (OSError, WriteError) as exc:
            self.notify(f"plan not saved: {one_line(str(exc))}", severity="error", timeout=8)
            return
        self.notify(f"plan saved: {text_path} (and .json)", timeout=10, markup=False)
