"""Small textual-plotext line charts over the history window, under a title with the live value.

A :class:`MetricChart` is a one-line title (``TPS 1,240``, updated every tick: cheap) over a plot
(:class:`Plot`, a ``PlotextPlot`` with its own plot object, never the module-global plotext) whose
line colour comes from the active theme.

The plot is the costliest thing pgtop draws (~8 ms each on a slow machine; four charts redrawn every
tick were most of pgtop's CPU), so it is redrawn only when its data changed, and never sooner than a
spacing after the last drawing: the time one braille dot stands for (the span of the series over
twice the plot's width), at least ``min_redraw_s`` (20 s) and at most ``max_redraw_s`` (30 s). Over
an hour's window a dot is ~50 s, so drawing more often changes nothing visible. The floor matters in
the first minutes, while the series is short: the title says what the value is now, every tick; the
plot is the trend, and a trend twenty seconds behind reads the same (each drawing costs plotext ~1.5
ms; at 5 s the charts were a tenth of pgtop's CPU under load, at 10 s still a tenth of it on an idle
server). New data arriving sooner is kept and drawn when the spacing allows (one timer). The first
data is drawn at once. Callers ask :meth:`MetricChart.wants_data` first and skip building the series
(an hour of samples) while it says no; :meth:`MetricChart.show_latest` keeps the title live in
between. plotext draws a line through every point it is given (an hour at 1 s is 3,600 points, ~19
ms a drawing): the plot hands it the series thinned to what its dot columns can show
(:func:`thinned`, ~2.8 ms; ``benchmarks/chart_redraw.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.color import Color
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot as Plt

from pgtop.history import History
from pgtop.model import Sample
from pgtop.ui.widgets.line import Line
from pgtop.ui.widgets.own_lines import OwnLines
from pgtop.ui.widgets.paint import Painter, merged

__all__ = ["MetricChart", "Plot", "plot_text", "thinned"]


def thinned(
    xs: Sequence[float], ys: Sequence[float], columns: int
) -> tuple[list[float], list[float]]:
    """The series cut to what ``columns`` dot columns can show: in each column's x range, its
    lowest and highest point (in x order), plus the first and last points of the series.

    A line through all the points covers each column from its lowest to its highest value;
    so does a line through these. plotext's cost grows with the points (an hour at 1 s:
    3,600 points, ~19 ms a chart; thinned to a 45-column chart, ~2.8 ms)."""
    if len(xs) <= 2 * columns + 2:
        return list(xs), list(ys)
    first, last = xs[0], xs[-1]
    scale = columns / ((last - first) or 1.0)
    keep = [0]
    column = -1
    low = high = 0
    for index, x in enumerate(xs):
        at = min(columns - 1, int((x - first) * scale))
        if at != column:
            if column >= 0:
                keep.extend(sorted({low, high}))
            column, low, high = at, index, index
        elif ys[index] < ys[low]:
            low = index
        elif ys[index] > ys[high]:
            high = index
    keep.extend(sorted({low, high}))
    keep.append(len(xs) - 1)
    unique = sorted(set(keep))
    return [xs[i] for i in unique], [ys[i] for i in unique]


_SGR = re.compile(r"\x1b\[[0-9;]*m")
_DOTS = re.compile("[\u2800-\u28ff]+")


def plot_text(drawn: str, line_style: Style) -> Text:
    """plotext's drawing, drawn without colours, as Text whose braille dots are in
    ``line_style`` and the rest (the y labels) in the widget's own colours.

    In the app's theme plotext writes a colour sequence for every cell, and Rich took as long
    to read them back (Text.from_ansi) as plotext took to draw; a drawing without colours has
    nothing to decode but a reset at each line's end."""
    plain = _SGR.sub("", drawn)
    text = Text(plain, end="")
    for match in _DOTS.finditer(plain):
        text.stylize(line_style, match.start(), match.end())
    return text


