"""A compositor that asks only the widgets under the refreshed regions for their lines.

For a partial update Textual's compositor takes the box around every refreshed region and asks
each widget overlapping that box for all of its lines. The header clock (top line) and a table
row (bottom) make that box the whole screen, so every widget — four charts, a dozen text lines,
the containers behind them — was asked for every line on every tick, to keep only the lines
that changed. :class:`UpdatedOnlyCompositor` asks a widget only when one of the refreshed
regions overlaps it, and only for the rows between the first and the last such region.

What reaches the screen is the same: a chop (a cut of a screen line between two widget edges)
is written only where a refreshed region lies, and the topmost widget there overlaps that
region, so it is still asked. Widgets are asked front to back, and a part of a refreshed region
that a widget drew is covered for those below it: a container or the screen behind a line of
text that changed is not asked at all (each took Textual's styling pass over its whole width).

Relies on Compositor internals (``_dirty_regions``, ``_get_renders``, ``visible_widgets``),
listed in docs/architecture.md; Textual's own path is taken when one is missing, and
tests/test_ui_fast_paths.py fails. Without it the UI took 13 % more CPU in a replay of a busy
server's samples at the default refresh (benchmarks/ui_replay.py).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip

__all__ = ["MonitorScreen", "UpdatedOnlyCompositor"]

_Spans = dict[int, list[tuple[int, int]]]


def _spans_by_row(regions: Iterable[Region]) -> _Spans:
    rows: _Spans = {}
    for x, y, width, height in regions:
        for row in range(y, y + height):
            rows.setdefault(row, []).append((x, x + width))
    return rows


def _touched_rows(visible: Region, rows: _Spans, row_keys: list[int]) -> tuple[int, int] | None:
    """The first and past the last row of ``visible`` that a refreshed span overlaps."""
    x1, y1, width, height = visible
    x2 = x1 + width
    inside = row_keys[bisect_left(row_keys, y1) : bisect_left(row_keys, y1 + height)]

    def touched(row: int) -> bool:
        return any(a < x2 and b > x1 for a, b in rows[row])

    first = next((row for row in inside if touched(row)), None)
    if first is None:
        return None
    last = next(row for row in reversed(inside) if touched(row))
    return first, last + 1


def _cover(rows: _Spans, row_keys: list[int], x1: int, x2: int, first: int, stop: int) -> None:
    """Take the columns ``x1``-``x2`` of rows ``first``-``stop`` out of the refreshed spans
    still to draw (a widget in front drew them); rows left with nothing go."""
    for row in row_keys[bisect_left(row_keys, first) : bisect_left(row_keys, stop)]:
        left = []
        for a, b in rows[row]:
            if b <= x1 or a >= x2:
                left.append((a, b))
                continue
            if a < x1:
                left.append((a, x1))
            if b > x2:
                left.append((x2, b))
        if left:
            rows[row] = left
        else:
            del rows[row]
            row_keys.remove(row)


class UpdatedOnlyCompositor(Compositor):
    _refreshed: tuple[_Spans, list[int]] | None = None
    narrowed = 0
    """Partial updates drawn from the widgets under the refreshed regions only: Textual calls
    ``_get_renders`` from ``render_partial_update`` (tests/test_ui_fast_paths.py reads it)."""
    covered = 0
    """Widgets under a refreshed region not asked: those in front drew all of it there."""

    def render_partial_update(self) -> ChopsUpdate | None:
        rows = _spans_by_row(self._dirty_regions)
        self._refreshed = (rows, sorted(rows))
        try:
            return super().render_partial_update()
        finally:
            self._refreshed = None

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if self._refreshed is None:
            yield from super()._get_renders(crop)
            return
        refreshed, refreshed_keys = self._refreshed
        rows = {row: list(spans) for row, spans in refreshed.items()}  # left to draw: shrinks
        row_keys = list(refreshed_keys)
        self.narrowed += 1
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            if not row_keys:
                break
            visible = region.intersection(clip)
            if not visible.area:
                continue
            touched = _touched_rows(visible, rows, row_keys)
            if touched is None:
                if _touched_rows(visible, refreshed, refreshed_keys) is not None:
                    self.covered += 1
                continue
            first, stop = touched
            narrowed = Region(visible.x, first, visible.width, stop - first)
            yield (
                region,
                narrowed,
                widget.render_lines(narrowed.translate((-region.x, -region.y))),
            )
            _cover(rows, row_keys, visible.x, visible.right, first, stop)


class MonitorScreen(Screen[None]):
    """The app's main screen, drawn by :class:`UpdatedOnlyCompositor`."""

    def __init__(self, id: str | None = None) -> None:  # noqa: A002 - textual's name
        super().__init__(id=id)
        if hasattr(self._compositor, "_dirty_regions") and hasattr(Compositor, "_get_renders"):
            self._compositor = UpdatedOnlyCompositor()
