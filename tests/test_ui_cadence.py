"""The app tells its feed which pane is on screen, so the feed reads a hidden pane's probes
less often and catches them up when the pane is shown (pgtop.feed.show_pane)."""

from __future__ import annotations

from pathlib import Path

from pgtop.config import Config
from pgtop.feed import ProbeGroup, RecordedFeed
from pgtop.ui.app import make_app
from tests import ui_samples as s


class WatchedFeed(RecordedFeed):
    def __init__(self) -> None:
        super().__init__([s.primary(0)])
        self.wanted: list[frozenset[ProbeGroup]] = []

    def want(self, groups: frozenset[ProbeGroup]) -> None:
        self.wanted.append(groups)


async def test_each_pane_switch_says_what_is_on_screen(tmp_path: Path) -> None:
    feed = WatchedFeed()
    app = make_app(Config(), feed, state_path=tmp_path / "state.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert feed.wanted == [frozenset()]  # the activity pane, from the start
        for key in ("5", "2", "5", "1"):
            await pilot.press(key)
    statements = frozenset({ProbeGroup.STATEMENTS})
    assert feed.wanted == [frozenset(), statements, frozenset(), statements, frozenset()]
