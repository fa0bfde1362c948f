"""Turning Rich Text into terminal lines cheaply: the drawing shared by the table and text lines.

Textual's generic path (a Content or renderable through the visual pipeline) costs about half a
millisecond per small widget and frame; pgtop's texts are single-style runs most of the time, so
a line is built here directly: styles combined once and cached, runs of equal style merged into
one segment (the terminal gets one style sequence per run, not per cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Literal

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

__all__ = ["CONSOLE", "Painter", "changed_range", "differing_span", "merged"]

CONSOLE = Console(width=10_000, color_system=None, legacy_windows=False)
"""Only measures and divides text (Text.render / Text.wrap); never prints."""

Align = Literal["left", "center", "right"]


class Painter:
    """Fits Text into a width as (text, style) runs over a base style."""

    def __init__(self) -> None:
        self._combined: dict[tuple[Style, str | Style], Style] = {}

    def style(self, base: Style, extra: str | Style) -> Style:
        key = (base, extra)
        style = self._combined.get(key)
        if style is None:
            parsed = Style.parse(extra) if isinstance(extra, str) else extra
            style = self._combined[key] = base + parsed
        return style

    def forget(self) -> None:
        self._combined.clear()

    def runs(
        self, text: Text, width: int, base: Style, align: Align | None = None
    ) -> list[tuple[str, Style]]:
        """``text`` fitted to ``width`` cells: cut with an ellipsis, or padded as ``align``
        says (default: the text's own justify, left unless it says right)."""
        plain = text.plain
        spans = text.spans
        length = cell_len(plain)
        if length > width:
            return self._cut(text, width, base)
        gap = width - length
        if not spans and not text.style:
            content = [(plain, base)] if plain else []
        elif not spans or (len(spans) == 1 and spans[0].start == 0 and spans[0].end >= len(plain)):
            style = self.style(base, text.style) if text.style else base
            if spans:
                style = self.style(style, spans[0].style)
            content = [(plain, style)] if plain else []
        else:
            content = self._styled(text, base)
        if not gap:
            return content
        align = align or ("right" if text.justify == "right" else "left")
        if align == "right":
            return [(" " * gap, base), *content]
        if align == "center":
            left = gap // 2
            return [(" " * left, base), *content, (" " * (gap - left), base)]
        return [*content, (" " * gap, base)]

    def _cut(self, text: Text, width: int, base: Style) -> list[tuple[str, Style]]:
        if width <= 0:
            return []
        if not text.spans and not text.style:
            head = set_cell_size(text.plain, width - 1).rstrip(" ")
            gap = width - 1 - cell_len(head)
            return [(head + "…", base), (" " * gap, base)] if gap else [(head + "…", base)]
        cut = text.copy()
        cut.truncate(width, overflow="ellipsis", pad=True)
        return self._styled(cut, base)

    def _styled(self, text: Text, base: Style) -> list[tuple[str, Style]]:
        """Several spans: Rich divides the text (rare: tree prefixes, highlighted parts)."""
        runs: list[tuple[str, Style]] = []
        for segment in text.render(CONSOLE, end=""):
            style = self.style(base, segment.style) if segment.style else base
            runs.append((segment.text, style))
        return runs


def merged(runs: list[tuple[str, Style]]) -> list[Segment]:
    """Segments with adjacent runs of the same style joined."""
    segments: list[Segment] = []
    text = ""
    current: Style | None = None
    for part, style in runs:
        if not part:
            continue
        if style == current:
            text += part
            continue
        if current is not None:
            segments.append(Segment(text, current))
        text, current = part, style
    if current is not None and text:
        segments.append(Segment(text, current))
    return segments


def _cells(strip: Strip) -> list[tuple[str, Style | None]] | None:
    """(character, style) per cell; None when a character is not one cell wide."""
    cells: list[tuple[str, Style | None]] = []
    for segment in strip:
        text = segment.text
        if not text.isascii() and cell_len(text) != len(text):
            return None
        cells.extend(zip(text, repeat(segment.style), strict=False))
    return cells


def changed_range(old: Strip, new: Strip) -> tuple[int, int] | None:
    """The cells from the first to the last that differ between two lines of the same width
    ((0, 0) when none does); None when they cannot be compared cell by cell."""
    if old.cell_length != new.cell_length:
        return None
    before, after = _cells(old), _cells(new)
    if before is None or after is None:
        return None
    start, stop = differing_span(before, after)
    return (start, stop) if start < stop else (0, 0)


def differing_span(before: Sequence[object], after: Sequence[object]) -> tuple[int, int]:
    """From the first to past the last position where two sequences of the same length
    differ; ``start == stop`` when they are equal."""
    width = len(after)
    start = 0
    while start < width and before[start] == after[start]:
        start += 1
    stop = width
    while stop > start and before[stop - 1] == after[stop - 1]:
        stop -= 1
    return start, stop
