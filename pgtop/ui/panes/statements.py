"""Pane 5, Statements: top pg_stat_statements entries by execution time, per interval (default)
or cumulative (``t``); the reason when pg_stat_statements is not available. Only the top 500 by
the current sort are shown (the status line says "top 500 of 11,153")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from pgtop import units
from pgtop.model import Statement
from pgtop.ui.format import Palette, cell, num
from pgtop.ui.panes.base import EXPLAIN_BINDINGS, Pane
from pgtop.ui.view import MonitorView
from pgtop.ui.widgets.keyed_table import Col

__all__ = ["StatementsPane"]


def _hit(s: Statement, p: Palette) -> Text:
    ratio = s.hit_ratio
    if ratio is None:
        return num("")
    pct = 100 * ratio
    return num(units.percent(pct), p.judged(p.thresholds.cache_hit_pct, pct))


INTERVAL_COLUMNS: tuple[Col[Statement], ...] = (
    Col(
        "exec_ms_per_s",
        "ms/s",
        8,
        lambda s, _p: num(units.milliseconds(s.exec_ms_per_s)),
        sort=lambda s: s.exec_ms_per_s,
        justify="right",
    ),
    Col(
        "calls_per_s",
        "calls/s",
        8,
        lambda s, _p: num(units.rate(s.calls_per_s)),
        sort=lambda s: s.calls_per_s,
        justify="right",
    ),
    Col(
        "mean_ms_interval",
        "mean ms",
        8,
        lambda s, _p: num(units.milliseconds(s.mean_ms_interval)),
        sort=lambda s: s.mean_ms_interval,
        justify="right",
    ),
    Col(
        "rows_per_s",
        "rows/s",
        8,
        lambda s, _p: num(units.rate(s.rows_per_s)),
        sort=lambda s: s.rows_per_s,
        justify="right",
        priority=2,
    ),
    Col("hit", "hit %", 7, _hit, sort=lambda s: s.hit_ratio, justify="right", priority=3),
    Col(
        "shared_read_per_s",
        "reads/s",
        8,
        lambda s, _p: num(units.rate(s.shared_read_per_s)),
        sort=lambda s: s.shared_read_per_s,
        justify="right",
        priority=4,
    ),
    Col("user", "user", 10, lambda s, _p: cell(s.user), priority=5),
    Col(
        "query",
        "query",
        None,
        lambda s, _p: cell(s.query or f"(queryid {s.queryid})"),
        min_share=0.25,
    ),
)


def _vs_base(s: Statement, p: Palette) -> Text:
    """The interval's mean over the baseline's (``--baseline``): ``×2.3``, judged 2x / 5x."""
    ratio = p.baseline.ratio(s) if p.baseline is not None else None
    if ratio is None:
        return num("")
    assert p.baseline is not None
    return num(f"×{ratio:.1f}", p.judged(p.baseline.threshold, ratio))


VS_BASE = Col(
    "vs_base",
    "vs base",
    8,
    _vs_base,
    sort=None,
    justify="right",
)
"""Shown only with ``--baseline``: after the interval mean."""

BASE_COLUMNS: tuple[Col[Statement], ...] = (*INTERVAL_COLUMNS[:3], VS_BASE, *INTERVAL_COLUMNS[3:])

CUMULATIVE_COLUMNS: tuple[Col[Statement], ...] = (
    Col(
        "total_exec_ms",
        "total ms",
        10,
        lambda s, _p: num(units.milliseconds(s.total_exec_ms)),
        sort=lambda s: s.total_exec_ms,
        justify="right",
    ),
    Col(
        "calls",
        "calls",
        9,
        lambda s, _p: num(str(s.calls)),
        sort=lambda s: s.calls,
        justify="right",
    ),
    Col(
        "mean_ms",
        "mean ms",
        8,
        lambda s, _p: num(units.milliseconds(s.mean_ms)),
        sort=lambda s: s.mean_ms,
        justify="right",
    ),
    Col(
        "max_ms",
        "max ms",
        8,
        lambda s, _p: num(units.milliseconds(s.max_ms)),
        sort=lambda s: s.max_ms,
        justify="right",
        priority=3,
    ),
    Col(
        "rows",
        "rows",
        9,
        lambda s, _p: num(str(s.rows)),
        sort=lambda s: s.rows,
        justify="right",
        priority=2,
    ),
    Col("hit", "hit %", 7, _hit, sort=lambda s: s.hit_ratio, justify="right", priority=4),
    Col("user", "user", 10, lambda s, _p: cell(s.user), priority=5),
    Col(
        "query",
        "query",
        None,
        lambda s, _p: cell(s.query or f"(queryid {s.queryid})"),
        min_share=0.25,
    ),
)


class StatementsPane(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "t",
            "toggle_cumulative",
            "Interval/total",
            id="statements.cumulative",
            tooltip="Switch between per-interval rates and cumulative totals",
        ),
        *EXPLAIN_BINDINGS,
    ]

    pane_id = "statements"
    title = "Statements"
    COLUMNS = INTERVAL_COLUMNS
    SORT = "exec_ms_per_s"
    LIMIT = 500  # pg_stat_statements may hold 10,000+ entries: only the top ones are useful

    def __init__(self) -> None:
        super().__init__()
        self.cumulative = False
        self._statements: tuple[Statement, ...] | None = None
        self._rows: list[tuple[str, Statement]] = []
        self.unavailable = Static("", classes="empty-hint")
        self.unavailable.display = False

    def compose_extra_top(self) -> ComposeResult:
        yield self.unavailable

    def interval_columns(self) -> tuple[Col[Statement], ...]:
        with_base = self.view is not None and self.view.palette.baseline is not None
        return BASE_COLUMNS if with_base else INTERVAL_COLUMNS

    def records(self, view: MonitorView) -> Sequence[tuple[str, Statement]]:
        wants_base = not self.cumulative and view.palette.baseline is not None
        if wants_base and self.table.specs is not BASE_COLUMNS:
            self.table.set_columns(BASE_COLUMNS, self.table.sort_key or "exec_ms_per_s")
        sample = view.main_sample
        if sample is None:
            return []
        statements = sample.statements
        if statements is not self._statements:
            # a large pg_stat_statements is read every few seconds only: the ticks in between
            # carry the very same tuple, and the same rows object makes the table skip them
            self._statements = statements
            self._rows = [(f"{s.queryid}/{s.user}/{s.database}", s) for s in statements]
        return self._rows

    def render_extra(self, view: MonitorView) -> None:
        sample = view.main_sample
        status = sample.statements_status if sample is not None else None
        missing = status is not None and not status.available
        self.unavailable.display = missing
        self.table.display = not missing
        if missing and status is not None:
            self.unavailable.update(
                Text(f"pg_stat_statements unavailable: {status.reason or 'no reason given'}")
            )

    def status_text(self, view: MonitorView) -> Text:
        sample = view.main_sample
        text = Text("cumulative since reset" if self.cumulative else "per interval (rates)")
        status = sample.statements_status if sample is not None else None
        if status is not None and status.reset_detected:
            text.append(" · counters were reset", style=view.palette.warn)
        if status is not None and status.dealloc:
            text.append(f" · dealloc {status.dealloc}")
        return text

    def action_toggle_cumulative(self) -> None:
        self.cumulative = not self.cumulative
        columns = CUMULATIVE_COLUMNS if self.cumulative else self.interval_columns()
        self.table.set_columns(columns, "total_exec_ms" if self.cumulative else "exec_ms_per_s")
        self.rerender()
