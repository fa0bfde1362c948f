"""A Static for text that is set every tick: it repaints only when the text changed, and asks for
a layout only when its height may have changed.

``Static.update`` lays the whole screen out again by default (it cannot know the new text fits the
old size); a status line updated on each of five panes every tick made pgtop lay out the screen
on every refresh. A line whose height is fixed by the stylesheet (``fixed_height``) never needs
a layout; one whose height is auto needs one only when its count of lines changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["Line", "same_text"]


def same_text(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


class Line(Static):
    def __init__(
        self,
        text: str | Text = "",
        *,
        fixed_height: bool,
        id: str | None = None,  # noqa: A002 - textual's name
        classes: str | None = None,
    ) -> None:
        self._text = Text(text) if isinstance(text, str) else text
        super().__init__(self._text, id=id, classes=classes)
        self.fixed_height = fixed_height

    @property
    def text(self) -> Text:
        return self._text

    def show(self, text: Text) -> None:
        old = self._text
        if same_text(text, old):
            return
        self._text = text
        relayout = not self.fixed_height and old.plain.count("\n") != text.plain.count("\n")
        self.update(text, layout=relayout)
