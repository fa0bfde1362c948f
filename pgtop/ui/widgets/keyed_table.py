"""A table fed (key -> record) each tick that repaints only the lines whose content changed.

Each tick the pane hands over its records; the table formats them through its column
declarations, filters and sorts them in Python, and compares every visible line with what it
showed: only the lines that differ are refreshed, so the terminal receives those lines and nothing
else. A line is drawn straight into a :class:`~textual.strip.Strip` with one segment per run of
equal style (the terminal gets a style sequence per run, not per cell) and kept until its row's
cells change. The cursor follows its row key (a pid) while rows move.

Textual's DataTable was the first implementation: it re-rendered every visible cell after any
change and sent a style sequence per cell, 2-3 times the bytes and several times the CPU of this.

Columns have fixed widths except one flexible column (the query) which takes what is left; on a
narrow screen the columns with the highest ``priority`` number drop out first, so the flexible
column keeps at least its ``min_width``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pgtop.ui.format import Palette
from pgtop.ui.widgets.line import same_text
from pgtop.ui.widgets.own_lines import OwnLines
from pgtop.ui.widgets.paint import Painter, differing_span, merged

__all__ = ["Col", "KeyedTable", "PaintCounts"]

R = TypeVar("R")

CELL_PADDING = 1
"""Blank cells either side of every column."""

_SLACK = 16
"""Rows by which the scrollable height grows at a time (see KeyedTable._sync_virtual_size)."""

_MERGE_GAP = 32
"""Changed parts of a line closer than this many cells are written as one (a separate part
costs a cursor move and a style sequence, ~30 bytes)."""


@dataclass(frozen=True, slots=True)
class Col(Generic[R]):
    """A column declared as data."""

    key: str
    title: str
    width: int | None
    """Cells; None marks the one flexible column that takes the remaining width."""
    render: Callable[[R, Palette], Text]
    sort: Callable[[R], Any] | None = None
    """Sort value from the record (numbers sort as numbers); None sorts by the cell's text."""
    justify: Literal["left", "right"] = "left"
    priority: int = 0
    """0: always shown; on a narrow screen higher numbers drop out first."""
    min_width: int = 20
    """For the flexible column: never narrower than this."""
    min_share: float = 0.0
    """For the flexible column: never narrower than this share of the table (0.25 = 1/4)."""


@dataclass(slots=True)
class PaintCounts:
    """What the table did since the counts were reset (tests and benchmarks read them)."""

    rows_drawn: int = 0
    """Rows turned into a line of segments (a cache miss)."""
    lines_refreshed: int = 0
    """Screen lines handed to the compositor to repaint."""
    lines_in_part: int = 0
    """Of those, lines of which only the cells that changed were refreshed."""
    full_refreshes: int = 0
    """Whole-widget repaints (resize, scroll, style change, new columns)."""
    layouts: int = 0
    """Screen layouts asked for by a changed row count (see KeyedTable._sync_virtual_size)."""


def _sort_value(value: Any) -> tuple[int, Any]:
    """None last whatever the direction is handled by the caller; here numbers before text."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value).lower())


def unique_keys(records: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The records with every key made unique. Server data can repeat what a pane uses as a
    key (pg_stat_statements has one entry per queryid/user/database *and* toplevel flag)."""
    seen: dict[str, int] = {}
    unique: list[tuple[str, Any]] = []
    for key, record in records:
        count = seen.get(key, 0) + 1
        seen[key] = count
        unique.append((key if count == 1 else f"{key}#{count}", record))
    return unique


