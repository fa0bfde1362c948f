"""Small textual-plotext line charts over the history window.

Each chart owns its plot object (``PlotextPlot.plt``, never the module-global plotext), takes its
line colour from the active theme, and redraws only when its data changed: :meth:`set_series`
compares with what it was last given and refreshes at most once per call (one call per tick).

Redraws are also spaced by ``min_redraw_s`` (5 s): a plot is the costliest thing pgtop draws
(~a quarter of its CPU with four charts at 1 s ticks), and over a 60-minute window a one-tick
shift is invisible. New data arriving sooner is kept and drawn when the spacing allows (one
timer), so the chart is never more than ``min_redraw_s`` behind. The first data is drawn at once.
Callers ask :meth:`wants_data` first and skip building the series while it says no.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

__all__ = ["MetricChart"]


class MetricChart(PlotextPlot):
    """A titled line chart; x is seconds relative to the newest sample."""

    DEFAULT_CSS = """
    MetricChart { width: 1fr; height: 1fr; min-width: 16; }
    """

    def __init__(
        self,
        title: str,
        *,
        unit: str = "",
        colour_var: str = "primary",
        decimals: int = 1,
        min_redraw_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        id: str | None = None,  # noqa: A002
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.min_redraw_s = min_redraw_s
        self._clock = clock
        self._drawn_at: float | None = None
        self._due = False
        """New data is waiting for the spacing to allow a redraw (a timer is set)."""
        self.chart_title = title
        self.unit = unit
        self.colour_var = colour_var
        self.decimals = decimals
        self._xs: tuple[float, ...] = ()
        self._ys: tuple[float, ...] = ()
        self._xs_drawn = False
        self.redraws = 0
        """How many times the plot was rebuilt (tests and benchmarks read it)."""

    def set_series(self, xs: Sequence[float], ys: Sequence[float]) -> bool:
        """New data; returns True (and schedules one redraw) only when it changed."""
        new_x, new_y = tuple(xs), tuple(ys)
        if (new_x, new_y) == (self._xs, self._ys):
            return False
        self._xs, self._ys = new_x, new_y
        if self._due:
            return True  # the timer already set draws the newest data
        wait = 0.0
        if self._drawn_at is not None and self._xs_drawn:
            wait = self._drawn_at + self.min_redraw_s - self._clock()
        if wait <= 0:
            self.refresh()
        else:
            self._due = True
            self.set_timer(wait, self._draw_due, name="chart redraw")
        return True

    def wants_data(self) -> bool:
        """Whether data given now would be drawn now: callers skip computing a series (an hour
        of samples) in between. Always True while no data was drawn (the first data is drawn
        at once)."""
        if self._due:
            return False
        if self._drawn_at is None or not self._xs_drawn:
            return True
        return self._clock() >= self._drawn_at + self.min_redraw_s

    def _draw_due(self) -> None:
        self._due = False
        self.refresh()

    @property
    def latest(self) -> float | None:
        return self._ys[-1] if self._ys else None

    def _colour(self) -> tuple[int, int, int]:
        value = self.app.theme_variables.get(self.colour_var) or self.app.theme_variables.get(
            "primary", "#4C8DD6"
        )
        try:
            return Color.parse(value).rgb
        except Exception:  # noqa: BLE001 - a theme variable we cannot parse: keep a colour
            return (76, 141, 214)

    def render(self) -> RenderResult:
        self.redraws += 1
        self._drawn_at = self._clock()
        self._xs_drawn = bool(self._xs)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        latest = self.latest
        value = "–" if latest is None else f"{latest:,.{self.decimals}f}{self.unit}"
        plt.title(f"{self.chart_title} {value}")
        if self._xs:
            plt.plot(list(self._xs), list(self._ys), color=self._colour(), marker="braille")
            low = min(self._ys)
            high = max(self._ys)
            if high == low:
                high = low + 1
            plt.ylim(min(0.0, low), high)
            plt.xlim(min(self._xs[0], -1.0), 0.0)
        plt.xticks([])
        plt.frame(False)
        return super().render()
