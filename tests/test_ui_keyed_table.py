"""The keyed table's work bound (counts, not wall time): in-place diffs, no rebuilds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pgtop.config import Config
from pgtop.ui.app import make_app
from pgtop.ui.widgets.keyed_table import KeyedTable
from tests import ui_samples as s
from tests.test_ui_app import PushFeed, push


class Counter:
    def __init__(self, t: KeyedTable) -> None:
        self.calls: dict[str, int] = {"update_cell": 0, "add_row": 0, "remove_row": 0, "clear": 0}
        for name in self.calls:
            setattr(t, name, self._wrap(name, getattr(t, name)))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == "update_cell":
                assert kwargs.get("update_width") is False
            return method(*args, **kwargs)

        return counted

    def reset(self) -> None:
        for name in self.calls:
            self.calls[name] = 0


async def test_2000_rows_update_only_changed_cells(tmp_path: Path) -> None:
    feed = PushFeed()
    app = make_app(Config(), feed, state_path=tmp_path / "state.toml")  # type: ignore[arg-type]
    async with app.run_test(size=(250, 60)) as pilot:
        t = app.panes["activity"].table
        rows = s.many_backends(2000)
        await push(pilot, feed, s.primary(0, activity=rows))
        assert len(t.shown_keys) == 2000
        visible = len(t.visible_columns)
        assert visible == 11  # all columns at this width
        t.select_key("10500")
        counter = Counter(t)

        cells = 2000 * visible
        changed = cells * 5 // 100  # 5 % of the cells: new query text on that many rows
        moved = tuple(
            replace(b, query=b.query + " -- changed") if i < changed else b
            for i, b in enumerate(rows)
        )
        await push(pilot, feed, s.primary(1, activity=moved))
        assert counter.calls == {
            "update_cell": changed,
            "add_row": 0,
            "remove_row": 0,
            "clear": 0,
        }
        assert t.selected_key == "10500"

        counter.reset()
        await push(pilot, feed, s.primary(2, activity=moved))
        assert counter.calls == {"update_cell": 0, "add_row": 0, "remove_row": 0, "clear": 0}


async def test_arrivals_and_departures(tmp_path: Path) -> None:
    feed = PushFeed()
    app = make_app(Config(), feed, state_path=tmp_path / "state.toml")  # type: ignore[arg-type]
    async with app.run_test(size=(250, 60)) as pilot:
        t = app.panes["activity"].table
        rows = s.many_backends(100)
        await push(pilot, feed, s.primary(0, activity=rows))
        counter = Counter(t)
        await push(pilot, feed, s.primary(1, activity=rows[10:] + s.many_backends(105)[100:]))
        assert counter.calls["remove_row"] == 10
        assert counter.calls["add_row"] == 5
        assert counter.calls["update_cell"] == 0
        assert counter.calls["clear"] == 0
        assert len(t.shown_keys) == 95 == t.row_count


async def test_statements_show_the_top_500_by_the_current_sort(tmp_path: Path) -> None:
    feed = PushFeed()
    app = make_app(Config(), feed, state_path=tmp_path / "state.toml")  # type: ignore[arg-type]
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
