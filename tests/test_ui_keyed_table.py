"""The keyed table's work bound (counts, not wall time): only changed lines are repainted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pgtop.ui.widgets.keyed_table import KeyedTable, PaintCounts
from tests import ui_samples as s
from tests.test_ui_app import PushFeed, app_for, push


def on_screen(t: KeyedTable) -> list[str]:
    top = int(t.scroll_y)
    return t.shown_keys[top : top + t.size.height - 1]


async def test_2000_rows_repaint_only_the_changed_lines(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(250, 60)) as pilot:
        t = app.panes["activity"].table
        rows = s.many_backends(2000)
        await push(pilot, feed, s.primary(0, activity=rows))
        assert len(t.shown_keys) == 2000
        assert len(t.visible_columns) == 13  # all columns at this width
        t.select_key("10500")
        await pilot.pause()
        t.counts = PaintCounts()

        changed = 110  # new query text on that many rows, spread over the table
        step = len(rows) // changed
        moved = tuple(
            replace(b, query=b.query + " -- changed") if i % step == 0 else b
            for i, b in enumerate(rows)
        )
        changed_pids = {str(b.pid) for b in moved if b.query.endswith("-- changed")}
        visible_changed = [k for k in on_screen(t) if k in changed_pids]
        assert visible_changed  # the test means something only if some are on screen
        await push(pilot, feed, s.primary(1, activity=moved))
        assert t.selected_key == "10500"
        assert t.counts.full_refreshes == 0
        assert t.counts.lines_refreshed == len(visible_changed)
        assert t.counts.rows_drawn == len(visible_changed)
        for key in changed_pids:
            assert t.get_row(key)[-1].plain.endswith("-- changed")

        t.counts = PaintCounts()
        await push(pilot, feed, s.primary(2, activity=moved))
        assert t.counts == PaintCounts()  # nothing changed: nothing repainted


async def test_arrivals_and_departures(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(250, 60)) as pilot:
        t = app.panes["activity"].table
        rows = s.many_backends(100)
        await push(pilot, feed, s.primary(0, activity=rows))
        before = on_screen(t)
        t.counts = PaintCounts()
        await push(pilot, feed, s.primary(1, activity=rows[10:] + s.many_backends(105)[100:]))
        assert len(t.shown_keys) == 95 == t.row_count
        after = on_screen(t)
        moved_lines = sum(1 for a, b in zip(before, after, strict=False) if a != b)
        assert t.counts.full_refreshes == 0
        # lines whose row changed, plus the lines emptied at the bottom
        assert t.counts.lines_refreshed == moved_lines + max(0, len(before) - len(after))
        assert t.counts.rows_drawn <= moved_lines


async def test_statements_show_the_top_500_by_the_current_sort(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        pane = app.panes["statements"]
        t = pane.table
        many = tuple(
            s.statement(i, f"SELECT c{i} FROM t", 1.0 + i % 97, float(i), 10 + i, float(i))
            for i in range(11_153)
        )
        await pilot.press("5")
        await push(pilot, feed, replace(s.primary(0), statements=many))
        keys = t.shown_keys
        assert len(keys) == 500
        # the order over all rows, then the first 500: ms/s descending = the highest ids
        assert keys == [f"{i}/postgres/app" for i in range(11_152, 11_152 - 500, -1)]
        assert "top 500 of 11,153" in str(pane.status.render())
        rendered = len(t._rendered)  # noqa: SLF001
        assert rendered <= 500  # only the rows shown were rendered
        # another sort key: the first 500 by calls/s (then stable: the input order)
        t.action_sort_column(1)
        await pilot.pause()
        assert t.sort_key == "calls_per_s"
        top = sorted(many, key=lambda q: q.calls_per_s or 0, reverse=True)[:500]
        assert {k.split("/")[0] for k in t.shown_keys} == {str(q.queryid) for q in top}
        # a filter: the matches among all rows, the count says so
        t.set_filter("c1234 ")
        assert t.shown_keys == ["1234/postgres/app"]
        t.set_filter("")
        # few statements: no cap, no note
        await push(pilot, feed, s.primary(1))
        assert len(t.shown_keys) == len(s.STATEMENTS)
        assert "top " not in str(pane.status.render())


def test_repeated_keys_are_made_unique_in_order() -> None:
    from pgtop.ui.widgets.keyed_table import unique_keys

    records = [("q1/app/app", "top"), ("q2/app/app", "x"), ("q1/app/app", "nested")]
    assert unique_keys(records) == [
        ("q1/app/app", "top"),
        ("q2/app/app", "x"),
        ("q1/app/app#2", "nested"),
    ]


async def test_the_cursor_stays_on_the_first_row_until_moved(tmp_path: Path) -> None:
    """Like top(1): by default the first row is selected whatever it holds; once the user
    moves the cursor it follows that row's pid while rows move; home goes back to the top."""
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        t = app.panes["activity"].table
        rows = s.many_backends(100)
        await push(pilot, feed, s.primary(0, activity=rows))
        first = t.shown_keys[0]
        # the first row's backend gets the youngest transaction: it moves down the sort
        younger = tuple(replace(b, xact_s=0.0) if str(b.pid) == first else b for b in rows)
        await push(pilot, feed, s.primary(1, activity=younger))
        assert t.shown_keys[0] != first
        assert t.cursor_row == 0
        assert t.scroll_y == 0

        await pilot.press("down")
        chosen = t.selected_key
        assert chosen is not None
        assert t.cursor_row == 1
        older = tuple(replace(b, xact_s=10**6) if str(b.pid) == chosen else b for b in younger)
        await push(pilot, feed, s.primary(2, activity=older))
        assert t.selected_key == chosen  # followed to its new place
        assert t.cursor_row == t.shown_keys.index(chosen) == 0

        await push(pilot, feed, s.primary(3, activity=younger))
        assert t.selected_key == chosen  # still followed, though it sat on the first row
        assert t.cursor_row == t.shown_keys.index(chosen) > 0

        await pilot.press("home")
        await push(pilot, feed, s.primary(4, activity=older))
        await push(pilot, feed, s.primary(5, activity=younger))
        assert t.cursor_row == 0
        assert t.selected_key == t.shown_keys[0]


async def test_the_status_line_says_which_rows_are_on_screen(tmp_path: Path) -> None:
    """No scrollbar (it cut every table line in two for the compositor): the pane's status
    line says where the view is, and follows the view as it moves."""
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        pane = app.panes["activity"]
        t = pane.table
        await push(pilot, feed, s.primary(0, activity=s.many_backends(100)))
        shown = t.size.height - 1
        assert t.window == (1, shown, 100)
        assert f"rows 1-{shown} of 100" in str(pane.status.render())
        assert t.allow_vertical_scroll
        await pilot.press("end")
        await pilot.pause()
        assert f"rows {100 - shown + 1}-100 of 100" in str(pane.status.render())
        await push(pilot, feed, s.primary(1, activity=s.many_backends(10)))
        assert t.window is None
        assert "rows " not in str(pane.status.render())
        assert not t.allow_vertical_scroll