class _CursorKeys(ScrollView, can_focus=True):
    """The cursor keys (a base class of their own so that help lists only the table's own keys:
    Textual merges the BINDINGS of every class in the MRO)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First row", show=False),
        Binding("end", "last", "Last row", show=False),
    ]


class KeyedTable(_CursorKeys):
    """Rows keyed by a string; see the module docstring."""

    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 0;
        &:focus {
            background-tint: $foreground 5%;
            & > .keyed-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .keyed-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .keyed-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .keyed-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keyed-table--header", "keyed-table--cursor"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "less_than_sign",
            "sort_column(-1)",
            "Sort ◀",
            key_display="<",
            id="table.sort_prev",
            tooltip="Sort by the previous column",
        ),
        Binding(
            "greater_than_sign",
            "sort_column(1)",
            "Sort ▶",
            key_display=">",
            id="table.sort_next",
            tooltip="Sort by the next column",
        ),
        Binding(
            "r", "reverse_sort", "Reverse", id="table.reverse", tooltip="Reverse the sort order"
        ),
    ]

    class SortChanged(Message):
        """The sort column or direction changed (the pane shows it in its title)."""

        def __init__(self, table: KeyedTable, column: str | None, reverse: bool) -> None:
            super().__init__()
            self.table = table
            self.column = column
            self.reverse = reverse

    class Scrolled(Message):
        """The rows on screen changed (the pane shows "rows 41-78 of 1,006")."""

        def __init__(self, table: KeyedTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> KeyedTable:
            return self.table

    class RowSelected(Message):
        """The row under the cursor was chosen (a click on the selected row)."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Col[Any]],
        *,
        sort_key: str | None = None,
        reverse: bool = False,
        sortable: bool = True,
        limit: int | None = None,
        id: str | None = None,  # noqa: A002 - textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.specs: tuple[Col[Any], ...] = tuple(columns)
        self._by_key = {c.key: c for c in self.specs}
        self.sortable = sortable
        self.sort_key = sort_key if sortable else None
        self.reverse = reverse
        self.filter_text = ""
        self.limit = limit
        """Show at most this many rows: the first after sorting (and filtering)."""
        self.matched = 0
        """Rows that pass the filter (all records without one), shown or not."""
        self.palette = Palette()
        self.counts = PaintCounts()
        self.cursor_row = 0
        self.follow_selection = False
        """False while the cursor is on the first row by default or by the user's choice
        (``home``, moving up to it): it stays on the first row and the view at the top, like
        top(1). Once the user moves it elsewhere or a key is selected, the cursor follows that
        row's key while rows move."""
        self._records: list[tuple[str, Any]] = []
        self._records_given: Sequence[tuple[str, Any]] | None = None
        self._record_by_key: dict[str, Any] = {}
        self._visible: tuple[Col[Any], ...] = ()
        self._widths: tuple[int, ...] = ()
        self._shown: set[str] = set()
        """The keys of the rows shown (after filter, sort and limit)."""
        self._rendered: dict[str, tuple[Any, tuple[Text, ...]]] = {}
        """Each row's record and cells, rendered when first needed (a row off screen is not
        rendered unless the filter or the sort reads its cells)."""
        self._order: list[str] = []
        self._painter = Painter()
        self._own_lines = OwnLines()
        self._frame_width: int | None = None
        self._lines: dict[str, tuple[tuple[Text, ...], bool, Strip]] = {}
        self._header: Strip | None = None
        self._blank: Strip | None = None
        self._styles: tuple[Style, Style] | None = None
        self._painted: list[tuple[str, tuple[Text, ...], bool] | None] = []
        """What each screen line under the header shows (what a repaint is compared with)."""

    # ------------------------------------------------------------------ public

    @property
    def visible_columns(self) -> tuple[Col[Any], ...]:
        return self._visible

    @property
    def shown_keys(self) -> list[str]:
        """Row keys in display order (after filter and sort)."""
        return list(self._order)

    @property
    def row_count(self) -> int:
        return len(self._order)

    def get_row(self, key: str) -> tuple[Text, ...]:
        """The cells shown for row ``key`` (visible columns, in order)."""
        if key not in self._shown:
            raise KeyError(key)
        return self._row_cells(key)

    def column_width(self, key: str) -> int | None:
        for spec, width in zip(self._visible, self._widths, strict=True):
            if spec.key == key:
                return width
        return None

    def set_records(self, records: Sequence[tuple[str, Any]]) -> None:
        """The rows as (key, record); a repeated key gets a `#2`, `#3` … suffix in order of
        appearance. The very same rows as last time (the same sequence object, or the same
        keys with the very same record objects: an idle pane's empty list) are a no-op:
        sorting, filtering and columns changing re-apply by themselves."""
        given = self._records_given
        if records is given or (
            given is not None
            and len(records) == len(given)
            and all(a[0] == b[0] and a[1] is b[1] for a, b in zip(records, given, strict=True))
        ):
            return
        self._records_given = records
        self._records = unique_keys(records)
        self._record_by_key = dict(self._records)
        self._apply()

    def set_columns(self, columns: Sequence[Col[Any]], sort_key: str | None = None) -> None:
        """Another set of column declarations (e.g. interval vs cumulative)."""
        self.specs = tuple(columns)
        self._by_key = {c.key: c for c in self.specs}
        if sort_key is not None:
            self.sort_key = sort_key
        if self.size.width > 0:
            self._relayout(force=True)

    def set_filter(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self._apply()

    def set_palette(self, palette: Palette) -> None:
        if palette != self.palette:
            self.palette = palette
            self._rendered = {}
            self._apply()

    @property
    def selected_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    @property
    def selected_record(self) -> Any:
        key = self.selected_key
        return None if key is None else self._record_by_key.get(key)

    def record(self, key: str) -> Any:
        """The record behind row ``key`` (None when there is no such row)."""
        return self._record_by_key.get(key)

    def select_key(self, key: str) -> bool:
        """Put the cursor on row ``key`` and follow it from now on."""
        if key not in self._shown:
            return False
        self.move_cursor(self._order.index(key))
        self.follow_selection = True
        return True

    def move_cursor(self, row: int) -> None:
        """Put the cursor on display row ``row`` (clamped) and scroll it into view; the cursor
        follows its row from now on unless that is the first row."""
        row = max(0, min(row, len(self._order) - 1))
        self.follow_selection = row > 0
        if row != self.cursor_row:
            self.cursor_row = row
            self._repaint_changed()
        self._scroll_to_cursor()

    # ------------------------------------------------------------------ actions

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self._rows_high() - 1))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._order) - 1)

    def action_sort_column(self, step: int) -> None:
        if not self.sortable or not self._visible:
            return
        keys = [c.key for c in self._visible]
        if self.sort_key in keys:
            index = (keys.index(self.sort_key) + step) % len(keys)
        else:
            index = 0 if step > 0 else len(keys) - 1
        self._sort_by(keys[index], self.reverse)

    def action_reverse_sort(self) -> None:
        if self.sortable:
            self._sort_by(self.sort_key, not self.reverse)

    def _sort_by(self, key: str | None, reverse: bool) -> None:
        self.sort_key, self.reverse = key, reverse
        self._header = None
        self.refresh(Region(0, 0, self.size.width, 1))
        self._apply()
        self.post_message(self.SortChanged(self, self.sort_key, self.reverse))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self._header_clicked(event.x)
            return
        row = int(self.scroll_y) + event.y - 1
        if not 0 <= row < len(self._order):
            return
        event.stop()
        if row == self.cursor_row:
            self.post_message(self.RowSelected(self, self._order[row]))
        else:
            self.move_cursor(row)

    def _header_clicked(self, x: int) -> None:
        if not self.sortable:
            return
        left = 0
        for spec, width in zip(self._visible, self._widths, strict=True):
            right = left + width + 2 * CELL_PADDING
            if left <= x < right:
                same = spec.key == self.sort_key
                self._sort_by(spec.key, not self.reverse if same else self.reverse)
                return
            left = right

    # ------------------------------------------------------------------ layout

    def _layout(self, width: int) -> tuple[tuple[Col[Any], ...], tuple[int, ...]]:
        """Visible columns and their widths for ``width`` cells."""
        pad = 2 * CELL_PADDING
        cols = list(self.specs)
        flex = next((c for c in cols if c.width is None), None)

        # the flexible column (the query) keeps its minimum (and share of the width)
        flex_min = max(flex.min_width, int(width * flex.min_share)) if flex is not None else 0

        def need(columns: list[Col[Any]]) -> int:
            fixed = sum((c.width or 0) + pad for c in columns if c.width is not None)
            return fixed + ((flex_min + pad) if flex is not None else 0)

        while need(cols) > width:
            droppable = [c for c in cols if c.priority > 0]
            if not droppable:
                break
            worst = max(droppable, key=lambda c: (c.priority, cols.index(c)))
            cols.remove(worst)
        widths = []
        fixed = sum((c.width or 0) + pad for c in cols if c.width is not None)
        for c in cols:
            if c.width is None:
                widths.append(max(flex_min, width - fixed - pad))
            else:
                widths.append(c.width)
        return tuple(cols), tuple(widths)

    def on_resize(self, event: events.Resize) -> None:
        del event
        self._relayout()

    def _relayout(self, *, force: bool = False) -> None:
        if self._line_width <= 0:
            return
        visible, widths = self._layout(self._line_width)
        if force or (visible, widths) != (self._visible, self._widths):
            selected = self.selected_key if self.follow_selection else None
            self._visible, self._widths = visible, widths
            self._rendered = {}
            self._forget_lines()
            self._apply(selected=selected)
        self._sync_virtual_size()
        self._repaint_all()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._own_lines.forget()
        self._forget_lines()
        self._painter.forget()

    def on_focus(self) -> None:
        self._forget_lines()
        self._repaint_all()

    def on_blur(self) -> None:
        self._forget_lines()
        self._repaint_all()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)  # refreshes the whole widget when it moved
        if round(old_value) != round(new_value):
            self._painted = self._screen_lines()
            self.post_message(self.Scrolled(self))

    @property
    def allow_vertical_scroll(self) -> bool:
        """The wheel scrolls while rows overflow (there is no scrollbar: see `window`)."""
        return not self._check_disabled() and self.virtual_size.height > self.size.height

    @property
    def window(self) -> tuple[int, int, int] | None:
        """(first, last, total) rows on screen, counted from 1, while they do not all fit.

        No scrollbar is drawn: the compositor cuts every line a scrollbar runs beside in two,
        which cost a tenth of pgtop's CPU under load; the pane's status line says where the
        view is instead."""
        high, total = self._rows_high(), len(self._order)
        if total <= high or high <= 0:
            return None
        top = int(self.scroll_y)
        return top + 1, min(total, top + high), total

    # ------------------------------------------------------------------ the diff

    def _cells_of(self, key: str, record: Any) -> tuple[Text, ...]:
        """The visible cells of ``record``, rendered once per distinct record: an unchanged
        record (equal frozen dataclass) reuses its cells, so a quiet row costs one comparison
        instead of a render per column. When a changed record renders to the same look, the
        cells already shown are kept: the line cache and the repaint test compare cells by
        identity."""
        hit = self._rendered.get(key)
        if hit is not None and (hit[0] is record or hit[0] == record):
            if hit[0] is not record:
                self._rendered[key] = (record, hit[1])
            return hit[1]
        palette = self.palette
        cells = tuple(c.render(record, palette) for c in self._visible)
        if hit is not None and _same_cells(hit[1], cells):
            cells = hit[1]
        self._rendered[key] = (record, cells)
        return cells

    def _row_cells(self, key: str) -> tuple[Text, ...]:
        """The cells of the current record of row ``key``."""
        return self._cells_of(key, self._record_by_key[key])

    def _sort_getter(self, spec: Col[Any]) -> Callable[[str, Any], Any]:
        """The sort value of a row from its key and record."""
        if spec.sort is not None:
            sort = spec.sort
            return lambda _key, record: sort(record)
        if spec in self._visible and self.limit is None:
            index = self._visible.index(spec)  # every row's cells are rendered anyway
            return lambda key, record: self._cells_of(key, record)[index].plain
        palette = self.palette  # render just this column (over a limit, not every row is)
        return lambda _key, record: spec.render(record, palette).plain

    def _rows(self) -> list[str]:
        """The keys of the rows to show, in order: records sorted by their sort value (no cells
        needed), filtered (which reads cells), cut to ``limit``. Cells are rendered later, for
        the rows that reach the screen."""
        palette = self.palette
        records: list[tuple[str, Any]] = self._records
        if self.sortable and self.sort_key in self._by_key:
            getter = self._sort_getter(self._by_key[self.sort_key])
            present = [(getter(key, rec), key, rec) for key, rec in records]
            known = [p for p in present if p[0] is not None]
            unknown = [p for p in present if p[0] is None]
            known.sort(key=lambda p: _sort_value(p[0]), reverse=self.reverse)
            records = [(key, rec) for _, key, rec in known + unknown]
        limit = len(records) if self.limit is None else self.limit
        term = self.filter_text.strip().lower()
        if not term:
            self.matched = len(records)
            return [key for key, _ in records[:limit]]
        hidden = [c for c in self.specs if c not in self._visible]
        rows: list[str] = []
        self.matched = 0
        for key, rec in records:
            cells = self._cells_of(key, rec)
            if not (
                any(term in cell.plain.lower() for cell in cells)
                or any(term in c.render(rec, palette).plain.lower() for c in hidden)
            ):
                continue
            self.matched += 1
            if len(rows) < limit:
                rows.append(key)
        return rows

    def _apply(self, selected: str | None = None) -> None:
        if not self._visible:  # not laid out yet: the first resize builds everything
            return
        if selected is None and self.follow_selection:
            selected = self.selected_key
        rows = self._rows()
        shown = set(rows)
        for key in [key for key in self._lines if key not in shown]:
            del self._lines[key]
        if len(self._rendered) > len(self._record_by_key):
            for key in [key for key in self._rendered if key not in self._record_by_key]:
                del self._rendered[key]
        self._shown = shown
        self._order = rows
        if selected is not None and selected in shown:
            self.cursor_row = self._order.index(selected)
        elif self._order:
            self.cursor_row = min(self.cursor_row, len(self._order) - 1)
        else:
            self.cursor_row = 0
        self._sync_virtual_size()
        self._repaint_changed()
        if selected is not None and selected in shown:
            self._scroll_to_cursor()

    # ------------------------------------------------------------------ painting

    @property
    def _line_width(self) -> int:
        """The cells a line shows: the width without the scrollbar's gutter (columns laid out
        for the whole width would hide the query's last cells, ellipsis included)."""
        return max(0, self.size.width - self.scrollbar_gutter.width)

    def _rows_high(self) -> int:
        return max(0, self.size.height - 1)

    def _sync_virtual_size(self) -> None:
        """Rows plus the header, with slack when the rows overflow the screen.

        A row count that changes every tick must not cost a layout every tick: while the rows
        overflow, the scrollable height grows in steps of ``_SLACK`` rows and shrinks only
        when two steps are unused, and a new height is set without Textual's layout of the
        whole screen (``set_reactive`` and ``_scroll_update``, private: docs/architecture.md).
        With a layout at each new height the UI sent 17 % more bytes in a replay of a busy
        server's samples (benchmarks/ui_replay.py). The screen is laid out again only when
        the rows start or stop overflowing (or when the table's own height is auto)."""
        rows = len(self._order) + 1
        current = self.virtual_size.height
        if rows > self.size.height:
            if rows > current or rows < current - 2 * _SLACK:
                height = max(rows, current) if rows > current else rows
                height = -(-height // _SLACK) * _SLACK
            else:
                height = current
        else:
            height = rows
        size = Size(self.size.width, height)
        if size == self.virtual_size:
            return
        before = self.virtual_size.height > self.size.height
        after = size.height > self.size.height
        if before != after or self.styles.height is None or self.styles.height.is_auto:
            self.counts.layouts += 1
            self.virtual_size = size
            return
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)  # the scrollbar's thumb
        if self.scroll_y > self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def _scroll_to_cursor(self) -> None:
        high = self._rows_high()
        if high <= 0 or not self._order:
            return
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + high:
            self.scroll_to(y=self.cursor_row - high + 1, animate=False, immediate=True)

    def _screen_lines(self) -> list[tuple[str, tuple[Text, ...], bool] | None]:
        top = int(self.scroll_y)
        lines: list[tuple[str, tuple[Text, ...], bool] | None] = []
        for index in range(top, top + self._rows_high()):
            if index < len(self._order):
                key = self._order[index]
                lines.append((key, self._row_cells(key), index == self.cursor_row))
            else:
                lines.append(None)
        return lines

    def _repaint_changed(self) -> None:
        """Refresh the screen lines whose row, cells or cursor state changed."""
        lines = self._screen_lines()
        painted = self._painted
        if len(painted) != len(lines):
            self._painted = lines
            self._repaint_all()
            return
        width = self._line_width
        regions = []
        changed = 0
        for y, (now, before) in enumerate(zip(lines, painted, strict=True)):
            if now is before or (
                now is not None
                and before is not None
                and now[0] == before[0]
                and now[1] is before[1]
                and now[2] == before[2]
            ):
                continue
            changed += 1
            spans = None
            if now is not None and before is not None and now[2] == before[2]:
                spans = self._changed_spans(before[1], now[1])
            if spans is None:
                regions.append(Region(0, y + 1, width, 1))
            else:
                self.counts.lines_in_part += 1
                regions.extend(Region(x1, y + 1, x2 - x1, 1) for x1, x2 in spans)
        self._painted = lines
        self.counts.lines_refreshed += changed
        if regions:
            self.refresh(*regions)

    def _changed_spans(
        self, old: tuple[Text, ...], new: tuple[Text, ...]
    ) -> list[tuple[int, int]] | None:
        """The x ranges of a screen line that differ between two rows' cells (None: all of
        it). Within a plain left-aligned cell only the part after the common prefix and
        before the common suffix counts, so a pgbench UPDATE replaced by another repaints
        from its first differing digit. Ranges closer than ``_MERGE_GAP`` are joined: each
        costs the terminal a cursor move and a style sequence."""
        if len(old) != len(new) or len(new) != len(self._widths):
            return None
        spans: list[tuple[int, int]] = []
        x = 0
        for old_cell, new_cell, width, spec in zip(
            old, new, self._widths, self._visible, strict=True
        ):
            end = x + width + 2 * CELL_PADDING
            if old_cell is not new_cell and not same_text(old_cell, new_cell):
                inner = _changed_within(old_cell, new_cell, width, spec.justify)
                if inner is None:
                    spans.append((x, end))
                elif inner[0] < inner[1]:
                    spans.append((x + CELL_PADDING + inner[0], x + CELL_PADDING + inner[1]))
            x = end
        joined: list[tuple[int, int]] = []
        for start, stop in spans:
            if joined and start - joined[-1][1] < _MERGE_GAP:
                joined[-1] = (joined[-1][0], stop)
            else:
                joined.append((start, stop))
        return joined

    def _repaint_all(self) -> None:
        self._painted = self._screen_lines()
        self.counts.full_refreshes += 1
        self.refresh()

    def _forget_lines(self) -> None:
        self._lines.clear()
        self._header = None
        self._blank = None
        self._styles = None

    def _base_styles(self) -> tuple[Style, Style]:
        """The widget's style and the cursor row's, worked out once per style change (Textual
        computes ``rich_style`` by walking the ancestors' backgrounds)."""
        if self._styles is None:
            base = self.rich_style
            self._styles = (base, base + self.get_component_rich_style("keyed-table--cursor"))
        return self._styles

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_width = self._line_width  # Widget.size is worked out anew on each call
        try:
            return self._own_lines.render_lines(self, crop, super().render_lines)
        finally:
            self._frame_width = None

    def render_line(self, y: int) -> Strip:
        width = self._frame_width if self._frame_width is not None else self._line_width
        base, cursor_base = self._base_styles()
        if y == 0:
            if self._header is None or self._header.cell_length != width:
                self._header = self._header_strip(width, base)
            return self._header
        index = int(self.scroll_y) + y - 1
        if index >= len(self._order):
            if self._blank is None or self._blank.cell_length != width:
                self._blank = Strip([Segment(" " * width, base)], width)
            return self._blank
        key = self._order[index]
        cells = self._row_cells(key)
        cursor = index == self.cursor_row
        hit = self._lines.get(key)
        if hit is not None and hit[0] is cells and hit[1] == cursor:
            return hit[2]
        strip = self._row_strip(cells, width, cursor_base if cursor else base)
        self._lines[key] = (cells, cursor, strip)
        self.counts.rows_drawn += 1
        return strip

    def _row_strip(self, cells: Sequence[Text], width: int, base: Style) -> Strip:
        """Runs of equal style merged across the whole line: a line is nearly always repainted
        whole (rows move under a sort), and every segment costs the terminal a style sequence.
        (Segments cut at column boundaries, so that Textual could write only the changed cells,
        sent 1.6 times the bytes under 100 busy clients.)"""
        painter = self._painter
        pad = (" " * CELL_PADDING, base)
        runs: list[tuple[str, Style]] = []
        used = 0
        for cell, col_width in zip(cells, self._widths, strict=True):
            runs.append(pad)
            runs.extend(painter.cell_runs(cell, col_width, base))
            runs.append(pad)
            used += col_width + 2 * CELL_PADDING
        if used < width:
            runs.append((" " * (width - used), base))
        return Strip(merged(runs), max(width, used)).crop(0, width)

    def _header_strip(self, width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("keyed-table--header")
        labels = []
        for spec in self._visible:
            title = spec.title
            if self.sortable and spec.key == self.sort_key:
                title += " ▼" if self.reverse else " ▲"
            labels.append(Text(title, justify=spec.justify))
        return self._row_strip(labels, width, style)


def _fitted(plain: str, width: int) -> str:
    """What Painter draws for an unstyled ASCII cell: cut with an ellipsis or padded."""
    if len(plain) <= width:
        return plain.ljust(width)
    return (plain[: width - 1].rstrip(" ") + "…").ljust(width)


def _changed_within(old: Text, new: Text, width: int, justify: str) -> tuple[int, int] | None:
    """The cells of a column that differ, as (start, stop) offsets within it; None when the
    whole cell must be drawn again (styled, right-aligned, not plain ASCII: a character's
    position would not be its cell, or its padding would be styled differently)."""
    if (
        justify != "left"
        or old.justify in ("right", "center")
        or new.justify in ("right", "center")
        or old.spans
        or new.spans
        or old.style
        or new.style
        or not (old.plain.isascii() and new.plain.isascii())
    ):
        return None
    return differing_span(_fitted(old.plain, width), _fitted(new.plain, width))


def _same_cells(a: tuple[Text, ...], b: tuple[Text, ...]) -> bool:
    return len(a) == len(b) and all(x is y or same_text(x, y) for x, y in zip(a, b, strict=True))