class Plot(PlotextPlot):
    """The plot under a chart's title; drawn from the data its chart hands over.

    Its lines are made here from plotext's output (split, fitted, merged into runs) and handed
    to the compositor directly (:mod:`pgtop.ui.widgets.own_lines`): Textual's content pipeline
    cost about as much again as plotext's own drawing. plotext draws without colours
    (:func:`plot_text` colours the dots): a drawing at 200 columns took 2.9 ms with
    textual-plotext's theme, 1.5 ms so. The background is the theme's surface, as
    textual-plotext's theme has it."""

    DEFAULT_CSS = """
    Plot { width: 1fr; height: 1fr; background: $surface; }
    """

    def __init__(self, colour_var: str) -> None:
        super().__init__()
        self.colour_var = colour_var
        self.xs: tuple[float, ...] = ()
        self.ys: tuple[float, ...] = ()
        self.redraws = 0
        self.drawn_at: float | None = None
        self.drawn_per_dot = 0.0
        """Seconds one braille dot column stood for in the last drawing."""
        self.drew_data = False
        self.clock: Callable[[], float] = time.monotonic
        self._painter = Painter()
        self._own_lines = OwnLines()
        self._generation = 0
        self._strips: list[Strip] = []
        self._drawn_for: tuple[object, ...] | None = None
        """(width, height, base style, theme, generation) of the strips drawn."""
        self._base: Style | None = None
        self._picture: tuple[object, ...] | None = None
        self.same_picture = 0
        """Redraws skipped because the data drew the same picture (a flat line that grew)."""

    def redraw(self) -> None:
        """Draw the plot again (its data changed): unless the new data draws the picture on
        screen (a flat line that grew), which is then as good as drawn, without a refresh."""
        if self._picture is not None and self._base is not None:
            width, height = self.size
            frame = _frame(self.xs, self.ys, width)
            if self._same_picture(self._picture_of(frame, width, height, self._base), width):
                return
        self._generation += 1
        self.refresh()

    def _picture_of(
        self, frame: _Frame | None, width: int, height: int, base: Style
    ) -> tuple[object, ...]:
        return (width, height, base, self.app.theme, _picture(frame, width, height))

    def _same_picture(self, picture: tuple[object, ...], width: int) -> bool:
        """Whether ``picture`` is the one on screen; if so it counts as drawn (the spacing
        starts again)."""
        if picture != self._picture:
            return False
        self.same_picture += 1
        self._mark_drawn(width)
        return True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._own_lines.forget()
        self._drawn_for = None
        self._picture = None
        self._base = None
        self._painter.forget()

    def _colour(self) -> tuple[int, int, int]:
        value = self.app.theme_variables.get(self.colour_var) or self.app.theme_variables.get(
            "primary", "#4C8DD6"
        )
        try:
            return Color.parse(value).rgb
        except Exception:  # noqa: BLE001 - a theme variable we cannot parse: keep a colour
            return (76, 141, 214)

    def render(self) -> RenderResult:
        """The plot as plain text with the line's dots coloured (see :func:`plot_text`)."""
        width, height = self.size
        return self._drawing(_frame(self.xs, self.ys, width), width, height)

    def _drawing(self, frame: _Frame | None, width: int, height: int) -> Text:
        self.redraws += 1
        self._mark_drawn(width)
        plt = self.plt
        plt.clear_data()
        if frame is None:
            plt.clear_figure()  # with data, every setting is given again below (it deep-copies)
        else:
            plt.plot(frame.xs, frame.ys, marker="braille")
            plt.ylim(frame.y_low, frame.y_high)
            plt.xlim(frame.x_low, 0.0)
        plt.xticks([])
        plt.frame(False)
        plt.plotsize(width, height)
        plt._set_size(width, height)  # noqa: SLF001 - as PlotextPlot.render does (its issue 5)
        plt.theme("clear")
        return plot_text(plt.build(), Style(color=RichColor.from_rgb(*self._colour())))

    def _mark_drawn(self, width: int) -> None:
        self.drawn_at = self.clock()
        self.drew_data = bool(self.xs)
        span = (self.xs[-1] - self.xs[0]) if self.xs else 0.0
        self.drawn_per_dot = span / (2 * max(1, width))

    def render_lines(self, crop: Region) -> list[Strip]:
        return self._own_lines.render_lines(self, crop, super().render_lines)

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._base is None:
            self._base = self.rich_style  # walks the ancestors: once per style change
        base = self._base
        key = (width, height, base, self.app.theme, self._generation)
        if key != self._drawn_for:
            self._drawn_for = key
            frame = _frame(self.xs, self.ys, width)
            picture = self._picture_of(frame, width, height, base)
            if not self._same_picture(picture, width):
                self._picture = picture
                self._strips = self._draw(frame, width, height, base)
        if y < len(self._strips):
            return self._strips[y]
        return Strip([Segment(" " * width, base)], width)

    def _draw(self, frame: _Frame | None, width: int, height: int, base: Style) -> list[Strip]:
        lines = self._drawing(frame, width, height).split("\n", allow_blank=True)[:height]
        return [Strip(merged(self._painter.runs(line, width, base)), width) for line in lines]


class _Frame(NamedTuple):
    """What a drawing plots: the series thinned to the plot's dot columns, and its axes."""

    xs: list[float]
    ys: list[float]
    y_low: float
    y_high: float
    x_low: float


def _frame(xs: Sequence[float], ys: Sequence[float], width: int) -> _Frame | None:
    if not xs:
        return None
    thin_xs, thin_ys = thinned(xs, ys, 2 * max(1, width))  # braille: 2 dots a cell
    low, high = min(ys), max(ys)
    if high == low:
        high = low + 1
    return _Frame(thin_xs, thin_ys, min(0.0, low), high, min(xs[0], -1.0))


