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
