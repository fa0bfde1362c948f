"""DirectRepaint: a plain repaint reaches the screen without messages; anything else, and any
callback waiting on the widget, still goes through Textual's idle path."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.message import Message

from pgtop.ui.widgets.line import Line


class Posts(Line):
    """A Line that records the messages posted to it."""

    def __init__(self) -> None:
        super().__init__("before", fixed_height=True)
        self.posted: list[str] = []

    def post_message(self, message: Message) -> bool:
        self.posted.append(type(message).__name__)
        return super().post_message(message)


class LineApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.line = Posts()

    def compose(self) -> ComposeResult:
        yield self.line


@pytest.mark.parametrize("layout", [False, True], ids=["repaint", "layout"])
async def test_a_repaint_marks_the_widget_dirty_without_a_message(layout: bool) -> None:
    app = LineApp()
    async with app.run_test(size=(30, 3)) as pilot:
        await pilot.pause()
        line = app.line
        line.posted.clear()
        if layout:
            line.refresh(layout=True)  # more than a repaint: Textual's path
            assert "Prompt" in line.posted
            return
        line.show(Text("after"))
        assert line.posted == []  # no Prompt to the line (and so no Update to the screen)
        assert line in app.screen._dirty_widgets
        await pilot.pause()
        assert line not in app.screen._dirty_widgets  # drawn by the screen's next frame
        assert "after" in app.export_screenshot()


async def test_a_waiting_callback_still_wakes_the_widget() -> None:
    app = LineApp()
    async with app.run_test(size=(30, 3)) as pilot:
        await pilot.pause()
        line = app.line
        ran: list[bool] = []
        line.show(Text("after"))  # a repaint pending when the callback is queued
        line.call_next(lambda: ran.append(True))
        await pilot.pause()
        assert ran == [True]
