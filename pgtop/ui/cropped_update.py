"""Screen updates that write only the refreshed part of a line, as curses does.

Textual turns the regions widgets refresh into spans per screen line, but when a span starts
inside a widget's line it writes that line from the widget's left edge (its ``render_segments``
crops only the right end: "TODO: crop to x extents"). A table row whose duration and query
changed would then be written whole, though its pid, database, user, application and client
did not change. :class:`CroppedChopsUpdate` crops both ends, so what a widget refreshes is all
the terminal receives; :class:`~pgtop.ui.widgets.keyed_table.KeyedTable` and
:class:`~pgtop.ui.widgets.line.Line` refresh only the cells that changed.

It also writes a style sequence only when the style changes: Textual wraps every segment in
its full style and a reset, and a table line is a handful of segments (about half of the
bytes were style sequences). Segments are cut without building intermediate Strips (each
carries seven caches: cropping through ``Strip.crop`` was a sixth of pgtop's CPU).

Relies on ChopsUpdate's attributes (``chops``, ``spans``, ``chop_ends``), on ``App._display``
(which the app overrides) handing it to the terminal through ``render_segments``, and on Rich's
``Console._color_system``; with a Textual that lacks them, updates pass through unchanged, and
tests/test_ui_fast_paths.py fails. Without it the UI sent 2.6 times the bytes and took 40 %
more CPU in a replay of a busy server's samples at the default refresh
(benchmarks/ui_replay.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from pgtop.ui.widgets.paint import cells

__all__ = ["CroppedChopsUpdate", "cropped"]

_UNKNOWN = Style()  # a sentinel: the terminal's style is not known
_codes: dict[tuple[Style, ColorSystem], str] = {}


def _sgr(style: Style, color_system: ColorSystem) -> str:
    """The SGR parameters of ``style`` ("1;38;5;185;48;5;17"), via Rich's public render."""
    key = (style, color_system)
    codes = _codes.get(key)
    if codes is None:
        rendered = style.render("\0", color_system=color_system)
        codes = rendered[2 : rendered.index("m\0")] if rendered.startswith("\x1b[") else ""
        if len(_codes) > 4096:
            _codes.clear()
        _codes[key] = codes
    return codes


def _cut(text: str, size: int, start: int, stop: int) -> str:
    """Cells ``start`` to ``stop`` of ``text`` (``size`` cells wide)."""
    if len(text) == size:
        return text[start:stop]
    _, right = Segment(text).split_cells(start)
    middle, _ = right.split_cells(stop - start)
    return middle.text


class _Writer:
    def __init__(self, color_system: ColorSystem | None) -> None:
        self.color_system = color_system
        self.parts: list[str] = []
        self.current: Style | None = _UNKNOWN

    def move(self, x: int, y: int) -> None:
        self.parts.append(f"\x1b[{y + 1};{x + 1}H")  # rich's Control.move_to(x, y)

    def write(self, text: str, style: Style | None) -> None:
        if self.color_system is None or (style is not None and style.link):
            self.parts.append(style.render(text, color_system=self.color_system) if style else text)
            self.current = _UNKNOWN
            return
        current = self.current
        if current is _UNKNOWN or (style is not current and style != current):
            codes = _sgr(style, self.color_system) if style is not None else ""
            self.parts.append(f"\x1b[0;{codes}m" if codes else "\x1b[0m")
            self.current = style
        self.parts.append(text)

    def strip(self, strip: Strip, start: int, stop: int) -> None:
        x = 0
        for text, style, control in strip:
            if control or not text:
                continue
            size = cells(text)
            end = x + size
            if x >= stop:
                break
            if end > start:
                if x < start or end > stop:
                    text = _cut(text, size, max(start - x, 0), min(stop, end) - x)
                self.write(text, style)
            x = end

    def finish(self) -> str:
        if self.current is not None and self.current is not _UNKNOWN:
            self.parts.append("\x1b[0m")
        return "".join(self.parts)


class CroppedChopsUpdate(ChopsUpdate):
    written: ClassVar[int] = 0
    """Updates turned into terminal bytes here, in this process: Textual's ``App._display``
    calls ``render_segments`` (tests/test_ui_fast_paths.py reads it)."""

    def render_segments(self, console: Console) -> str:
        CroppedChopsUpdate.written += 1
        writer = _Writer(getattr(console, "_color_system", None))  # what Strip.render uses
        chops, chop_ends = self.chops, self.chop_ends
        for y, x1, x2 in self.spans:
            for end, (x, strip) in zip(chop_ends[y], chops[y].items(), strict=False):
                if strip is None or x >= x2 or end <= x1:
                    continue
                start, stop = max(x, x1), min(end, x2)
                writer.move(start, y)
                writer.strip(strip, start - x, stop - x)
        return writer.finish()


def cropped(renderable: Any) -> Any:
    """``renderable`` with a ChopsUpdate made to crop both ends of each span."""
    if type(renderable) is ChopsUpdate and all(
        hasattr(renderable, name) for name in ("chops", "spans", "chop_ends")
    ):
        return CroppedChopsUpdate(renderable.chops, renderable.spans, renderable.chop_ends)
    return renderable
