"""Details of one record (a backend, a statement, a lock node …): every field, and the full query
text with its newlines kept (still neutralised: controls and bidi characters as visible escapes)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pgtop.text import one_line, visible

__all__ = ["DetailScreen", "record_fields"]

_LONG = ("query",)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, tuple | list):
        return ", ".join(_value(v) for v in value) if value else "—"
    return str(value)


def record_fields(record: Any) -> tuple[list[tuple[str, str]], str | None]:
    """(name, one-line value) for every field (nested records flattened), and the query text."""
    if hasattr(record, "node") and dataclasses.is_dataclass(record.node):  # a drawn tree row
        record = record.node
    if hasattr(record, "status") and dataclasses.is_dataclass(record.status):
        record = record.status
    fields: list[tuple[str, str]] = []
    query: str | None = None
    if not dataclasses.is_dataclass(record):
        return [("value", one_line(str(record)))], None
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name in _LONG and isinstance(value, str):
            query = value
            continue
        if f.name == "children":
            value = tuple(child.pid for child in value)
        fields.append((f.name, one_line(_value(value))))
    return fields, query


class DetailScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="detail.close"),
    ]

    def __init__(self, title: str, record: Any) -> None:
        super().__init__(id="detail-screen")
        self.title_text = title
        self.record = record

    def compose(self) -> ComposeResult:
        fields, query = record_fields(self.record)
        table = Table(title=one_line(self.title_text), show_header=False, expand=True, box=None)
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value")
        for name, value in fields:
            table.add_row(name, Text(value))
        with VerticalScroll(id="detail-body"):
            yield Static(table, id="detail-fields")
            if query is not None:
                yield Static("query", classes="section-title")
                yield Static(Text(visible(query)), id="detail-query")
            yield Static("esc closes", classes="hint")
