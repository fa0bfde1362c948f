"""Pane 3, Replication, role-aware: on a primary its standbys, slots and archiver; on a standby its
receive/replay lag; with several sources both sides; and a replay lag chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from pgtop import units
from pgtop.health import slot_level
from pgtop.model import Archiver, Level, Replica, Role, Sample, Slot, StandbyStatus
from pgtop.ui.format import Palette, cell, mark, num
from pgtop.ui.panes.base import Pane
from pgtop.ui.view import MonitorView
from pgtop.ui.widgets.charts import MetricChart
from pgtop.ui.widgets.keyed_table import Col, KeyedTable
from pgtop.ui.widgets.line import Line

__all__ = ["ReplicationPane", "max_replay_lag"]


def _lag(seconds: float | None, p: Palette) -> Text:
    return num(units.duration(seconds), p.judged(p.thresholds.replication_lag_s, seconds))


def max_replay_lag(sample: Sample) -> float | None:
    """The replication lag a chart shows: worst standby on a primary, own lag on a standby."""
    rep = sample.replication
    if rep is None:
        return None
    if rep.standby is not None:
        return rep.standby.replay_lag_s
    lags = [r.replay_lag_s for r in rep.replicas if r.replay_lag_s is not None]
    return max(lags) if lags else (0.0 if rep.replicas else None)


def _replica_mark(r: Replica, p: Palette) -> Text:
    return mark(p.breach((p.thresholds.replication_lag_s, r.replay_lag_s)), p)


def _slot_level(s: Slot, p: Palette) -> Level:
    """As health judges the slot (one judgement: :func:`pgtop.health.slot_level`)."""
    return slot_level(s, p.thresholds.slot_retained_wal_bytes)


REPLICA_COLUMNS: tuple[Col[Replica], ...] = (
    Col("mark", "!", 1, _replica_mark),
    Col("pid", "pid", 7, lambda r, _p: num(str(r.pid)), sort=lambda r: r.pid, justify="right"),
    Col("application", "standby", 16, lambda r, _p: cell(r.application)),
    Col("client", "client", 15, lambda r, _p: cell(r.client), priority=4),
    Col(
        "state",
        "state",
        10,
        lambda r, p: cell(r.state, p.ok if r.state == "streaming" else p.warn),
    ),
    Col("sync", "sync", 7, lambda r, _p: cell(r.sync_state), priority=3),
    Col(
        "sent",
        "sent lag",
        10,
        lambda r, _p: num(units.size(r.sent_lag_bytes)),
        sort=lambda r: r.sent_lag_bytes,
        justify="right",
        priority=2,
    ),
    Col(
        "replay_b",
        "replay lag",
        10,
        lambda r, _p: num(units.size(r.replay_lag_bytes)),
        sort=lambda r: r.replay_lag_bytes,
        justify="right",
    ),
    Col("write_s", "write", 8, lambda r, p: _lag(r.write_lag_s, p), justify="right", priority=5),
    Col("flush_s", "flush", 8, lambda r, p: _lag(r.flush_lag_s, p), justify="right", priority=5),
    Col(
        "replay_s",
        "replay",
        8,
        lambda r, p: _lag(r.replay_lag_s, p),
        sort=lambda r: r.replay_lag_s,
        justify="right",
    ),
    Col("reply", "reply age", None, lambda r, _p: cell(units.duration(r.reply_age_s)), min_width=9),
)


def _wal_status(s: Slot, p: Palette) -> Text:
    bad = s.wal_status in ("unreserved", "lost")
    return cell(s.wal_status, p.crit if bad else p.warn if s.wal_status == "extended" else "")


SLOT_COLUMNS: tuple[Col[Slot], ...] = (
    Col("mark", "!", 1, lambda s, p: mark(_slot_level(s, p), p)),
    Col("name", "slot", 20, lambda s, _p: cell(s.name)),
    Col("type", "type", 9, lambda s, _p: cell(s.slot_type)),
    Col(
        "active",
        "active",
        7,
        lambda s, p: cell("yes" if s.active else "NO", "" if s.active else p.warn),
    ),
    Col("pid", "pid", 7, lambda s, _p: num(str(s.active_pid or "")), justify="right", priority=2),
    Col("db", "db", 10, lambda s, _p: cell(s.database), priority=3),
    Col(
        "retained",
        "retained WAL",
        12,
        lambda s, p: num(units.size(s.retained_wal_bytes), p.alarm(_slot_level(s, p))),
        sort=lambda s: s.retained_wal_bytes,
        justify="right",
    ),
    Col("wal_status", "wal_status", None, _wal_status, min_width=10),
)


@dataclass(frozen=True, slots=True)
class StandbyRow:
    source: str
    status: StandbyStatus


STANDBY_COLUMNS: tuple[Col[StandbyRow], ...] = (
    Col("source", "standby (source)", 24, lambda r, _p: cell(r.source)),
    Col(
        "receiver",
        "receiver",
        10,
        lambda r, p: cell(
            r.status.wal_receiver_status or "none",
            p.ok if r.status.wal_receiver_status == "streaming" else p.crit,
        ),
    ),
    Col("upstream", "upstream", 18, lambda r, _p: cell(r.status.upstream), priority=3),
    Col("receive", "receive lsn", 12, lambda r, _p: cell(r.status.receive_lsn), priority=2),
    Col("replay", "replay lsn", 12, lambda r, _p: cell(r.status.replay_lsn), priority=2),
    Col(
        "lag_b",
        "recv-replay",
        11,
        lambda r, _p: num(units.size(r.status.receive_replay_lag_bytes)),
        justify="right",
    ),
    Col(
        "lag_s",
        "replay lag",
        10,
        lambda r, p: _lag(r.status.replay_lag_s, p),
        justify="right",
    ),
    Col(
        "paused",
        "paused",
        None,
        lambda r, p: (
            cell("PAUSED" if r.status.replay_paused else "no", p.warn)
            if r.status.replay_paused
            else cell("no")
        ),
        min_width=6,
    ),
)


def _archiver_text(a: Archiver | None, p: Palette) -> Text:
    """One line, trouble first (it is cut at the right edge on a narrow screen)."""
    if a is None:
        return Text("archiver: not visible")
    text = Text("archiver: ")
    if a.archive_mode == "off":
        text.append("archive_mode off")
        return text
    if a.failing:
        text.append("✖ FAILING", style=p.crit)
        if a.last_failed_wal:
            text.append(
                f" ({a.last_failed_wal} {units.duration(a.last_failed_age_s)} ago)", style=p.crit
            )
        text.append(" · ")
    if a.failed_count:
        text.append(f"failed {a.failed_count}", style=p.warn)
        text.append(" · ")
    text.append(f"mode {a.archive_mode} · archived {a.archived_count}")
    if a.last_archived_wal:
        text.append(" · last ")
        text.append(a.last_archived_wal)
        text.append(f" {units.duration(a.last_archived_age_s)} ago")
    return text


class ReplicationPane(Pane):
    pane_id = "replication"
    title = "Replication"
    COLUMNS = REPLICA_COLUMNS
    SORT = "application"
    REVERSE = False

    def __init__(self) -> None:
        super().__init__()
        self.standbys_title = Static("standbys of the primary", classes="section-title")
        self.slots_title = Static("replication slots", classes="section-title")
        self.slots = KeyedTable(SLOT_COLUMNS, sort_key="name", classes="pane-table-small")
        self.archiver = Line(fixed_height=True, classes="archiver")
        self.standby_title = Static("standby status", classes="section-title")
        self.standby = KeyedTable(STANDBY_COLUMNS, sort_key="source", classes="pane-table-small")
        self.chart = MetricChart("replay lag", unit="s", colour_var="warning", classes="lag-chart")

    def compose_extra_top(self) -> ComposeResult:
        yield self.standbys_title

    def compose_extra(self) -> ComposeResult:
        yield self.slots_title
        yield self.slots
        yield self.archiver
        yield self.standby_title
        yield self.standby
        yield self.chart

    def _primaries(self, view: MonitorView) -> list[Sample]:
        return [
            s
            for s in view.postgres()
            if s.replication is not None and s.replication.role is Role.PRIMARY
        ]

    def _standbys(self, view: MonitorView) -> list[Sample]:
        return [
            s
            for s in view.postgres()
            if s.replication is not None and s.replication.standby is not None
        ]

    def records(self, view: MonitorView) -> Sequence[tuple[str, Replica]]:
        rows: list[tuple[str, Replica]] = []
        for sample in self._primaries(view):
            assert sample.replication is not None
            rows.extend((f"{sample.source}/{r.pid}", r) for r in sample.replication.replicas)
        return rows

    def count(self, view: MonitorView, rows: Sequence[tuple[str, object]]) -> int | None:
        return len(rows) + len(self._standbys(view))

    def render_extra(self, view: MonitorView) -> None:
        primaries = self._primaries(view)
        standbys = self._standbys(view)
        on_primary = bool(primaries)
        for widget in (self.standbys_title, self.table, self.slots_title, self.slots):
            widget.display = on_primary
        self.archiver.display = on_primary
        self.standby_title.display = bool(standbys)
        self.standby.display = bool(standbys)
        self.slots.set_palette(view.palette)
        self.standby.set_palette(view.palette)
        slots = [
            (f"{s.source}/{slot.name}", slot)
            for s in primaries
            for slot in (s.replication.slots if s.replication else ())
        ]
        self.slots.set_records(slots)
        first = primaries[0] if primaries else None
        archiver = first.replication.archiver if first and first.replication else None
        self.archiver.show(_archiver_text(archiver, view.palette))
        self.standby.set_records(
            [
                (s.source, StandbyRow(s.source, s.replication.standby))
                for s in standbys
                if s.replication is not None and s.replication.standby is not None
            ]
        )
        source = view.main if view.main is not None else (standbys[0].source if standbys else None)
        if source is not None:
            self.chart.follow(view.history, source, max_replay_lag)

    def status_text(self, view: MonitorView) -> Text:
        primaries = self._primaries(view)
        standbys = self._standbys(view)
        if not primaries and not standbys:
            return Text("no replication information yet")
        parts = []
        for s in primaries:
            n = len(s.replication.replicas) if s.replication else 0
            parts.append(f"{s.source}: primary with {n} standby(s)")
        for s in standbys:
            parts.append(f"{s.source}: standby")
        return Text(" · ".join(parts))
