"""Pane 1, Activity: pg_stat_activity of the main server, one row per backend keyed by pid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from pgtop import units
from pgtop.actions import Signal
from pgtop.model import Backend
from pgtop.sessions import GroupKey, SessionGroup, group_key, group_sessions
from pgtop.text import one_line
from pgtop.ui.format import Palette, cell, mark, num
from pgtop.ui.panes.base import EXPLAIN_BINDINGS, SIGNAL_BINDINGS, Pane
from pgtop.ui.view import MonitorView
from pgtop.ui.widgets.keyed_table import Col

__all__ = ["ActivityPane"]

_STATE_SHORT = {
    "idle in transaction": "idle xact",
    "idle in transaction (aborted)": "aborted xact",
    "fastpath function call": "fastpath",
}


def _state(b: Backend, p: Palette) -> Text:
    state = b.state or ""
    short = _STATE_SHORT.get(state, state)
    if state.startswith("idle in transaction"):
        age = b.state_s
        style = p.judged(p.thresholds.idle_in_xact_s, age)
        label = f"{short} {units.duration(age)}".strip()
        return cell(label, style)
    if state == "active" and b.wait_event_type == "Lock":
        return cell(short, p.warn)
    if state == "active":
        return cell(short, p.ok)
    return cell(short, p.dim if state == "idle" else "")


def _wait(b: Backend, p: Palette) -> Text:
    if not b.wait_event_type:
        return cell("")
    style = p.warn if b.wait_event_type == "Lock" else ""
    return cell(f"{b.wait_event_type}:{b.wait_event or ''}", style)


def _blocked(b: Backend, p: Palette) -> Text:
    return cell(",".join(str(pid) for pid in b.blocked_by), p.crit if b.blocked_by else "")


def _query(b: Backend, p: Palette) -> Text:
    return cell(b.query, p.dim if b.state == "idle" else "")


def _dur(seconds: float | None, style: str) -> Text:
    return num(units.duration(seconds), style)


def _idle_in_xact_s(b: Backend) -> float | None:
    return b.state_s if (b.state or "").startswith("idle in transaction") else None


def _mark(b: Backend, p: Palette) -> Text:
    th = p.thresholds
    return mark(
        p.breach(
            (th.idle_in_xact_s, _idle_in_xact_s(b)),
            (th.query_s, b.query_s if b.state == "active" else None),
            (th.longest_xact_s, b.xact_s),
        ),
        p,
    )


COLUMNS: tuple[Col[Backend], ...] = (
    Col("mark", "!", 1, _mark),
    Col("marked", " ", 1, lambda b, p: _marked(b, p)),
    Col("pid", "pid", 7, lambda b, _p: num(str(b.pid)), sort=lambda b: b.pid, justify="right"),
    Col("db", "db", 8, lambda b, _p: cell(b.database), priority=6),
    Col("user", "user", 8, lambda b, _p: cell(b.user), priority=5),
    Col("app", "app", 12, lambda b, _p: cell(b.application), priority=4),
    Col("client", "client", 13, lambda b, _p: cell(b.client), priority=7),
    Col("state", "state", 15, _state, sort=lambda b: b.state or ""),
    Col("wait", "wait", 12, _wait, priority=2),
    Col(
        "query_s",
        "query",
        7,
        lambda b, p: _dur(b.query_s, p.judged(p.thresholds.query_s, b.query_s)),
        sort=lambda b: b.query_s,
        justify="right",
    ),
    Col(
        "xact_s",
        "xact",
        7,
        lambda b, p: _dur(b.xact_s, p.judged(p.thresholds.longest_xact_s, b.xact_s)),
        sort=lambda b: b.xact_s,
        justify="right",
        priority=1,
    ),
    Col("blocked_by", "blocked", 8, _blocked, sort=lambda b: len(b.blocked_by), priority=3),
    Col("query", "query text", None, _query, min_width=20, min_share=0.25),
)


@dataclass(frozen=True, slots=True)
class MarkedBackend(Backend):
    """A backend the user marked (``m``) for a bulk cancel or terminate: the very same row,
    drawn with a mark (a record of its own class, so the table redraws it)."""


def _marked(b: Backend, p: Palette) -> Text:
    return num("◆", p.accent) if isinstance(b, MarkedBackend) else num("")


def _count(n: int) -> Text:
    return num(str(n) if n else "")


IDLE_XACT = ("idle in transaction", "idle in transaction (aborted)")

GROUP_COLUMNS: tuple[Col[SessionGroup], ...] = (
    Col("total", "sessions", 8, lambda g, _p: num(str(g.total)), sort=lambda g: g.total,
        justify="right"),
    Col("active", "active", 6, lambda g, _p: _count(g.count("active")),
        sort=lambda g: g.count("active"), justify="right"),
    Col("idle_xact", "idle xact", 9,
        lambda g, p: num(str(n), p.warn) if (n := g.count(*IDLE_XACT)) else num(""),
        sort=lambda g: g.count(*IDLE_XACT), justify="right"),
    Col("idle", "idle", 6, lambda g, _p: _count(g.count("idle")),
        sort=lambda g: g.count("idle"), justify="right"),
    Col("waiting", "waiting", 7, lambda g, p: num(str(g.waiting), p.crit) if g.waiting
        else num(""), sort=lambda g: g.waiting, justify="right"),
    Col("oldest", "oldest xact", 11,
        lambda g, p: num(units.duration(g.oldest_xact_s),
                         p.judged(p.thresholds.longest_xact_s, g.oldest_xact_s)),
        sort=lambda g: g.oldest_xact_s, justify="right"),
    Col("app", "application", 18, lambda g, _p: cell(g.application)),
    Col("user", "user", 12, lambda g, _p: cell(g.user)),
    Col("client", "client", 16, lambda g, _p: cell(g.client), priority=2),
    Col("db", "database", None, lambda g, _p: cell(g.database), min_width=8),
)  # fmt: skip
"""The grouped view (``g``): sessions by application, user, client and database."""

BULK_BINDINGS: list[BindingType] = [
    Binding("m", "mark", "Mark", id="activity.mark", tooltip="Mark or unmark the selected row"),
    Binding(
        "C",
        "bulk('cancel')",
        "Cancel all",
        id="activity.cancel_all",
        tooltip="Cancel the queries of the marked rows, or of every row shown (asks first)",
    ),
    Binding(
        "K",
        "bulk('terminate')",
        "Terminate all",
        id="activity.terminate_all",
        tooltip="Terminate the marked rows, or every row shown (asks first)",
    ),
]


class ActivityPane(Pane):
    """Client backends by default; ``a`` all backend types, ``i`` idle ones too; ``g`` the
    sessions grouped by who holds them (``enter`` on a group shows its sessions)."""

    class BulkRequested(Message):
        """The user asked to cancel or terminate many backends (not confirmed yet)."""

        def __init__(self, signal: Signal, backends: Sequence[Backend], why: str) -> None:
            super().__init__()
            self.signal = signal
            self.backends = list(backends)
            self.why = why

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "a",
            "toggle_all",
            "All types",
            id="activity.all",
            tooltip="Show all backend types, not only client backends",
        ),
        Binding(
            "i", "toggle_idle", "Idle", id="activity.idle", tooltip="Show or hide idle backends"
        ),
        Binding(
            "g",
            "toggle_groups",
            "Group",
            id="activity.group",
            tooltip="Sessions grouped by application, user, client and database (leaks)",
        ),
        *SIGNAL_BINDINGS,
        *EXPLAIN_BINDINGS,
        *BULK_BINDINGS,
    ]

    pane_id = "activity"
    title = "Activity"
    COLUMNS = COLUMNS
    SORT = "xact_s"

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False
        self.show_idle = False
        self.grouped = False
        self.group: GroupKey | None = None
        """Only this group's sessions (chosen with ``enter`` in the grouped view)."""
        self.marks: set[tuple[int, datetime | None]] = set()
        """Marked backends by (pid, backend_start): a reused pid is never marked."""

    def _backends(self, view: MonitorView) -> list[Backend]:
        sample = view.main_sample
        if sample is None:
            return []
        own = sample.info.backend_pid if sample.info is not None else None
        return [b for b in sample.activity if b.pid != own]

    def records(self, view: MonitorView) -> Sequence[tuple[str, Any]]:
        backends = self._backends(view)
        if self.grouped:
            return [("|".join(map(str, g.key)), g) for g in group_sessions(backends)]
        present = {(b.pid, b.backend_start) for b in backends}
        self.marks &= present  # a backend that ended loses its mark
        return [
            (str(b.pid), self._drawn(b))
            for b in backends
            if (self.show_all or b.is_client or self.group is not None)
            and (self.show_idle or b.state != "idle" or self.group is not None)
            and (self.group is None or group_key(b) == self.group)
        ]

    def _drawn(self, b: Backend) -> Backend:
        if (b.pid, b.backend_start) not in self.marks:
            return b
        return MarkedBackend(**{f.name: getattr(b, f.name) for f in fields(Backend)})

    def count(self, view: MonitorView, rows: Sequence[tuple[str, Any]]) -> int | None:
        del view
        if self.grouped:
            return sum(int(g.total) for _, g in rows)
        return len(rows)

    def chosen_backend(self) -> Backend | None:
        record = self.table.selected_record
        return record if isinstance(record, Backend) else None

    def shown_backends(self) -> list[Backend]:
        """The rows the table shows now (filter and group applied), in display order."""
        table = self.table
        return [b for key in table.shown_keys if isinstance(b := table.record(key), Backend)]

    def action_toggle_groups(self) -> None:
        self.grouped = not self.grouped
        self.table.set_records([])  # the rows of one kind never meet the columns of the other
        if self.grouped:
            self.table.set_columns(GROUP_COLUMNS, "total")
        else:
            self.table.set_columns(COLUMNS, self.SORT)
        self.rerender()

    def action_details(self) -> None:
        record = self.table.selected_record
        if self.grouped and isinstance(record, SessionGroup):
            self.group = record.key
            self.action_toggle_groups()
            return
        super().action_details()

    def action_clear_filter(self) -> None:
        if self.group is not None and not (self.filter_input.display or self.table.filter_text):
            self.group = None
            self.rerender()
            return
        super().action_clear_filter()

    def action_mark(self) -> None:
        backend = self.chosen_backend()
        if backend is None:
            self.notify("select a backend first", severity="warning", timeout=4)
            return
        key = (backend.pid, backend.backend_start)
        self.marks.symmetric_difference_update({key})
        self.rerender()
        self.table.action_cursor(1)

    def action_bulk(self, kind: str) -> None:
        if self.grouped:
            self.notify("enter a group first (or g back to the sessions)", severity="warning")
            return
        shown = self.shown_backends()
        marked: list[Backend] = [b for b in shown if isinstance(b, MarkedBackend)]
        if marked:
            targets, why = marked, f"the {len(marked)} marked"
        else:
            targets = shown
            why = "every row shown" + (" (filter or group applied)" if self._narrowed() else "")
        if not targets:
            self.notify("no rows to act on", severity="warning", timeout=4)
            return
        self.post_message(self.BulkRequested(Signal(kind), targets, why))

    def _narrowed(self) -> bool:
        return self.group is not None or bool(self.table.filter_text)

    def clear_marks(self) -> None:
        self.marks.clear()
        self.rerender()

    def status_text(self, view: MonitorView) -> Text:
        sample = view.main_sample
        text = Text()
        if self.grouped:
            text.append("sessions by application, user, client, database · enter shows a group")
            return text
        if self.group is not None:
            app, user, client, database = self.group
            text.append(
                one_line(
                    f"group: {app or '—'} · {user or '—'} · {client or '—'} · "
                    f"{database or '—'} (esc: all)"
                ),  # fmt: skip
                style="bold",
            )
            text.append(" · ")
        text.append("all backend types" if self.show_all else "client backends")
        text.append(" · idle shown" if self.show_idle else " · idle hidden")
        if self.marks:
            text.append(f" · {len(self.marks)} marked (C / K act on them)", style="bold")
        if sample is not None and sample.stats is not None:
            s = sample.stats
            text.append(
                f" · {s.active} active · {s.idle_in_transaction} idle in xact"
                f" · {s.waiting_on_locks} waiting"
            )
        return text

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.rerender()

    def action_toggle_idle(self) -> None:
        self.show_idle = not self.show_idle
        self.rerender()
