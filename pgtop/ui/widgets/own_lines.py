"""Handing the compositor a widget's own lines without Textual's per-line styling pass.

Textual draws every widget through its styles cache: each line it repaints is wrapped for
borders, padding, outline, hatch, tint and opacity, padded to the content width and made into
a new Strip, whether or not the widget has any of those. pgtop's table and text lines style
their lines completely themselves (background included) and, in the normal case, have none of
them — yet the wrapping cost a fifth of pgtop's CPU under load (the table repaints ~40 lines a
tick). :class:`OwnLines` hands over the widget's ``render_line`` strips as they are, with the
app's line filters applied (NO_COLOR, ANSI colours to truecolor, dimming), when the widget's
styles add nothing; otherwise it takes Textual's path, which then starts from a cleared cache
(lines drawn here never went into it).

Left and right padding are drawn here too (status lines have them), in the widget's background.
A stale pane is drawn at 60 % opacity (themes/pgtop.tcss): that one takes Textual's path.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from textual.color import Color
from textual.geometry import NULL_SPACING, Region
from textual.strip import Strip
from textual.style import Style
from textual.widget import Widget

__all__ = ["OwnLines", "adds_nothing"]


def adds_nothing(widget: Widget) -> bool:
    """True when Textual's styling pass would return the widget's lines unchanged (apart from
    the app's line filters and left/right padding). Links are not looked at: these widgets
    draw none."""
    return _styles_add_nothing(widget) and widget.opacity == 1.0


def _styles_add_nothing(widget: Widget) -> bool:
    styles = widget.styles
    return (
        not any(edge for edge, _ in styles.border)
        and not any(edge for edge, _ in styles.outline)
        and not styles.padding.top
        and not styles.padding.bottom
        and widget.scrollbar_gutter == NULL_SPACING
        and not styles.tint.a
        and styles.text_opacity == 1.0
        and (not styles.has_rule("hatch") or styles.hatch == "none")
    )


class OwnLines:
    """Routes a widget's ``render_lines``: its own lines as drawn when its styles add nothing,
    else Textual's path (``super().render_lines``, passed in). What the widget's own styles
    decide is worked out once per style change (the widget calls :meth:`forget`); opacity,
    which an ancestor may set, is looked at every time."""

    def __init__(self) -> None:
        self.drew_own_lines = False
        self.own_renders = 0
        """Calls answered with the widget's own lines (tests/test_ui_fast_paths.py reads it)."""
        self._plain: bool | None = None
        self._pads: tuple[list[Segment], list[Segment]] | None = None
        self._background: Color | None = None

    def forget(self) -> None:
        self._plain = self._pads = self._background = None

    def render_lines(
        self, widget: Widget, crop: Region, textual_lines: Callable[[Region], list[Strip]]
    ) -> list[Strip]:
        if self._plain is None:
            self._plain = _styles_add_nothing(widget)
        if not self._plain or widget.opacity != 1.0:
            if self.drew_own_lines:
                self.drew_own_lines = False
                widget._styles_cache.clear()  # holds lines from before the ones drawn here
            return textual_lines(crop)
        self.drew_own_lines = True
        self.own_renders += 1
        return self._lines(widget, crop)

    def _lines(self, widget: Widget, crop: Region) -> list[Strip]:
        width = widget.size.width
        render_line = widget.render_line
        strips = [render_line(y) for y in crop.line_range]
        for index, strip in enumerate(strips):
            if strip.cell_length != width:
                strips[index] = strip.adjust_cell_length(width, widget.rich_style)
        if self._pads is None:
            self._pads = _pads(widget)
        left, right = self._pads
        if left or right:
            width += left[0].cell_length if left else 0
            width += right[0].cell_length if right else 0
            strips = [Strip([*left, *strip, *right], width) for strip in strips]
        filters = widget.app.get_line_filters()
        if filters:
            if self._background is None:
                self._background = widget.background_colors[1]
            background = self._background
            for line_filter in filters:
                strips = [strip.apply_filter(line_filter, background) for strip in strips]
        x1, x2 = crop.column_span
        if (x1, x2) != (0, width):
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips


def _pads(widget: Widget) -> tuple[list[Segment], list[Segment]]:
    """Left and right padding, in the widget's background (as Textual draws it)."""
    _, pad_right, _, pad_left = widget.styles.padding
    if not (pad_left or pad_right):
        return [], []
    base_background, background = widget.background_colors
    inner = Style(background=base_background + background).rich_style
    left = [Segment(" " * pad_left, inner)] if pad_left else []
    right = [Segment(" " * pad_right, inner)] if pad_right else []
    return left, right
