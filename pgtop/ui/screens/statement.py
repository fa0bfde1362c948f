"""Statement details (``enter`` on the statements pane): every counter pg_stat_statements has for
the entry (read on demand on pgtop's action session, under the server's own column names), its
share of the server's execution time, charts of calls/s and mean ms per interval over the
session's history, and the full normalized text."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pgtop import units
from pgtop.actions import Inspector, StatementReport
from pgtop.history import History
from pgtop.model import Statement
from pgtop.text import one_line
from pgtop.ui.screens.backend import query_view
from pgtop.ui.widgets.charts import MetricChart

__all__ = ["StatementScreen", "counter_text"]


_IDENTIFIERS = frozenset({"queryid", "userid", "dbid"})
"""Columns that name things: written as the server does, not as counts (no separators)."""


def counter_text(name: str, value: object) -> str:
    """One pg_stat_statements column as pgtop writes its kind of quantity."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float) or name in _IDENTIFIERS:
        return one_line(str(value))
    if name.endswith("_time"):
        return units.ms(float(value))
    if name.endswith("_bytes"):
        return units.size(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}"
    return units.count(int(value))


def _table() -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1, 0, 0))
    table.add_column("counter", style="bold", no_wrap=True)
    table.add_column("value", justify="right")
    return table


class StatementScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="statement.close"),
        Binding("y", "copy", "Copy text", id="statement.copy"),
        Binding("e", "explain", "EXPLAIN (generic plan)", id="statement.explain"),
    ]

    def __init__(
        self,
        source: str,
        statement: Statement,
        history: History,
        *,
        inspector: Inspector | None = None,
        explain: Callable[[Statement, str], None] | None = None,
    ) -> None:
        super().__init__(id="statement-screen")
        self.source = source
        self.statement = statement
        self.history = history
        self.inspector = inspector
        self.explain = explain
        self.report: StatementReport | None = None
        self._facts = Static(id="statement-facts")
        self._calls = MetricChart("calls/s", decimals=1, id="statement-calls", min_redraw_s=2)
        self._mean = MetricChart(
            "mean", unit=" ms", colour_var="warning", decimals=2, id="statement-mean",
            min_redraw_s=2,
        )  # fmt: skip
        self._text = Static(id="detail-query")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield self._facts
            with Horizontal(id="statement-charts"):
                yield self._calls
                yield self._mean
            yield Static("normalized text", classes="section-title")
            yield self._text
            yield Static(
                "esc closes · y copies the text · e EXPLAIN (generic plan)", classes="hint"
            )

    def on_mount(self) -> None:
        self._facts.update(self._render_facts())
        self._text.update(query_view(self.statement.query, dark=self.app.current_theme.dark))
        self.follow(self.statement)
        if self.inspector is not None:
            self._read_counters()

    @property
    def key(self) -> tuple[int, str | None, str | None]:
        s = self.statement
        return (s.queryid, s.user, s.database)

    def follow(self, statement: Statement | None) -> None:
        """A new tick: the newest figures of the entry (if still there) and the charts."""
        if statement is not None:
            self.statement = statement
            self._facts.update(self._render_facts())
        xs, calls, means = self.history.statement_series(self.source, self.key)
        self._calls.set_series(xs, calls)
        self._mean.set_series(xs, means)

    @work(group="statement-counters", exclusive=True, exit_on_error=False)
    async def _read_counters(self) -> None:
        assert self.inspector is not None
        s = self.statement
        self.report = await self.inspector.statement(s.queryid, s.user, s.database)
        if self.is_attached:
            self._facts.update(self._render_facts())

    def _render_facts(self) -> RenderableType:
        s = self.statement
        title = Text(f"{self.source}: statement {s.queryid}", style="bold")
        title.append(f"  ·  {one_line(s.user or '?')} @ {one_line(s.database or '?')}")
        summary = _table()
        summary.add_row("calls", units.count(s.calls))
        summary.add_row("total exec", units.ms(s.total_exec_ms))
        summary.add_row("mean / stddev", f"{units.ms(s.mean_ms)} / {units.ms(s.stddev_ms)}")
        summary.add_row("min / max", f"{units.ms(s.min_ms)} / {units.ms(s.max_ms)}")
        per_call = s.rows / s.calls if s.calls else None
        summary.add_row("rows, per call", f"{units.count(s.rows)}, {per_call or 0:,.1f}")
        hit = s.hit_ratio
        summary.add_row("shared hit ratio", units.percent(100 * hit) if hit is not None else "—")
        summary.add_row(
            "this interval",
            f"{units.rate(s.calls_per_s) or '—'} calls/s, "
            f"mean {units.ms(s.mean_ms_interval) or '—'}",
        )
        parts: list[RenderableType] = [title, summary]
        parts.append(Text("every counter the server keeps", style="bold underline"))
        parts.append(self._counters())
        return Group(*parts)

    def _counters(self) -> RenderableType:
        report = self.report
        if self.inspector is None:
            return Text("not available here (no server session)", style="italic")
        if report is None:
            return Text("reading…", style="italic")
        if report.error is not None:
            return Text(one_line(report.error))
        counters = dict(report.counters)
        table = _table()
        total = counters.get("total_exec_time")
        if isinstance(total, int | float) and report.server_total_ms:
            share = 100.0 * float(total) / report.server_total_ms
            table.add_row("share of the server's exec time", units.percent(share))
        for name, value in report.counters:
            table.add_row(name, counter_text(name, value))
        return table

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.statement.query)
        self.notify("normalized text copied to the clipboard (OSC 52)", timeout=4)

    def action_explain(self) -> None:
        if self.explain is None:
            self.notify("EXPLAIN is not available here", severity="warning", timeout=4)
            return
        self.explain(self.statement, self.source)