def _picture(frame: _Frame | None, width: int, height: int) -> tuple[object, ...]:
    """What a drawing of ``frame`` at this size shows: the y range (the axis labels) and the
    line's corners at 8x the braille dots' resolution. Points inside a level run draw nothing
    of their own, so a flat line is the same picture however long it grew (on an idle server
    most charts are flat: drawing them again cost ~1 ms a tick)."""
    if frame is None:
        return ()
    columns, rows = 16 * max(1, width), 32 * max(1, height)
    x_span, y_span = -frame.x_low, frame.y_high - frame.y_low
    points = [
        (round((x - frame.x_low) / x_span * columns), round((y - frame.y_low) / y_span * rows))
        for x, y in zip(frame.xs, frame.ys, strict=True)
    ]
    corners = [
        point
        for i, point in enumerate(points)
        if i in (0, len(points) - 1) or not points[i - 1][1] == point[1] == points[i + 1][1]
    ]
    return (frame.y_low, frame.y_high, tuple(corners))


class MetricChart(Vertical):
    """A titled line chart; x is seconds relative to the newest sample."""

    DEFAULT_CSS = """
    MetricChart { width: 1fr; height: 1fr; min-width: 16; }
    MetricChart > .chart-title { height: 1; width: 1fr; text-align: center; }
    """

    def __init__(
        self,
        title: str,
        *,
        unit: str = "",
        colour_var: str = "primary",
        decimals: int = 1,
        min_redraw_s: float = 20.0,
        max_redraw_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        id: str | None = None,  # noqa: A002
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.min_redraw_s = min_redraw_s
        self.max_redraw_s = max_redraw_s
        self._clock = clock
        self._due = False
        """New data is waiting for the spacing to allow a redraw (a timer is set)."""
        self.chart_title = title
        self.unit = unit
        self.decimals = decimals
        self.title_line = Line(self._title(None), fixed_height=True, classes="chart-title")
        self.plot = Plot(colour_var)
        self.plot.clock = clock
        self._latest: float | None = None
        self._titled = False
        """The title shows ``_latest`` (it starts with no value)."""

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.plot

    @property
    def plt(self) -> Plt:
        return self.plot.plt

    @property
    def redraws(self) -> int:
        """How many times the plot was rebuilt (tests and benchmarks read it)."""
        return self.plot.redraws

    @property
    def latest(self) -> float | None:
        return self._latest

    def _title(self, value: float | None) -> Text:
        shown = "–" if value is None else f"{value:,.{self.decimals}f}{self.unit}"
        return Text(f"{self.chart_title} {shown}", no_wrap=True, overflow="ellipsis", end="")

    def show_latest(self, value: float | None) -> None:
        """The newest value, in the title (every tick)."""
        if value == self._latest and self._titled:
            return
        self._latest = value
        self._titled = True
        self.title_line.show(self._title(value))

    def spacing(self) -> float:
        """Seconds between two drawings: what one braille dot stands for, within bounds."""
        return min(self.max_redraw_s, max(self.min_redraw_s, self.plot.drawn_per_dot))

    def follow(
        self, history: History, source: str, value: Callable[[Sample], float | None]
    ) -> None:
        """One tick of ``value`` over ``source``'s history: the live value in the title, the
        series (an hour of samples walked) only when it will be drawn."""
        self.show_latest(history.latest(source, value))
        if self.wants_data():
            self.set_series(*history.series(source, value))

    def set_series(self, xs: Sequence[float], ys: Sequence[float]) -> bool:
        """New data; returns True (and schedules one redraw) only when it changed."""
        plot = self.plot
        new_x, new_y = tuple(xs), tuple(ys)
        self.show_latest(new_y[-1] if new_y else None)
        if (new_x, new_y) == (plot.xs, plot.ys):
            return False
        plot.xs, plot.ys = new_x, new_y
        if self._due:
            return True  # the timer already set draws the newest data
        wait = 0.0
        if plot.drawn_at is not None and plot.drew_data:
            wait = plot.drawn_at + self.spacing() - self._clock()
        if wait <= 0:
            plot.redraw()
        else:
            self._due = True
            self.set_timer(wait, self._draw_due, name="chart redraw")
        return True

    def wants_data(self) -> bool:
        """Whether data given now would be drawn now: callers skip computing a series (an hour
        of samples) in between. Always True while no data was drawn (the first data is drawn
        at once)."""
        plot = self.plot
        if self._due:
            return False
        if plot.drawn_at is None or not plot.drew_data:
            return True
        return self._clock() >= plot.drawn_at + self.spacing()

    def _draw_due(self) -> None:
        self._due = False
        self.plot.redraw()
