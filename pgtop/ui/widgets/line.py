"""A widget for text that is set every tick (status lines, the header, chart titles).

It repaints only when the text changed, asks for a layout only when its height may have changed,
and draws its lines itself (:mod:`pgtop.ui.widgets.paint`) instead of through Textual's visual
pipeline, which cost ~0.5 ms per widget and frame.

``Static.update`` lays the whole screen out again by default (it cannot know the new text fits the
old size); a status line updated on each of five panes every tick made pgtop lay out the screen on
every refresh. A line whose height is fixed by the stylesheet (``fixed_height``) never needs a
layout; one whose height is auto needs one only when its count of lines changed.

The stylesheet's ``text-wrap: nowrap`` cuts each line with an ellipsis (``text-overflow`` is
always ellipsis here); otherwise text wraps. ``text-align`` is honoured.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from pgtop.ui.widgets.own_lines import OwnLines
from pgtop.ui.widgets.paint import Align, Painter, cells, changed_range, merged

__all__ = ["Line", "same_text", "wrap_at_spaces"]

_WORD = re.compile(r"([^ ]+)( *)")
_PART = re.compile("[^\u00a0]+\u00a0*")


def same_text(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


def wrap_at_spaces(text: Text, width: int) -> list[Text]:
    """``text`` broken into lines of ``width`` cells at ASCII spaces: a no-break space (U+00A0)
    keeps a health chip together (Rich's own wrapping breaks at any whitespace). Only a chip
    wider than the whole line is broken, at its no-break spaces; a part still too wide is left
    whole (the painter cuts it with an ellipsis)."""
    plain = text.plain
    if cells(plain) <= width:
        return [text]
    breaks: list[int] = []
    column = 0
    for match in _WORD.finditer(plain):
        word = cells(match.group(1))
        if column and column + word > width:
            breaks.append(match.start())
            column = 0
        if word > width:
            column = 0
            for part in _PART.finditer(match.group(1)):
                size = cells(part.group())
                if column and column + size > width:
                    breaks.append(match.start() + part.start())
                    column = 0
                column += size
        else:
            column += word
        column += len(match.group(2))
    lines = list(text.divide(breaks))
    for line in lines:
        line.rstrip()
    return lines


class Line(Widget):
    DEFAULT_CSS = """
    Line { height: auto; }
    """

    def __init__(
        self,
        text: str | Text = "",
        *,
        fixed_height: bool,
        id: str | None = None,  # noqa: A002 - textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text(text) if isinstance(text, str) else text
        self.fixed_height = fixed_height
        self._painter = Painter()
        self._own_lines = OwnLines()
        self._strips: list[Strip] | None = None
        self._drawn_for: tuple[int, Style] | None = None
        self._base: Style | None = None
        self._layout: tuple[bool, Align] | None = None
        """(nowrap, alignment) from the stylesheet: looked up once per style change."""

    @property
    def text(self) -> Text:
        return self._text

    def render(self) -> RenderResult:
        """The text (what tests and ``str()`` read; the screen is drawn by render_line)."""
        return self._text

    def show(self, text: Text) -> None:
        old = self._text
        if same_text(text, old):
            return
        self._text = text
        drawn = self._strips
        self._strips = None
        if not self.fixed_height and self._height(old) != self._height(text):
            self.refresh(layout=True)
            return
        if drawn is None or self._drawn_for is None or self._drawn_for[0] != self.size.width:
            self.refresh()
            return
        self._repaint_changed(drawn, self._draw(*self._drawn_for))

    def _repaint_changed(self, drawn: list[Strip], strips: list[Strip]) -> None:
        """Refresh only the cells that differ from what is on screen (a clock ticking in the
        header rewrites eight characters, not the line)."""
        self._strips = strips
        if len(drawn) != len(strips):
            self.refresh()
            return
        regions = []
        for y, (old, new) in enumerate(zip(drawn, strips, strict=True)):
            if old is new:
                continue
            span = changed_range(old, new)
            if span is None:
                regions.append(Region(0, y, new.cell_length, 1))
            elif span[0] < span[1]:
                regions.append(Region(span[0], y, span[1] - span[0], 1))
        if regions:
            self.refresh(*regions)

    def _height(self, text: Text) -> int:
        return len(self._lines(text, max(1, self.size.width)))

    def _nowrap(self) -> bool:
        return self._text_layout()[0]

    def _text_layout(self) -> tuple[bool, Align]:
        if self._layout is None:
            styles = self.styles
            align: Align = "left"
            if styles.text_align in ("center", "right"):
                align = "center" if styles.text_align == "center" else "right"
            self._layout = (styles.text_wrap == "nowrap", align)
        return self._layout

    def _lines(self, text: Text, width: int) -> list[Text]:
        paragraphs = list(text.split("\n", allow_blank=True)) if "\n" in text.plain else [text]
        if self._nowrap() or text.no_wrap:
            return paragraphs
        return [line for paragraph in paragraphs for line in wrap_at_spaces(paragraph, width)]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        del container, viewport
        return len(self._lines(self._text, max(1, width)))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._own_lines.forget()
        self._strips = None
        self._base = None
        self._layout = None
        self._painter.forget()

    def _draw(self, width: int, base: Style) -> list[Strip]:
        align = self._text_layout()[1]
        return [
            Strip(merged(self._painter.runs(line, width, base, align)), width)
            for line in self._lines(self._text, width)
        ]

    def render_lines(self, crop: Region) -> list[Strip]:
        return self._own_lines.render_lines(self, crop, super().render_lines)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._base is None:
            self._base = self.rich_style  # walks the ancestors: once per style change
        base = self._base
        if self._strips is None or self._drawn_for != (width, base):
            self._drawn_for = (width, base)
            self._strips = self._draw(width, base)
        if y < len(self._strips):
            return self._strips[y]
        return Strip([Segment(" " * width, base)], width)
