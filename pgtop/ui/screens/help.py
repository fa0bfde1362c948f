"""The help screen: every key, generated from the BINDINGS of the App, the panes and the table
(never a hand-written list)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "collect_bindings", "key_label"]

_KEY_NAMES = {
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "question_mark": "?",
    "slash": "/",
    "plus": "+",
    "minus": "-",
    "space": "space",
    "escape": "esc",
    "enter": "enter",
}


def key_label(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    return ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(","))


def collect_bindings(
    groups: Sequence[tuple[str, Iterable[BindingType]]],
) -> list[tuple[str, Binding]]:
    """(group, binding) for every described Binding; the first of each key and action."""
    out: list[tuple[str, Binding]] = []
    seen: set[tuple[str, str]] = set()
    for group, bindings in groups:
        for b in bindings:
            if not isinstance(b, Binding) or not b.description:
                continue
            if (b.key, b.action) in seen:
                continue
            seen.add((b.key, b.action))
            out.append((group, b))
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[tuple[str, Binding]], action_log: Path | None = None) -> None:
        super().__init__(id="help-screen")
        self.rows = rows
        self.action_log = action_log

    def compose(self) -> ComposeResult:
        table = Table(title="pgtop keys", expand=True, show_edge=False, pad_edge=False)
        table.add_column("where", no_wrap=True)
        table.add_column("key", no_wrap=True, style="bold")
        table.add_column("action")
        for group, binding in self.rows:
            what = binding.tooltip or binding.description
            table.add_row(group, key_label(binding), Text(what))
        if self.action_log is not None:
            table.add_row(
                "", "", Text(f"every action taken or refused is logged in {self.action_log}")
            )
        with VerticalScroll(id="help-body"):
            yield Static(table, id="help-table")
            yield Static("esc, q or ? closes", classes="hint")
