"""Screen updates that write only the refreshed part of a line, as curses does.

Textual turns the regions widgets refresh into spans per screen line, but when a span starts
inside a widget's line it writes that line from the widget's left edge (its ``render_segments``
crops only the right end: "TODO: crop to x extents"). A table row whose duration and query
changed would then be written whole, though its pid, database, user, application and client
did not change. :class:`CroppedChopsUpdate` crops both ends, so what a widget refreshes is all
the terminal receives; :class:`~pgtop.ui.widgets.keyed_table.KeyedTable` and
:class:`~pgtop.ui.widgets.line.Line` refresh only the cells that changed.

Relies on ChopsUpdate's attributes (``chops``, ``spans``, ``chop_ends``); with a Textual
that lacks them, updates pass through unchanged.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from textual._compositor import ChopsUpdate

__all__ = ["CroppedChopsUpdate", "cropped"]


class CroppedChopsUpdate(ChopsUpdate):
    def render_segments(self, console: Console) -> str:
        sequences: list[str] = []
        append = sequences.append
        chops, chop_ends = self.chops, self.chop_ends
        for y, x1, x2 in self.spans:
            for end, (x, strip) in zip(chop_ends[y], chops[y].items(), strict=False):
                if strip is None or x >= x2 or end <= x1:
                    continue
                start, stop = max(x, x1), min(end, x2)
                if start != x or stop != end:
                    strip = strip.crop(start - x, stop - x)
                append(f"\x1b[{y + 1};{start + 1}H")  # rich's Control.move_to(start, y)
                append(strip.render(console))
        return "".join(sequences)


def cropped(renderable: Any) -> Any:
    """``renderable`` with a ChopsUpdate made to crop both ends of each span."""
    if type(renderable) is ChopsUpdate and all(
        hasattr(renderable, name) for name in ("chops", "spans", "chop_ends")
    ):
        return CroppedChopsUpdate(renderable.chops, renderable.spans, renderable.chop_ends)
    return renderable
