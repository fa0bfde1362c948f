"""MetricChart: redrawn only when its data changed, and at most once per ``min_redraw_s``."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.style import Style
from textual.app import App, ComposeResult

from pgtop.ui.widgets.charts import MetricChart, plot_text, thinned


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ChartApp(App[None]):
    def __init__(self, chart: MetricChart) -> None:
        super().__init__()
        self.chart = chart

    def compose(self) -> ComposeResult:
        yield self.chart


async def test_redrawn_on_change_only_and_spaced() -> None:
    clock = Clock()
    chart = MetricChart("TPS", min_redraw_s=0.3, clock=clock)
    async with ChartApp(chart).run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        base = chart.redraws  # the empty chart, drawn at mount
        assert chart.wants_data()
        assert chart.set_series([-1.0, 0.0], [1.0, 2.0])  # the first data: drawn at once
        await pilot.pause()
        assert chart.redraws == base + 1
        assert not chart.set_series([-1.0, 0.0], [1.0, 2.0])  # unchanged: nothing to do
        await pilot.pause()
        assert chart.redraws == base + 1

        assert not chart.wants_data()  # too soon: callers skip building the series
        clock.now += 0.1
        assert chart.set_series([-2.0, -1.0, 0.0], [1.0, 2.0, 3.0])  # kept, drawn later
        assert chart.set_series([-3.0, -2.0, -1.0, 0.0], [1.0, 2.0, 3.0, 4.0])
        await pilot.pause()
        assert chart.redraws == base + 1
        assert chart.latest == 4.0
        clock.now += 0.3
        await asyncio.sleep(0.4)  # the one timer fires: the newest data is drawn, once
        await pilot.pause()
        assert chart.redraws == base + 2
        assert "4" in str(chart.plt.build())

        clock.now += 1.0  # long enough since the last drawing: a change is drawn at once
        assert chart.wants_data()
        assert chart.set_series([-1.0, 0.0], [5.0, 6.0])
        await pilot.pause()
        assert chart.redraws == base + 3


async def test_a_flat_line_that_grew_is_not_drawn_again() -> None:
    """On an idle server most series are flat: a longer flat line is the same picture, and
    plotext is not asked again; a point off the line is drawn."""
    clock = Clock()
    chart = MetricChart("active", min_redraw_s=0.3, clock=clock)
    async with ChartApp(chart).run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        assert chart.set_series([-2.0, -1.0, 0.0], [0.0, 0.0, 0.0])
        await pilot.pause()
        base = chart.redraws
        drawn = list(chart.plot._strips)
        clock.now += 1.0
        assert chart.set_series([-3.0, -2.0, -1.0, 0.0], [0.0] * 4)
        await pilot.pause()
        assert chart.redraws == base
        assert chart.plot.same_picture == 1
        assert chart.plot._strips == drawn
        assert not chart.wants_data()  # as good as drawn: the spacing starts again
        clock.now += 1.0
        assert chart.set_series([-4.0, -3.0, -2.0, -1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0])
        await pilot.pause()
        assert chart.redraws == base + 1


def test_a_short_series_is_drawn_whole() -> None:
    xs, ys = [-3.0, -2.0, -1.0, 0.0], [1.0, 5.0, 2.0, 3.0]
    assert thinned(xs, ys, 10) == (xs, ys)


def test_a_long_series_keeps_each_columns_extremes_and_both_ends() -> None:
    count, columns = 3600, 90
    xs = [float(i - count + 1) for i in range(count)]  # an hour at 1 s, newest at 0
    ys = [float(i % 7) for i in range(count)]
    ys[1234], ys[2345] = 1000.0, -1000.0  # a spike and a dip between drawings
    thin_x, thin_y = thinned(xs, ys, columns)
    assert len(thin_x) <= 2 * columns + 2
    assert (thin_x[0], thin_y[0]) == (xs[0], ys[0])
    assert (thin_x[-1], thin_y[-1]) == (0.0, ys[-1])  # "now" stays at the right edge
    assert thin_x == sorted(thin_x)
    assert 1000.0 in thin_y
    assert -1000.0 in thin_y
    per_column = count / columns
    for column in range(columns):  # every column spans the same values as before
        inside = [y for x, y in zip(xs, ys, strict=True) if int((x - xs[0]) / per_column) == column]
        kept = [
            y
            for x, y in zip(thin_x, thin_y, strict=True)
            if int((x - xs[0]) / per_column) == column
        ]
        assert (min(kept), max(kept)) == (min(inside), max(inside)), column


async def test_the_plot_hands_plotext_a_thinned_series() -> None:
    chart = MetricChart("TPS", min_redraw_s=0.0)
    async with ChartApp(chart).run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        given: list[int] = []
        plot = chart.plt.plot

        def counting(xs: list[float], *args: Any, **kwargs: Any) -> Any:
            given.append(len(xs))
            return plot(xs, *args, **kwargs)

        chart.plt.plot = counting  # type: ignore[method-assign]
        count = 3600
        assert chart.set_series([float(i - count + 1) for i in range(count)], [1.0] * count)
        await pilot.pause()
        assert given
        assert 2 <= given[-1] <= 2 * 2 * chart.plot.size.width + 2


def test_plot_text_colours_the_dots_and_nothing_else() -> None:
    """plotext's colourless drawing: the resets it writes are gone, the braille dots carry the
    line's style, the y labels and blanks the widget's own."""
    line = Style(color="#4c8dd6")
    drawn = "1,240 ⢀⣠⠒\x1b[0m\n  620   ⠈⠑\x1b[0m\n    0\x1b[0m"
    text = plot_text(drawn, line)
    assert text.plain == "1,240 ⢀⣠⠒\n  620   ⠈⠑\n    0"
    styled = {text.plain[span.start : span.end] for span in text.spans if span.style == line}
    assert styled == {"⢀⣠⠒", "⠈⠑"}
    assert all(span.style == line for span in text.spans)
    assert "\x1b" not in text.plain
