"""Backend details (``enter`` on an activity row or a locks-tree node): the whole story of one
backend, refreshed with every tick.

Who and where, the timeline (each moment as a time and an age), the lock story in both
directions (the chain up to the root blocker, the subtree it blocks), the locks it holds and
awaits (read on demand with ``l``, on pgtop's action session: never in a tick), and the full
query text, SQL-highlighted after control characters were made visible. When the backend is
gone the screen says when, and keeps the last data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pgtop import units
from pgtop.actions import Inspector, LockReport
from pgtop.collect.locktree import lineage
from pgtop.model import Backend, LockNode, Sample
from pgtop.text import one_line, visible

__all__ = [
    "BackendScreen",
    "find_backend",
    "is_truncated",
    "query_view",
    "warm_up_highlighting",
]


def find_backend(sample: Sample, pid: int, backend_start: datetime | None) -> Backend | None:
    """``pid`` in ``sample`` if it is still the backend started at ``backend_start``."""
    for backend in sample.activity:
        if backend.pid == pid:
            same = backend_start is None or backend.backend_start == backend_start
            return backend if same else None
    return None


def is_truncated(query: str, limit: int | None) -> bool:
    """Whether the server cut ``query`` at ``track_activity_query_size`` (bytes, the last one
    kept for the terminator)."""
    return limit is not None and len(query.encode("utf-8")) >= limit - 1


HIGHLIGHTED_CHARS = 4096
"""A longer text is highlighted up to here and plain after it: lexing and wrapping a
highlighted 60,000-character IN list takes ~0.8 s (the screen would freeze on enter), the
plain rest ~25 ms."""


def warm_up_highlighting() -> None:
    """Load the SQL lexer now: pygments compiles its rules on first use (~25 ms), which would
    otherwise land on the first enter on a row (the app calls this once it is idle)."""
    Syntax("SELECT 1", "sql").highlight("SELECT 1")


def query_view(query: str, *, dark: bool) -> RenderableType:
    """The text SQL-highlighted, wrapped; controls and bidi characters already visible (the
    lexer only ever sees neutralised text)."""
    if not query:
        return Text("(no query text)", style="italic")
    shown = visible(query)
    syntax = Syntax(
        shown,
        "sql",
        theme="ansi_dark" if dark else "ansi_light",
        word_wrap=True,
        background_color="default",
    )
    if len(shown) <= HIGHLIGHTED_CHARS:
        return syntax
    head = shown[:HIGHLIGHTED_CHARS]
    text = syntax.highlight(head)
    if text.plain.endswith("\n") and not head.endswith("\n"):
        text.right_crop(1)  # the lexer's own final newline
    text.append(shown[HIGHLIGHTED_CHARS:])
    return text


def _field_table() -> Table:
    table = Table(show_header=False, box=None, expand=False, padding=(0, 1, 0, 0))
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    return table


def _moment(moment: datetime | None, age: float | None) -> Text:
    if moment is None:
        return Text("—")
    when = f"{moment:%Y-%m-%d} {units.clock(moment)} UTC"
    return Text(f"{when}  ({units.duration(age)} ago)" if age is not None else when)


def _waits_for(node: LockNode) -> str:
    if node.mode is None:
        return "waits for no lock"
    target = node.relation or node.locktype or "?"
    waited = f" for {units.duration(node.waited_s)}" if node.waited_s is not None else ""
    return f"waits for {node.mode} on {one_line(target)}{waited}"


def _node_line(node: LockNode, lead: str) -> Text:
    app = f' "{one_line(node.application)}"' if node.application else ""
    state = one_line(node.state or "?")
    xact = f", xact {units.duration(node.xact_s)}" if node.xact_s is not None else ""
    return Text(f"{lead}pid {node.pid}{app} {state}{xact}, {_waits_for(node)}")


class BackendScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="backend.close"),
        Binding("y", "copy", "Copy query", id="backend.copy", tooltip="Copy the query (OSC 52)"),
        Binding(
            "l",
            "read_locks",
            "Locks",
            id="backend.locks",
            tooltip="Read the locks it holds and awaits (on pgtop's action session)",
        ),
        Binding("e", "explain(False)", "EXPLAIN", id="backend.explain"),
        Binding("E", "explain(True)", "EXPLAIN ANALYZE", id="backend.analyze"),
    ]

    def __init__(
        self,
        source: str,
        backend: Backend,
        sample: Sample,
        *,
        inspector: Inspector | None = None,
        explain: Callable[[Backend, str, bool], None] | None = None,
    ) -> None:
        super().__init__(id="backend-screen")
        self.source = source
        self.backend = backend
        self.sample = sample
        self.ended_at: datetime | None = None
        self.inspector = inspector
        self.explain = explain
        self.lock_report: LockReport | None = None
        self.reading_locks = False
        self._body = Static(id="backend-facts")
        self._query = Static(id="detail-query")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield self._body
            yield Static("query", classes="section-title")
            yield self._query
            yield Static(
                "esc closes · y copies the query · l reads its locks · e EXPLAIN · "
                "E EXPLAIN ANALYZE",
                classes="hint",
            )

    def on_mount(self) -> None:
        self._draw(query_too=True)

    # ------------------------------------------------------------------ refresh

    def follow(self, sample: Sample | None) -> None:
        """A new tick of the backend's server: redraw, or say it ended (keeping the data)."""
        if sample is None or not sample.connected or sample.error or self.ended_at is not None:
            return
        found = find_backend(sample, self.backend.pid, self.backend.backend_start)
        if found is None:
            self.ended_at = sample.taken_at
            self._draw(query_too=False)
            return
        query_changed = found.query != self.backend.query
        self.backend, self.sample = found, sample
        self._draw(query_too=query_changed)

    def _draw(self, *, query_too: bool) -> None:
        self._body.update(self._facts())
        if query_too:
            dark = self.app.current_theme.dark if self.is_attached else True
            note = self._truncation_note()
            view = query_view(self.backend.query, dark=dark)
            self._query.update(Group(Text(note, style="bold"), view) if note else view)

    def _truncation_note(self) -> str:
        limit = self.sample.info.track_activity_query_size if self.sample.info else None
        if not is_truncated(self.backend.query, limit):
            return ""
        return (
            f"truncated by the server at {limit:,} bytes (track_activity_query_size); "
            "pg_stat_statements may hold the whole text"
        )

    def _facts(self) -> Group:
        b, sample = self.backend, self.sample
        title = Text(f"{self.source}: backend {b.pid}", style="bold")
        if self.ended_at is not None:
            title.append(
                f"  ·  backend ended at {units.clock(self.ended_at)} UTC (last data kept)",
                style="bold reverse",
            )
        who = _field_table()
        who.add_row("user", Text(one_line(b.user or "—")))
        who.add_row("database", Text(one_line(b.database or "—")))
        who.add_row("application", Text(one_line(b.application or "—")))
        who.add_row("client", Text(one_line(b.client or "—")))
        who.add_row("backend type", Text(one_line(b.backend_type)))
        who.add_row("leader pid", Text(str(b.leader_pid) if b.leader_pid else "—"))
        since = (sample.taken_at - b.backend_start).total_seconds() if b.backend_start else None
        timeline = _field_table()
        timeline.add_row("backend start", _moment(b.backend_start, since))
        timeline.add_row("transaction start", _moment(b.xact_start, b.xact_s))
        timeline.add_row("query start", _moment(b.query_start, b.query_s))
        timeline.add_row("state change", _moment(b.state_change, b.state_s))
        timeline.add_row("state", Text(one_line(b.state or "—")))
        wait = f"{b.wait_event_type}:{b.wait_event or ''}" if b.wait_event_type else "—"
        timeline.add_row("wait event", Text(one_line(wait)))
        timeline.add_row("xid age", Text(units.count(b.xid_age) or "—"))
        timeline.add_row("xmin age", Text(units.count(b.xmin_age) or "—"))
        return Group(
            title,
            Text("who and where", style="bold underline"),
            who,
            Text("timeline", style="bold underline"),
            timeline,
            Text("lock story", style="bold underline"),
            self._lock_story(),
            Text("locks held and awaited", style="bold underline"),
            self._lock_table(),
        )

    def _lock_story(self) -> RenderableType:
        found = lineage(self.sample.locks, self.backend.pid)
        if found is None:
            return Text("neither blocked nor blocking")
        above, own = found
        lines: list[Text] = []
        for depth, node in enumerate(above):
            lead = "root blocker " if depth == 0 else "  " * depth + "└ "
            lines.append(_node_line(node, lead))
        me = _node_line(own, "  " * len(above) + ("└ " if above else "") + "this: ")
        me.stylize("bold")
        lines.append(me)
        below = [(depth, node) for depth, node in own.walk() if node is not own]
        for depth, node in below[:50]:
            lines.append(_node_line(node, "  " * (len(above) + depth) + "└ blocks "))
        if len(below) > 50:
            lines.append(Text(f"… and {len(below) - 50} more it blocks"))
        return Group(*lines)

    def _lock_table(self) -> RenderableType:
        report = self.lock_report
        if self.reading_locks:
            return Text("reading…", style="italic")
        if report is None:
            if self.inspector is None:
                return Text("not available here (no server session)", style="italic")
            return Text("press l to read them (one query on pgtop's action session)")
        if report.error is not None:
            return Text(one_line(report.error))
        if not report.locks:
            return Text("none (or the backend has ended)")
        table = Table(box=None, padding=(0, 1, 0, 0))
        for name in ("", "count", "mode", "on", "database"):
            table.add_column(name, no_wrap=True)
        for lock in report.locks:
            table.add_row(
                Text("awaits" if not lock.granted else "holds", "bold" if not lock.granted else ""),
                Text(str(lock.count)),
                Text(one_line(lock.mode)),
                Text(one_line(lock.target or lock.locktype)),
                Text(one_line(lock.database or "—")),
            )
        return table

    # ------------------------------------------------------------------ keys

    def action_copy(self) -> None:
        if not self.backend.query:
            self.notify("no query text to copy", severity="warning", timeout=4)
            return
        self.app.copy_to_clipboard(self.backend.query)
        self.notify("query copied to the clipboard (OSC 52)", timeout=4)

    def action_read_locks(self) -> None:
        if self.inspector is None:
            self.notify("reading locks is not available here", severity="warning", timeout=4)
            return
        self.reading_locks = True
        self._draw(query_too=False)
        self._read_locks()

    @work(group="backend-locks", exclusive=True, exit_on_error=False)
    async def _read_locks(self) -> None:
        assert self.inspector is not None
        try:
            self.lock_report = await self.inspector.locks(
                self.backend.pid, self.backend.backend_start
            )
        finally:
            self.reading_locks = False
        if self.is_attached:
            self._draw(query_too=False)

    def action_explain(self, analyze: bool) -> None:
        if self.explain is None:
            self.notify("EXPLAIN is not available here", severity="warning", timeout=4)
            return
        self.explain(self.backend, self.source, analyze)
