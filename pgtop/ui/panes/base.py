"""The small base every pane stands on: a status line, a filter Input, a KeyedTable.

A pane is given a :class:`~pgtop.ui.view.MonitorView` each tick (attributes down) and posts
messages up (:class:`Pane.DetailsRequested`); the App reads :attr:`Pane.tab_label` after
:meth:`Pane.show` (in the same repaint: a message would cost a second one); it never reaches into
another pane or the App's widgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from pgtop.actions import Signal
from pgtop.model import Backend, Statement
from pgtop.text import one_line
from pgtop.ui.view import MonitorView
from pgtop.ui.widgets.keyed_table import Col, KeyedTable
from pgtop.ui.widgets.line import Line

__all__ = ["EXPLAIN_BINDINGS", "SIGNAL_BINDINGS", "Pane"]

SIGNAL_BINDINGS: list[BindingType] = [
    Binding(
        "c",
        "signal('cancel')",
        "Cancel",
        id="backend.cancel",
        tooltip="Cancel the selected backend's query (asks first)",
    ),
    Binding(
        "k",
        "signal('terminate')",
        "Terminate",
        id="backend.terminate",
        tooltip="Terminate the selected backend (asks first)",
    ),
]
"""For the panes whose rows are backends (activity, locks)."""

EXPLAIN_BINDINGS: list[BindingType] = [
    Binding(
        "e",
        "explain(False)",
        "EXPLAIN",
        id="query.explain",
        tooltip="EXPLAIN the selected query (on a session of pgtop's own)",
    ),
    Binding(
        "E",
        "explain(True)",
        "ANALYZE",
        id="query.analyze",
        tooltip="EXPLAIN ANALYZE the selected query: runs it, read-only, rolled back (asks first)",
    ),
]
"""For the panes whose rows carry a query (activity, locks, statements)."""


class Pane(Vertical):
    """Base of the five panes. Subclasses set ``pane_id``, ``title``, ``COLUMNS`` and implement
    :meth:`records` (and may compose more widgets via :meth:`compose_extra`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash", "filter", "Filter", key_display="/", id="pane.filter", tooltip="Filter rows"
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="pane.clear_filter",
            tooltip="Clear the row filter",
        ),
        Binding(
            "enter",
            "details",
            "Details",
            id="pane.details",
            tooltip="Details of the selected row (full query text, all fields)",
        ),
    ]

    pane_id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    COLUMNS: ClassVar[Sequence[Col[Any]]] = ()
    SORT: ClassVar[str | None] = None
    REVERSE: ClassVar[bool] = True
    SORTABLE: ClassVar[bool] = True
    LIMIT: ClassVar[int | None] = None
    """Show only the first LIMIT rows by the current sort (the status says "top N of M")."""

    class LabelChanged(Message):
        """The tab label changed outside a refresh (a key changed what the pane counts)."""

    class SignalRequested(Message):
        """The user asked to cancel or terminate ``backend`` (not confirmed yet)."""

        def __init__(self, signal: Signal, backend: Backend) -> None:
            super().__init__()
            self.signal = signal
            self.backend = backend

    class ExplainRequested(Message):
        """The user asked for the plan of ``record``'s query (a Backend or a Statement)."""

        def __init__(self, record: Backend | Statement, analyze: bool) -> None:
            super().__init__()
            self.record = record
            self.analyze = analyze

    class DetailsRequested(Message):
        def __init__(self, pane_id: str, record: Any) -> None:
            super().__init__()
            self.pane_id = pane_id
            self.record = record

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id or f"pane-{self.pane_id}", classes="pane")
        self.table = KeyedTable(
            self.COLUMNS,
            sort_key=self.SORT,
            reverse=self.REVERSE,
            sortable=self.SORTABLE,
            limit=self.LIMIT,
            classes="pane-table",
        )
        self.status = Line(fixed_height=True, classes="pane-status")
        self.filter_input = Input(
            placeholder="filter: any cell, case-insensitive", classes="filter"
        )
        self.filter_input.display = False
        self.view: MonitorView | None = None
        self.tab_label: str = self.title
        """The tab's title with the pane's count ("Locks 3")."""
        self._behind = False
        """A view arrived while the pane was hidden and is not on its widgets yet."""

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.filter_input
        yield from self.compose_extra_top()
        yield self.table
        yield from self.compose_extra()

    def compose_extra_top(self) -> ComposeResult:
        yield from ()

    def compose_extra(self) -> ComposeResult:
        yield from ()

    # ------------------------------------------------------------------ data

    def records(self, view: MonitorView) -> Sequence[tuple[str, Any]]:
        """The rows of the main table as (key, record)."""
        raise NotImplementedError

    def count(self, view: MonitorView, rows: Sequence[tuple[str, Any]]) -> int | None:
        del view
        return len(rows)

    def chosen_backend(self) -> Backend | None:
        """The backend of the selected row, for cancel and terminate (None: no such row)."""
        return None

    def source_of(self, view: MonitorView) -> str | None:
        """The source whose disconnection dims this pane."""
        return view.main

    def status_text(self, view: MonitorView) -> Text:
        del view
        return Text()

    def show(self, view: MonitorView) -> None:
        """Render ``view``; cheap when nothing changed (the tables diff). A hidden pane only
        counts (for its name in the pane bar) and catches up when it is shown."""
        self.view = view
        rows = self.records(view)
        count = self.count(view, rows)
        self.tab_label = self.title if count is None else f"{self.title} {count}"
        if not self.display:
            self._behind = True
            return
        self._behind = False
        source = self.source_of(view)
        self.set_class(view.stale(source) or view.stalled(source) is not None, "-stale")
        self.table.set_palette(view.palette)
        self.table.set_records(rows)
        self.render_extra(view)
        self._update_status()

    def catch_up(self) -> None:
        """Render the newest view, if it arrived while the pane was hidden."""
        if self._behind and self.view is not None:
            self.show(self.view)

    def render_extra(self, view: MonitorView) -> None:
        del view

    def rerender(self) -> None:
        if self.view is not None:
            before = self.tab_label
            self.show(self.view)
            if self.tab_label != before:
                self.post_message(self.LabelChanged())

    def _update_status(self) -> None:
        if self.view is None:
            return
        text = self.status_text(self.view)
        parts = []
        if self.table.sortable and self.table.sort_key:
            spec = next((c for c in self.table.specs if c.key == self.table.sort_key), None)
            if spec is not None:
                arrow = "▼" if self.table.reverse else "▲"
                parts.append(f"sort: {spec.title} {arrow}")
        if self.table.filter_text:
            parts.append(f"filter: {self.table.filter_text}")
        limit = self.table.limit
        if limit is not None and self.table.matched > limit:
            parts.append(f"top {limit:,} of {self.table.matched:,}")
        window = self.table.window
        if window is not None:
            first, last, total = window
            parts.append(f"rows {first:,}-{last:,} of {total:,}")
        if parts:
            if text.plain:
                text.append("  ·  ")
            text.append("  ·  ".join(parts), style="italic")
        source = self.source_of(self.view)
        stalled = self.view.stalled(source)
        if self.view.stale(source):
            text = Text.assemble(("◌ stale (disconnected) · ", "bold"), text)
        elif stalled is not None:
            text = Text.assemble((f"◌ {one_line(stalled)} · ", "bold"), text)
        self.status.show(text)

    # ------------------------------------------------------------------ keys

    def focus_table(self) -> None:
        self.table.focus()

    def action_filter(self) -> None:
        self.filter_input.display = True
        self.filter_input.focus()

    def action_clear_filter(self) -> None:
        if self.filter_input.display or self.table.filter_text:
            self.filter_input.value = ""
            self.filter_input.display = False
            self.table.set_filter("")
            self._update_status()
            self.table.focus()

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.table.set_filter(event.value)
        self._update_status()

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.filter_input.display = False
        self.table.focus()

    @on(KeyedTable.SortChanged)
    def _sort_changed(self, event: KeyedTable.SortChanged) -> None:
        event.stop()
        self._update_status()

    @on(KeyedTable.Scrolled, ".pane-table")
    def _scrolled(self, event: KeyedTable.Scrolled) -> None:
        event.stop()
        self._update_status()

    @on(KeyedTable.RowSelected, ".pane-table")
    def _row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_signal(self, kind: str) -> None:
        backend = self.chosen_backend()
        if backend is None:
            self.notify("select a backend first", severity="warning", timeout=4)
            return
        self.post_message(self.SignalRequested(Signal(kind), backend))

    def action_explain(self, analyze: bool) -> None:
        record = self.chosen_backend() or self.table.selected_record
        if not isinstance(record, Backend | Statement):
            self.notify("select a query first", severity="warning", timeout=4)
            return
        self.post_message(self.ExplainRequested(record, analyze))

    def action_details(self) -> None:
        record = self.table.selected_record
        if record is not None:
            self.post_message(self.DetailsRequested(self.pane_id, record))
