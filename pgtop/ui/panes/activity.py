"""Pane 1, Activity: pg_stat_activity of the main server, one row per backend keyed by pid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from pgtop import units
from pgtop.model import Backend
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


class ActivityPane(Pane):
    """Client backends by default; ``a`` all backend types, ``i`` idle ones too."""

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
        *SIGNAL_BINDINGS,
        *EXPLAIN_BINDINGS,
    ]

    pane_id = "activity"
    title = "Activity"
    COLUMNS = COLUMNS
    SORT = "xact_s"

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False
        self.show_idle = False

    def records(self, view: MonitorView) -> Sequence[tuple[str, Backend]]:
        sample = view.main_sample
        if sample is None:
            return []
        own = sample.info.backend_pid if sample.info is not None else None
        return [
            (str(b.pid), b)
            for b in sample.activity
            if b.pid != own
            and (self.show_all or b.is_client)
            and (self.show_idle or b.state != "idle")
        ]

    def chosen_backend(self) -> Backend | None:
        record = self.table.selected_record
        return record if isinstance(record, Backend) else None

    def status_text(self, view: MonitorView) -> Text:
        sample = view.main_sample
        text = Text()
        text.append("all backend types" if self.show_all else "client backends")
        text.append(" · idle shown" if self.show_idle else " · idle hidden")
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
