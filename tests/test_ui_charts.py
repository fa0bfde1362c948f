"""MetricChart: redrawn only when its data changed, and at most once per ``min_redraw_s``."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from pgtop.ui.widgets.charts import MetricChart


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
