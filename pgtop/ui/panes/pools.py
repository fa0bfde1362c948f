"""Pane 4, Pools: PgBouncer pools and per-database stats rates (or how to add a PgBouncer)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from pgtop import units
from pgtop.model import BouncerStats, Pool
from pgtop.ui.format import Palette, cell, mark, num
from pgtop.ui.panes.base import Pane
from pgtop.ui.view import MonitorView
from pgtop.ui.widgets.keyed_table import Col, KeyedTable

__all__ = ["HOW_TO_ADD", "PoolsPane"]

HOW_TO_ADD = (
    "No PgBouncer is being watched. Start pgtop with --pgbouncer "
    "'host=… port=6432 dbname=pgbouncer user=…' (the user must be in stats_users)."
)


def _waiting(pool: Pool, p: Palette) -> Text:
    n = pool.cl_waiting
    return num(str(n), p.judged(p.thresholds.pgbouncer_waiting_clients, n))


def _util(pool: Pool, p: Palette) -> Text:
    pct = pool.utilisation_pct
    return num(units.percent(pct), p.judged(p.thresholds.pool_utilisation_pct, pct))


def _maxwait(pool: Pool, p: Palette) -> Text:
    w = pool.maxwait_s
    return num(units.duration(w) if w else "0", p.judged(p.thresholds.pool_maxwait_s, w))


def _pool_mark(pool: Pool, p: Palette) -> Text:
    th = p.thresholds
    return mark(
        p.breach(
            (th.pgbouncer_waiting_clients, pool.cl_waiting),
            (th.pool_utilisation_pct, pool.utilisation_pct),
            (th.pool_maxwait_s, pool.maxwait_s),
        ),
        p,
    )


POOL_COLUMNS: tuple[Col[Pool], ...] = (
    Col("mark", "!", 1, _pool_mark),
    Col("database", "database", 12, lambda x, _p: cell(x.database)),
    Col("user", "user", 10, lambda x, _p: cell(x.user)),
    Col("cl_active", "cl act", 6, lambda x, _p: num(str(x.cl_active)), sort=lambda x: x.cl_active),
    Col("cl_waiting", "cl wait", 9, _waiting, sort=lambda x: x.cl_waiting),
    Col("sv_active", "sv act", 6, lambda x, _p: num(str(x.sv_active)), sort=lambda x: x.sv_active),
    Col(
        "sv_idle",
        "sv idle",
        7,
        lambda x, _p: num(str(x.sv_idle)),
        sort=lambda x: x.sv_idle,
        priority=1,
    ),
    Col(
        "sv_used",
        "sv used",
        7,
        lambda x, _p: num(str(x.sv_used)),
        sort=lambda x: x.sv_used,
        priority=2,
    ),
    Col("maxwait", "maxwait", 8, _maxwait, sort=lambda x: x.maxwait_s),
    Col("mode", "mode", 11, lambda x, _p: cell(x.pool_mode), priority=3),
    Col(
        "size",
        "size",
        5,
        lambda x, _p: num("" if x.pool_size is None else str(x.pool_size)),
        sort=lambda x: x.pool_size,
        priority=4,
    ),
    Col("util", "util %", 8, _util, sort=lambda x: x.utilisation_pct, justify="right"),
    Col("pad", "", None, lambda _x, _p: Text(""), min_width=1),
)

STATS_COLUMNS: tuple[Col[BouncerStats], ...] = (
    Col("database", "database", 12, lambda s, _p: cell(s.database)),
    Col(
        "xact",
        "xact/s",
        8,
        lambda s, _p: num(units.rate(s.xact_per_s)),
        sort=lambda s: s.xact_per_s,
    ),
    Col(
        "query",
        "query/s",
        8,
        lambda s, _p: num(units.rate(s.query_per_s)),
        sort=lambda s: s.query_per_s,
    ),
    Col("avg_xact", "avg xact ms", 11, lambda s, _p: num(units.milliseconds(s.avg_xact_ms))),
    Col("avg_query", "avg query ms", 12, lambda s, _p: num(units.milliseconds(s.avg_query_ms))),
    Col(
        "avg_wait",
        "avg wait ms",
        11,
        lambda s, _p: num(units.milliseconds(s.avg_wait_ms)),
        priority=1,
    ),
    Col("in", "in/s", 10, lambda s, _p: num(units.size(s.bytes_in_per_s)), priority=3),
    Col("out", "out/s", 10, lambda s, _p: num(units.size(s.bytes_out_per_s)), priority=2),
    Col("pad", "", None, lambda _s, _p: Text(""), min_width=1),
)


class PoolsPane(Pane):
    pane_id = "pools"
    title = "Pools"
    COLUMNS = POOL_COLUMNS
    SORT = "cl_waiting"

    def __init__(self) -> None:
        super().__init__()
        self.empty = Static(HOW_TO_ADD, classes="empty-hint")
        self.stats_title = Static("stats per database (rates)", classes="section-title")
        self.stats = KeyedTable(STATS_COLUMNS, sort_key="xact", classes="pane-table-small")

    def compose_extra_top(self) -> ComposeResult:
        yield self.empty

    def compose_extra(self) -> ComposeResult:
        yield self.stats_title
        yield self.stats

    def source_of(self, view: MonitorView) -> str | None:
        return next((s.source for s in view.bouncers()), None)

    def records(self, view: MonitorView) -> Sequence[tuple[str, Pool]]:
        multi = len(list(view.bouncers())) > 1
        return [
            (f"{b.source}/{p.database}/{p.user}" if multi else f"{p.database}/{p.user}", p)
            for b in view.bouncers()
            for p in b.pools
        ]

    def count(self, view: MonitorView, rows: Sequence[tuple[str, object]]) -> int | None:
        return len(rows) if view.has_bouncer else None

    def render_extra(self, view: MonitorView) -> None:
        has = view.has_bouncer
        self.empty.display = not has
        for widget in (self.table, self.stats_title, self.stats):
            widget.display = has
        self.stats.set_palette(view.palette)
        self.stats.set_records(
            [(f"{b.source}/{s.database}", s) for b in view.bouncers() for s in b.stats]
        )

    def status_text(self, view: MonitorView) -> Text:
        parts = []
        for b in view.bouncers():
            version = b.info.version if b.info else "?"
            parts.append(
                f"{b.source} (PgBouncer {version}): {b.clients if b.clients is not None else '?'}"
                f" clients · {b.servers if b.servers is not None else '?'} servers"
            )
        return Text(" · ".join(parts))
