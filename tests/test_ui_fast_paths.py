"""Every fast path is engaged in the running app (STYLE.md item 22).

pgtop draws parts of the screen past Textual's own pipeline, some through its private names
(docs/architecture.md, "The UI's refresh cost", lists each path, the names it touches and what
it saves). A path falls back to Textual's when the internals it relies on are missing or behave
otherwise: nothing would look different, the monitor would only cost more. This test runs the
app on a pretend terminal (the headless driver made to receive the screen updates), pushes busy
ticks and checks that every path did its work; the failure names the paths that fell back.
Each check was seen to fail with its path switched off by a one-line patch.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from textual.drivers.headless_driver import HeadlessDriver

from pgtop.ui.compositor import UpdatedOnlyCompositor
from pgtop.ui.cropped_update import CroppedChopsUpdate
from pgtop.ui.widgets.charts import Plot
from pgtop.ui.widgets.keyed_table import PaintCounts
from pgtop.ui.widgets.line import Line
from pgtop.ui.widgets.own_lines import adds_nothing
from tests import ui_samples as s
from tests.test_ui_app import PushFeed, app_for, push
from tests.test_ui_cropped_update import busy


async def test_every_fast_path_is_engaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    rng = random.Random(17)
    async with app.run_test(size=(200, 50)) as pilot:
        await feed.ready.wait()
        # From here on the app writes its screen updates as on a terminal (App._display skips
        # the writing when headless); the bytes go to this list.
        written: list[str] = []
        monkeypatch.setattr(HeadlessDriver, "is_headless", property(lambda _: False))
        monkeypatch.setattr(app._driver, "write", written.append)
        updates = CroppedChopsUpdate.written
        compositor = app.screen._compositor
        narrowed = getattr(compositor, "narrowed", 0)
        covered = getattr(compositor, "covered", 0)

        activity = busy(rng, 45)  # more rows than the screen shows
        await push(pilot, feed, s.primary(1, activity=activity))
        table = app.panes["activity"].table
        table.counts = PaintCounts()
        # equal records in new objects, but for the first and the last row on screen: the
        # compositor asks the table for every line between them, the others from its cache
        on_screen = table.shown_keys[: table.size.height - 1]
        first_and_last = {int(on_screen[0]), int(on_screen[-1])}
        two_changed = tuple(
            replace(b, query="/* changed */ " + b.query) if b.pid in first_and_last else replace(b)
            for b in activity
        )
        await push(pilot, feed, s.primary(2, activity=two_changed))
        quiet = table.counts
        table.counts = PaintCounts()
        heights = {table.virtual_size.height}
        for n, rows in enumerate((60, 75, 90, 85, 70, 88), start=3):
            # every duration moves, rows move, the row count changes (the scrollable height
            # grows: 48, 64, 80, 96 rows)
            await push(pilot, feed, s.primary(n, activity=busy(rng, rows)))
            heights.add(table.virtual_size.height)
        await pilot.pause()
        busy_counts = table.counts

        lines = [w for w in app.screen.query(Line) if w.display and w.size.area]
        plots = [w for w in app.screen.query(Plot) if w.display and w.size.area]
        own_lines = [w for w in [table, *lines, *plots] if adds_nothing(w)]
        engaged = {
            "compositor (ui/compositor.py): only the widgets under refreshed regions asked, "
            "not those behind them": (
                isinstance(compositor, UpdatedOnlyCompositor)
                and compositor.narrowed > narrowed + 5
                and compositor.covered > covered + 5
            ),
            "cropped update (ui/cropped_update.py): the terminal gets the changed spans only": (
                CroppedChopsUpdate.written > updates + 5 and bool("".join(written))
            ),
            "own lines (ui/widgets/own_lines.py): table, text lines and plots skip the styling": (
                table in own_lines
                and len(lines) > 5
                and all(plot in own_lines for plot in plots)
                and all(w._own_lines.own_renders > 0 for w in own_lines)
            ),
            "table line cache (ui/widgets/keyed_table.py): unchanged rows are not redrawn": (
                quiet.rows_drawn == 2
                and quiet.lines_refreshed == 2
                and 0 < busy_counts.rows_drawn <= busy_counts.lines_refreshed
            ),
            "table partial refresh (ui/widgets/keyed_table.py): the cells that changed": (
                busy_counts.full_refreshes == 0 and busy_counts.lines_in_part > 0
            ),
            "table height (ui/widgets/keyed_table.py): more rows cost no layout": (
                len(heights) == 4 and busy_counts.layouts == 0
            ),
            "chart lines (ui/widgets/charts.py): plots drawn by pgtop's painter": (
                len(plots) == 4 and all(w._drawn_for is not None for w in plots)
            ),
        }
        assert [name for name, ok in engaged.items() if not ok] == []
