"""Turning Rich Text into terminal lines cheaply: the drawing shared by the table and text lines.

Textual's generic path (a Content or renderable through the visual pipeline) costs about half a
millisecond per small widget and frame; pgtop's texts are single-style runs most of the time, so
a line is built here directly: styles combined once and cached, runs of equal style merged into
one segment (the terminal gets one style sequence per run, not per cell).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

__all__ = ["CONSOLE", "Painter", "cells", "changed_range", "differing_span", "merged"]

CONSOLE = Console(width=10_000, color_system=None, legacy_windows=False)
"""Only measures and divides text (Text.render / Text.wrap); never prints."""

Align = Literal["left", "center", "right"]


_FITTED_KEPT = 20_000

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def cells(text: str) -> int:
    """The cells ``text`` takes on screen, as Rich counts them, measuring only its non-ASCII
    runs. Rich measures a string with any character outside its single-width set character
    by character (~6 us for a table line's tail ending in "…", over a hundred such lines a
    tick) and caches whole strings, which change every tick; the runs ("…", "▲", braille)
    repeat and hit its cache. Joiners and emoji selectors make a width depend on the
    neighbouring characters: such text is measured whole."""
    if text.isascii():
        return len(text)
    if "\u200d" in text or "\ufe0f" in text:
        return cell_len(text)
    return len(text) + sum(cell_len(run) - len(run) for run in _NON_ASCII.findall(text))


def _head(text: Text, width: int) -> Text:
    """A head of ``text`` that cuts to ``width`` cells as the whole does: Rich splits the
    whole string into graphemes to cut it (~80 ms for a 64K statement text, on every pane
    switch). A head of at least ``width`` cells holds every character the cut keeps,
    combining ones included; joiners and emoji selectors join across it: then the whole."""
    size = 2 * width + 2
    if len(text.plain) <= size:
        return text
    head = text.plain[: size + 1]
    if "\u200d" in head or "\ufe0f" in head or cells(head[:size]) < width:
        return text
    return text[:size]


class Painter:
    """Fits Text into a width as (text, style) runs over a base style."""

    def __init__(self) -> None:
        self._combined: dict[tuple[Style, str | Style], Style] = {}
        self._fitted: dict[int, tuple[Text, int, Style, list[tuple[str, Style]]]] = {}

    def style(self, base: Style, extra: str | Style) -> Style:
        key = (base, extra)
        style = self._combined.get(key)
        if style is None:
            parsed = Style.parse(extra) if isinstance(extra, str) else extra
            style = self._combined[key] = base + parsed
        return style

    def forget(self) -> None:
        self._combined.clear()
        self._fitted.clear()

    def cell_runs(self, text: Text, width: int, base: Style) -> list[tuple[str, Style]]:
        """:meth:`runs` of a table cell, remembered per Text object: cells are shared between
        ticks (``format.cell`` and ``format.num`` are cached), so a row whose duration changed
        reuses the runs of its other ten cells. The entry holds the Text, so its id is not
        reused while remembered."""
        key = id(text)
        hit = self._fitted.get(key)
        if hit is not None and hit[0] is text and hit[1] == width and hit[2] is base:
            return hit[3]
        runs = self.runs(text, width, base)
        if len(self._fitted) >= _FITTED_KEPT:
            self._fitted.clear()
        self._fitted[key] = (text, width, base, runs)
        return runs

    def runs(
        self, text: Text, width: int, base: Style, align: Align | None = None
    ) -> list[tuple[str, Style]]:
        """``text`` fitted to ``width`` cells: cut with an ellipsis, or padded as ``align``
        says (default: the text's own justify, left unless it says right)."""
        plain = text.plain
        spans = text.spans
        length = cells(plain)
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
        text = _head(text, width)
        if not text.spans and not text.style:
            head = set_cell_size(text.plain, width - 1).rstrip(" ")
            gap = width - 1 - cells(head)
            return [(head + "…", base), (" " * gap, base)] if gap else [(head + "…", base)]
        cut = text.copy()
        cut.truncate(width, overflow="ellipsis", pad=True)
        return self._styled(cut, base)

    def _styled(self, text: Text, base: Style) -> list[tuple[str, Style]]:
        """Several spans. Spans that do not overlap (the usual case: a line assembled from
        styled parts) are cut here; overlapping ones are left to Rich, which combines them."""
        plain = text.plain
        outer = self.style(base, text.style) if text.style else base
        spans = sorted(text.spans, key=lambda span: span.start)
        runs: list[tuple[str, Style]] = []
        position = 0
        for start, end, style in spans:
            if start < position:
                return self._rich_styled(text, outer)  # overlapping: Rich combines them
            if start > position:
                runs.append((plain[position:start], outer))
            if end > start:
                runs.append((plain[start:end], self.style(outer, style)))
            position = max(position, end)
        if position < len(plain):
            runs.append((plain[position:], outer))
        return runs

    def _rich_styled(self, text: Text, outer: Style) -> list[tuple[str, Style]]:
        """``outer``: the base with the text's own style, which Text.render leaves out."""
        runs: list[tuple[str, Style]] = []
        for segment in text.render(CONSOLE, end=""):
            style = self.style(outer, segment.style) if segment.style else outer
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
        if style is current:  # the painter's styles are shared objects (Style.__eq__ is slow)
            text += part
            continue
        if current is not None:
            segments.append(Segment(text, current))
        text, current = part, style
    if current is not None and text:
        segments.append(Segment(text, current))
    return segments


def _runs(strip: Strip) -> tuple[str, list[tuple[int, Style | None]]] | None:
    """The line's characters and where each style run ends (in cells); None when a character
    is not one cell wide (positions would not be cells)."""
    texts: list[str] = []
    ends: list[tuple[int, Style | None]] = []
    end = 0
    for segment in strip:
        text = segment.text
        if not text or segment.control:
            continue
        if cells(text) != len(text):
            return None
        texts.append(text)
        end += len(text)
        if ends and ends[-1][1] is segment.style:
            ends[-1] = (end, segment.style)
        else:
            ends.append((end, segment.style))
    return "".join(texts), ends


def _first_style_change(
    before: list[tuple[int, Style | None]], after: list[tuple[int, Style | None]]
) -> int:
    """The first cell whose style differs (the width when none does). Styles are compared by
    identity: the painter hands out one object per style, and Style.__eq__ costs a hash of
    both; two equal styles that are distinct objects only repaint a few cells more."""
    i = j = 0
    while i < len(before) and j < len(after):
        (end_a, style_a), (end_b, style_b) = before[i], after[j]
        if style_a is not style_b:
            return max(before[i - 1][0] if i else 0, after[j - 1][0] if j else 0)
        if end_a == end_b:
            i, j = i + 1, j + 1
        elif end_a < end_b:
            i += 1
        else:
            j += 1
    return before[-1][0] if before else 0


def _reversed_runs(
    runs: list[tuple[int, Style | None]], width: int
) -> list[tuple[int, Style | None]]:
    """The same runs counted from the line's end."""
    starts = [0, *(end for end, _ in runs[:-1])]
    return [
        (width - start, style)
        for start, (_, style) in zip(reversed(starts), reversed(runs), strict=True)
    ]


def changed_range(old: Strip, new: Strip) -> tuple[int, int] | None:
    """The cells from the first to the last that differ between two lines of the same width
    ((0, 0) when none does); None when they cannot be compared cell by cell."""
    if old.cell_length != new.cell_length:
        return None
    before, after = _runs(old), _runs(new)
    if before is None or after is None or len(before[0]) != len(after[0]):
        return None
    (text_a, runs_a), (text_b, runs_b) = before, after
    width = len(text_a)
    start, stop = differing_span(text_a, text_b)
    if start == stop:  # the same characters: only styles can differ
        start, stop = width, 0
    start = min(start, _first_style_change(runs_a, runs_b))
    from_end = _first_style_change(_reversed_runs(runs_a, width), _reversed_runs(runs_b, width))
    stop = max(stop, width - from_end)
    return (start, stop) if start < stop else (0, 0)


def differing_span(before: Sequence[object], after: Sequence[object]) -> tuple[int, int]:
    """From the first to past the last position where two sequences of the same length
    differ; ``start == stop`` when they are equal. A binary search over slices: the
    comparisons run in C (a query cell is a hundred characters; this runs for every changed
    table cell and text line, every tick)."""
    width = len(after)
    if before == after:
        return width, width
    low, high = 0, width  # before[:low] == after[:low]; they differ within [:high]
    while high - low > 1:
        middle = (low + high) // 2
        if before[low:middle] == after[low:middle]:
            low = middle
        else:
            high = middle
    start = low
    low, high = 0, width - start  # the last `low` items are equal; not the last `high`
    while high - low > 1:
        middle = (low + high) // 2
        if before[width - middle : width - low] == after[width - middle : width - low]:
            low = middle
        else:
            high = middle
    return start, width - low
