"""Pane 2, Locks: the blocking tree (root blocker first, waiters nested) and ungranted lock
counts by relation and mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Static

from pgtop import units
from pgtop.model import Backend, LockCount, LockNode
from pgtop.text import one_line
from pgtop.ui.format import Palette, cell, num
from pgtop.ui.panes.base import EXPLAIN_BINDINGS, SIGNAL_BINDINGS, Pane
from pgtop.ui.view import MonitorView
from pgtop.ui.widgets.keyed_table import Col, KeyedTable

__all__ = ["LockRow", "LocksPane", "tree_rows"]


@dataclass(frozen=True, slots=True)
class LockRow:
    """A node of the blocking tree with its drawn prefix (``├─ ``, ``│  └─ `` …)."""

    prefix: str
    depth: int
    node: LockNode


def tree_rows(roots: Sequence[LockNode]) -> list[tuple[str, LockRow]]:
    """Depth-first rows keyed by the pid path (a pid may wait in two places)."""
    rows: list[tuple[str, LockRow]] = []

    def walk(node: LockNode, path: str, lead: str, tail: str, depth: int) -> None:
        key = f"{path}/{node.pid}" if path else str(node.pid)
        rows.append((key, LockRow(lead, depth, node)))
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            walk(
                child,
                key,
                tail + ("└─ " if last else "├─ "),
                tail + ("   " if last else "│  "),
                depth + 1,
            )

    for root in roots:
        walk(root, "", "", "", 0)
    return rows


def _who(r: LockRow, p: Palette) -> Text:
    text = Text(r.prefix, no_wrap=True, overflow="ellipsis", end="")
    text.append(str(r.node.pid), style=p.crit if r.depth == 0 else p.warn)
    text.append(" ")
    text.append(one_line(r.node.application))
    return text


COLUMNS: tuple[Col[LockRow], ...] = (
    Col("who", "blocker / waiter (pid app)", 30, _who),
    Col("user", "user", 10, lambda r, _p: cell(r.node.user), priority=4),
    Col("state", "state", 12, lambda r, _p: cell(r.node.state), priority=3),
    Col(
        "mode",
        "waits for mode",
        18,
        lambda r, _p: cell(r.node.mode or ("holds" if r.depth == 0 else "")),
        priority=1,
    ),
    Col(
        "relation",
        "relation",
        16,
        lambda r, _p: cell(r.node.relation or r.node.locktype),
        priority=2,
    ),
    Col(
        "waited",
        "waited",
        8,
        lambda r, _p: num(units.duration(r.node.waited_s)),
        justify="right",
    ),
    Col(
        "xact",
        "xact",
        8,
        lambda r, _p: num(units.duration(r.node.xact_s)),
        justify="right",
        priority=5,
    ),
    Col("query", "query", None, lambda r, _p: cell(r.node.query), min_width=20, min_share=0.25),
)

COUNT_COLUMNS: tuple[Col[LockCount], ...] = (
    # the relation takes what is left, so the count stays on screen at 80 columns
    Col("relation", "relation", None, lambda c, _p: cell(c.relation or ""), min_width=16),
    Col("locktype", "locktype", 14, lambda c, _p: cell(c.locktype), priority=1),
    Col("mode", "mode", 22, lambda c, _p: cell(c.mode)),
    Col(
        "count",
        "ungranted",
        11,
        lambda c, _p: num(str(c.count)),
        sort=lambda c: c.count,
        justify="right",
    ),
)


class LocksPane(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [*SIGNAL_BINDINGS, *EXPLAIN_BINDINGS]

    pane_id = "locks"
    title = "Locks"
    COLUMNS = COLUMNS
    SORTABLE = False

    def __init__(self) -> None:
        super().__init__()
        self.counts = KeyedTable(
            COUNT_COLUMNS, sort_key="count", reverse=True, classes="pane-table-small"
        )
        self.counts_title = Text("ungranted locks by relation and mode")

    def compose_extra(self) -> ComposeResult:
        yield Static(self.counts_title, classes="section-title")
        yield self.counts

    def records(self, view: MonitorView) -> Sequence[tuple[str, Any]]:
        sample = view.main_sample
        return tree_rows(sample.locks) if sample is not None else []

    def chosen_backend(self) -> Backend | None:
        """The selected node's backend, as the same sample's activity has it."""
        row = self.table.selected_record
        sample = self.view.main_sample if self.view is not None else None
        if not isinstance(row, LockRow) or sample is None:
            return None
        return next((b for b in sample.activity if b.pid == row.node.pid), None)

    def render_extra(self, view: MonitorView) -> None:
        sample = view.main_sample
        counts = sample.lock_counts if sample is not None else ()
        self.counts.set_palette(view.palette)
        self.counts.set_records([(f"{c.relation}|{c.locktype}|{c.mode}", c) for c in counts])

    def status_text(self, view: MonitorView) -> Text:
        sample = view.main_sample
        if sample is None or not sample.locks:
            return Text("no backend is waiting on a lock")
        roots = len(sample.locks)
        waiters = sum(len(r.walk()) - 1 for r in sample.locks)
        text = f"{roots} root blocker(s) · {waiters} waiting"
        if sample.locks_unresolved:
            # queued behind another waiter, placed by wait order: the server was not asked
            text += f" · {sample.locks_unresolved} more waiter(s) not resolved"
        return Text(text)
