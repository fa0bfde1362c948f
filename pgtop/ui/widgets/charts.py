"""Small textual-plotext line charts over the history window.

Each chart owns its plot object (``PlotextPlot.plt``, never the module-global plotext), takes its
line colour from the active theme, and redraws only when its data changed: :meth:`set_series`
compares with what it drew and refreshes at most once per call (one call per tick).
"""

from __future__ import annotations

from collections.abc import Sequence

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
        id: str | None = None,  # noqa: A002
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.chart_title = title
        self.unit = unit
        self.colour_var = colour_var
        self.decimals = decimals
        self._xs: tuple[float, ...] = ()
        self._ys: tuple[float, ...] = ()
        self.redraws = 0
        """How many times the plot was rebuilt (tests and benchmarks read it)."""

    def set_series(self, xs: Sequence[float], ys: Sequence[float]) -> bool:
        """New data; returns True (and schedules one redraw) only when it changed."""
        new_x, new_y = tuple(xs), tuple(ys)
        if (new_x, new_y) == (self._xs, self._ys):
            return False
        self._xs, self._ys = new_x, new_y
        self.refresh()
        return True

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
