"""A DataTable fed (key -> record) each tick and updated in place.

Each tick the pane hands over its records; the table formats them through its column
declarations, filters and sorts them in Python, then diffs against what it shows and touches only
what changed: ``update_cell(..., update_width=False)`` for changed cells, ``add_row`` /
``remove_row`` for arrivals and departures, one re-ordering of the row index, all inside
``app.batch_update()``. Nothing changed means no call at all and so no repaint. The cursor follows
its row key (a pid) while rows move.

Columns have fixed widths except one flexible column (the query) which takes what is left; on a
narrow screen the columns with the highest ``priority`` number drop out first, so the flexible
column keeps at least its ``min_width``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from pgtop.ui.format import Palette
from pgtop.ui.widgets.line import same_text

__all__ = ["Col", "KeyedTable"]

SegmentLines = list[list[Segment]]

R = TypeVar("R")


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


class KeyedTable(DataTable[Text]):
    """Rows keyed by a string; see the module docstring."""

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
        # cell renders kept across updates (see _render_cell); DataTable's __init__ clears it
        self._cell_lines: dict[
            tuple[str | None, str | None], tuple[Text, Any, int, SegmentLines]
        ] = {}
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="row",
            zebra_stripes=False,
            show_row_labels=False,
        )
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
        self._records: list[tuple[str, Any]] = []
        self._records_given: Sequence[tuple[str, Any]] | None = None
        self._record_by_key: dict[str, Any] = {}
        self._visible: tuple[Col[Any], ...] = ()
        self._widths: tuple[int, ...] = ()
        self._shown: dict[str, tuple[Text, ...]] = {}
        self._rendered: dict[str, tuple[Any, tuple[Text, ...]]] = {}
        self._next_rendered: dict[str, tuple[Any, tuple[Text, ...]]] = {}
        self._order: list[str] = []

    # ------------------------------------------------------------------ public

    @property
    def visible_columns(self) -> tuple[Col[Any], ...]:
        return self._visible

    @property
    def shown_keys(self) -> list[str]:
        """Row keys in display order (after filter and sort)."""
        return list(self._order)

    def column_width(self, key: str) -> int | None:
        for spec, width in zip(self._visible, self._widths, strict=True):
            if spec.key == key:
                return width
        return None

    def set_records(self, records: Sequence[tuple[str, Any]]) -> None:
        """The rows as (key, record); a repeated key gets a `#2`, `#3` … suffix in order of
        appearance (a DataTable raises on duplicates). The very same sequence object as
        last time (a pane passing on unchanged rows) is a no-op: sorting, filtering and
        columns changing re-apply by themselves."""
        if records is self._records_given:
            return
        self._records_given = records
        self._records = unique_keys(records)
        self._record_by_key = dict(self._records)
        self._apply()

    def set_columns(self, columns: Sequence[Col[Any]], sort_key: str | None = None) -> None:
        """Another set of column declarations (e.g. interval vs cumulative): a rebuild."""
        self.specs = tuple(columns)
        self._by_key = {c.key: c for c in self.specs}
        if sort_key is not None:
            self.sort_key = sort_key
        if self.size.width > 0:
            visible, widths = self._layout(self._available_width())
            self._rebuild(visible, widths)

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
        if not self.row_count or not self._order:
            return None
        row = min(self.cursor_coordinate.row, len(self._order) - 1)
        return self._order[row]

    @property
    def selected_record(self) -> Any:
        key = self.selected_key
        return None if key is None else self._record_by_key.get(key)

    def record(self, key: str) -> Any:
        """The record behind row ``key`` (None when there is no such row)."""
        return self._record_by_key.get(key)

    def select_key(self, key: str) -> bool:
        if key not in self._shown:
            return False
        self.move_cursor(row=self._order.index(key))
        return True

    # ------------------------------------------------------------------ actions

    def action_sort_column(self, step: int) -> None:
        if not self.sortable or not self._visible:
            return
        keys = [c.key for c in self._visible]
        if self.sort_key in keys:
            index = (keys.index(self.sort_key) + step) % len(keys)
        else:
            index = 0 if step > 0 else len(keys) - 1
        self.sort_key = keys[index]
        self._relabel()
        self._apply()
        self.post_message(self.SortChanged(self, self.sort_key, self.reverse))

    def action_reverse_sort(self) -> None:
        if not self.sortable:
            return
        self.reverse = not self.reverse
        self._relabel()
        self._apply()
        self.post_message(self.SortChanged(self, self.sort_key, self.reverse))

    # ------------------------------------------------------------------ layout

    def _layout(self, width: int) -> tuple[tuple[Col[Any], ...], tuple[int, ...]]:
        """Visible columns and their widths for ``width`` cells."""
        pad = 2 * self.cell_padding
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

    def _available_width(self) -> int:
        return max(0, self.size.width - int(self.styles.scrollbar_size_vertical))

    def on_resize(self, event: events.Resize) -> None:
        del event
        if self.size.width <= 0:
            return
        visible, widths = self._layout(self._available_width())
        if (visible, widths) != (self._visible, self._widths):
            self._rebuild(visible, widths)

    def _label(self, spec: Col[Any]) -> Text:
        title = spec.title
        if self.sortable and spec.key == self.sort_key:
            title += " ▼" if self.reverse else " ▲"
        return Text(title, justify=spec.justify, no_wrap=True, overflow="ellipsis")

    def _relabel(self) -> None:
        changed = False
        for spec in self._visible:
            column = self.columns.get(spec.key)  # type: ignore[call-overload]
            if column is None:
                continue
            label = self._label(spec)
            if column.label.plain != label.plain:
                column.label = label
                changed = True
        if changed:
            self._clear_caches()
            self.refresh()

    def _rebuild(self, visible: tuple[Col[Any], ...], widths: tuple[int, ...]) -> None:
        """New column layout (resize only): rebuild columns and rows, keep the cursor's key."""
        selected = self.selected_key
        with self.app.batch_update():
            self.clear(columns=True)
            self._visible, self._widths = visible, widths
            for spec, width in zip(visible, widths, strict=True):
                self.add_column(self._label(spec), width=width, key=spec.key)
            self._shown = {}
            self._order = []
            self._rendered = {}
            self._apply(selected=selected)

    # ------------------------------------------------------------------ the diff

    def _cells_of(self, key: str, record: Any) -> tuple[Text, ...]:
        """The visible cells of ``record``, rendered once per distinct record: an unchanged
        record (equal frozen dataclass) reuses last tick's cells, so a quiet row costs one
        comparison instead of a render per column."""
        hit = self._next_rendered.get(key) or self._rendered.get(key)
        if hit is not None and (hit[0] is record or hit[0] == record):
            self._next_rendered[key] = hit
            return hit[1]
        palette = self.palette
        cells = tuple(c.render(record, palette) for c in self._visible)
        self._next_rendered[key] = (record, cells)
        return cells

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

    def _rows(self) -> list[tuple[str, tuple[Text, ...]]]:
        """The rows to show, in order: records sorted first (by their sort value, no cells
        needed), then rendered and filtered in that order until ``limit`` rows are kept, so
        over the limit only the rows shown (or tested by the filter) are rendered."""
        palette = self.palette
        self._next_rendered = {}
        records: list[tuple[str, Any]] = self._records
        if self.sortable and self.sort_key in self._by_key:
            getter = self._sort_getter(self._by_key[self.sort_key])
            present = [(getter(key, rec), key, rec) for key, rec in records]
            known = [p for p in present if p[0] is not None]
            unknown = [p for p in present if p[0] is None]
            known.sort(key=lambda p: _sort_value(p[0]), reverse=self.reverse)
            records = [(key, rec) for _, key, rec in known + unknown]
        term = self.filter_text.strip().lower()
        hidden = [c for c in self.specs if c not in self._visible] if term else []
        limit = len(records) if self.limit is None else self.limit
        rows: list[tuple[str, tuple[Text, ...]]] = []
        self.matched = 0
        for key, rec in records:
            if len(rows) >= limit and not term:
                break
            cells = self._cells_of(key, rec)
            if term and not (
                any(term in cell.plain.lower() for cell in cells)
                or any(term in c.render(rec, palette).plain.lower() for c in hidden)
            ):
                continue
            self.matched += 1
            if len(rows) < limit:
                rows.append((key, cells))
        if not term:
            self.matched = len(records)
        self._rendered, self._next_rendered = self._next_rendered, {}
        return rows

    def _apply(self, selected: str | None = None) -> None:
        if not self._visible:  # not laid out yet: the first resize builds everything
            return
        if selected is None:
            selected = self.selected_key
        rows = self._rows()
        wanted = dict(rows)
        order = [key for key, _ in rows]
        shown = self._shown
        gone = [key for key in self._order if key not in wanted]
        new = [key for key in order if key not in shown]
        changed: list[tuple[str, str, Text]] = []
        col_keys = [c.key for c in self._visible]
        for key, cells in rows:
            old = shown.get(key)
            if old is None or old is cells:  # new row, or the very cells already shown
                continue
            for col, a, b in zip(col_keys, old, cells, strict=True):
                if a is not b and not same_text(a, b):
                    changed.append((key, col, b))
        if not gone and not new and not changed and order == self._order:
            self._shown = wanted
            return  # nothing to do: no repaint
        with self.app.batch_update():
            for key in gone:
                self.remove_row(key)
            self._forget(gone)
            for key in new:
                self.add_row(*wanted[key], key=key)
            for key, col, value in changed:
                self.update_cell(key, col, value, update_width=False)
            current = [k for k in self._order if k in wanted] + new
            if current != order:
                self._reorder(order)
            self._shown = wanted
            self._order = order
            self._follow(selected)

    # ------------------------------------------------------------------ painting

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        """DataTable's cell render, cached across updates.

        DataTable keys its render caches by a counter that every ``update_cell`` bumps, so one
        changed cell made the next frame re-render every visible cell (~40 ms at 200x50). Here a
        cell's lines are reused while its value is the very same object (the diff replaces a
        cell's Text only when it changed) and its style, width and cursor state are the same. A
        row that only moved gets its lines back with the new row index in the style's meta
        (what a mouse click reads), which costs a fraction of a render."""
        if row_index < 0 or column_index < 0:  # header and label cells: rare, not cached
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._data[row_key][column_key]
        state = (
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        key = (row_key.value, column_key.value)
        hit = self._cell_lines.get(key)
        if hit is not None and hit[0] is value and hit[1] == state:
            if hit[2] == row_index:
                return hit[3]
            meta = Style.from_meta({"row": row_index, "column": column_index})
            lines = [
                [Segment(seg.text, seg.style + meta if seg.style else meta) for seg in line]
                for line in hit[3]
            ]
        else:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_lines[key] = (value, state, row_index, lines)
        return lines

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._cell_lines.clear()

    def notify_style_update(self) -> None:
        self._cell_lines.clear()
        super().notify_style_update()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Every column has a fixed width and every row one line: DataTable's measuring of each
        new cell (to grow auto-width columns) is skipped — 2,000 new rows cost ~200 ms of it."""
        del new_rows
        super()._update_dimensions(())

    def _forget(self, keys: Iterable[str]) -> None:
        """Drop the cached cell renders of rows that left."""
        columns = [c.key for c in self._visible]
        for key in keys:
            for col in columns:
                self._cell_lines.pop((key, col), None)

    def _reorder(self, order: list[str]) -> None:
        """Put the rows in ``order`` (DataTable.sort() cannot sort by row key)."""
        self._row_locations = TwoWayDict({RowKey(key): i for i, key in enumerate(order)})
        self._update_count += 1
        self.refresh()

    def _follow(self, selected: str | None) -> None:
        """Keep the cursor on ``selected``'s row wherever it moved."""
        if selected is None or selected not in self._shown:
            return
        index = self._order.index(selected)
        if self.cursor_coordinate.row != index:
            self.cursor_coordinate = Coordinate(index, self.cursor_coordinate.column)
