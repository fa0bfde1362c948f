"""Lines handed to the compositor directly (pgtop.ui.widgets.own_lines) equal what Textual's
styling pass makes of the same lines, in every pane and state the app draws."""

from __future__ import annotations

import functools
from pathlib import Path

from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from pgtop.ui.widgets.charts import Plot
from pgtop.ui.widgets.keyed_table import KeyedTable
from pgtop.ui.widgets.line import Line
from pgtop.ui.widgets.own_lines import adds_nothing
from tests import ui_samples as s
from tests.test_ui_app import PushFeed, app_for, push


def _cells(strips: list[Strip]) -> list[list[tuple[str, object]]]:
    """(character, style) per cell: how segments are cut does not matter to the terminal, nor
    does meta (Textual tags content with offsets for mouse selection; it is never drawn)."""
    return [
        [
            (char, segment.style.clear_meta_and_links() if segment.style else None)
            for segment in strip
            for char in segment.text
        ]
        for strip in strips
    ]


def _textual_lines(widget: Widget) -> list[Strip]:
    """What Textual draws: its styling pass, and for a plot its content pipeline too."""
    widget._styles_cache.clear()
    if isinstance(widget, Plot):
        widget._drawn_for = None
        widget.render_line = functools.partial(Widget.render_line, widget)  # type: ignore[method-assign]
        try:
            widget._render_content()  # draw from render(), as Textual would after a refresh
            return Widget.render_lines(widget, widget.size.region)
        finally:
            del widget.render_line
    return Widget.render_lines(widget, widget.size.region)


def _compare_all(app: object, states: list[str]) -> int:
    compared = 0
    for widget in [*app.screen.query(Line), *app.screen.query(KeyedTable), *app.screen.query(Plot)]:  # type: ignore[attr-defined]
        if not widget.display or not widget.size.area:
            continue
        if isinstance(widget, Plot):
            widget._drawn_for = None  # both from the newest data (a redraw may be spaced out)
        ours = widget.render_lines(widget.size.region)
        assert _cells(ours) == _cells(_textual_lines(widget)), (widget, states)
        compared += adds_nothing(widget)
    return compared


async def test_own_lines_equal_textuals_styling(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(1))
        await push(pilot, feed, s.primary(2))
        compared = 0
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            compared += _compare_all(app, [f"pane {key}"])
        assert compared > 10  # the fast path was taken, not only Textual's
        await pilot.press("1", "down", "down")
        await pilot.pause()
        _compare_all(app, ["cursor moved"])
        app.theme = "pgtop-light"
        await pilot.pause()
        _compare_all(app, ["light theme"])
        await push(pilot, feed, s.disconnected(3))
        await pilot.pause()
        stale = [w for w in app.screen.query(KeyedTable) if w.display]
        assert stale
        assert not adds_nothing(stale[0])  # 60 % opacity: Textual's path
        _compare_all(app, ["stale"])
        await push(pilot, feed, s.primary(4))
        await pilot.pause()
        _compare_all(app, ["back"])


async def test_no_color_filter_applies(tmp_path: Path, monkeypatch: object) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # type: ignore[attr-defined]
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await push(pilot, feed, s.primary(1))
        assert app.get_line_filters()
        _compare_all(app, ["NO_COLOR"])


async def test_ansi_colours_become_truecolor_as_textual_makes_them(tmp_path: Path) -> None:
    """Own lines go through the app's ANSI-to-truecolor filter as Textual's do: a line with
    ANSI colours and dim text is converted."""
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(1))
        status = app.active_pane.status
        status.show(Text.assemble(("red on blue", "red on blue"), " ", ("dim", "dim green")))
        await pilot.pause()
        assert adds_nothing(status)
        drawn = status.render_lines(status.size.region)
        styles = [segment.style for strip in drawn for segment in strip if segment.style]
        assert any(style.color and style.color.triplet for style in styles)
        assert not any(style.color and style.color.triplet is None for style in styles)
        _compare_all(app, ["ANSI colours"])
