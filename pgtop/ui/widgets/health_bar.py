"""The health bar: one status per health metric (all sources merged, worst first) with a symbol
and a colour (the symbol alone carries the level under NO_COLOR), and small charts of TPS, active
connections, replication lag and cache hit ratio over the history window (hidden when narrow)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal

from pgtop.history import History
from pgtop.model import Level, Sample, Status
from pgtop.text import one_line
from pgtop.ui.format import LEVEL_SYMBOL, Palette
from pgtop.ui.panes.replication import max_replay_lag
from pgtop.ui.widgets.charts import MetricChart
from pgtop.ui.widgets.line import Line

__all__ = ["HealthBar", "merge_statuses", "statuses_text"]


def merge_statuses(statuses: Iterable[Status], main: str | None = None) -> list[Status]:
    """One status per (metric, source), worst first; within a level the main source first,
    then each other source's statuses together (they share one name in the bar)."""
    seen: dict[tuple[str, str], Status] = {}
    for status in statuses:
        key = (status.metric, status.source)
        if key not in seen or status.level > seen[key].level:
            seen[key] = status
    return sorted(
        seen.values(),
        key=lambda s: (-s.level, bool(s.source) and s.source != main, s.source, s.metric),
    )


def short_names(sources: Iterable[str]) -> dict[str, str]:
    """``replica 10.0.0.7:5432`` is called ``replica`` while it is the only replica."""
    names = set(sources)
    kinds: dict[str, int] = {}
    for name in names:
        kind = name.split(" ", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        name: name.split(" ", 1)[0] if kinds[name.split(" ", 1)[0]] == 1 else name for name in names
    }


def statuses_text(statuses: list[Status], palette: Palette, *, main: str | None) -> Text:
    """``▲ xact 3m05s  replica: ▲ lag 12s  ● conn 3%``: chips of a source other than the main
    one follow its name, given once per run of that source's chips."""
    text = Text(end="")
    if not statuses:
        text.append("● health: waiting for data", style=palette.dim)
        return text
    names = short_names(s.source for s in statuses if s.source and s.source != main)
    previous: str | None = None
    for i, status in enumerate(statuses):
        if i:
            text.append("  ")
        source = status.source if status.source and status.source != main else None
        if source is not None and source != previous:
            # the name sticks to the chip after it (no-break space): never alone at a line end
            text.append(f"{one_line(names[source])}:\u00a0".replace(" ", "\u00a0"))
        previous = source
        style = palette.level(status.level) if status.level is not Level.OK else palette.ok
        # no-break spaces: a label never wraps in the middle
        chip = f"{LEVEL_SYMBOL[status.level]} {one_line(status.label)}".replace(" ", "\u00a0")
        text.append(chip, style=style)
    return text


def _tps(s: Sample) -> float | None:
    return s.stats.tps if s.stats else None


def _active(s: Sample) -> float | None:
    return float(s.stats.active) if s.stats else None


def _hit(s: Sample) -> float | None:
    ratio = s.stats.cache_hit_ratio if s.stats else None
    return None if ratio is None else 100.0 * ratio


class HealthBar(Horizontal):
    def __init__(self) -> None:
        super().__init__(id="health")
        self.statuses = Line(fixed_height=True, id="statuses")
        self.charts = {
            "tps": MetricChart("TPS", decimals=0, id="chart-tps"),
            "active": MetricChart("active", colour_var="secondary", decimals=0, id="chart-active"),
            "lag": MetricChart("lag", unit="s", colour_var="warning", decimals=2, id="chart-lag"),
            "hit": MetricChart("hit", unit="%", colour_var="success", id="chart-hit"),
        }
        self._last: tuple[tuple[str, str, int, str], ...] | None = None
        self._palette: Palette | None = None

    def compose(self) -> ComposeResult:
        yield self.statuses
        with Horizontal(id="charts"):
            yield from self.charts.values()

    def show(
        self, statuses: list[Status], palette: Palette, history: History, main: str | None
    ) -> None:
        key = tuple((s.metric, s.source, int(s.level), s.label) for s in statuses) + (
            ("main", main or "", 0, ""),
        )
        if key != self._last or palette != self._palette:
            self._last, self._palette = key, palette
            self.statuses.show(statuses_text(statuses, palette, main=main))
        if main is None:
            return
        for name, fn in (
            ("tps", _tps),
            ("active", _active),
            ("lag", max_replay_lag),
            ("hit", _hit),
        ):
            self.charts[name].follow(history, main, fn)
