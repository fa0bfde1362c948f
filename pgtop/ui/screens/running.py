"""Shown while an EXPLAIN runs: what runs where, and that ``esc`` cancels it on the server. The
monitor goes on refreshing underneath."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from pgtop.text import one_line

__all__ = ["RunningScreen"]


class RunningScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel it", id="running.cancel"),
    ]

    def __init__(self, what: str, on_cancel: Callable[[], None]) -> None:
        super().__init__(id="running-screen")
        self.what = what
        self.on_cancel = on_cancel
        self.cancelling = False

    def compose(self) -> ComposeResult:
        with Vertical(id="running-body"):
            yield Static(Text(one_line(self.what), style="bold"))
            yield Static("esc cancels it on the server", classes="hint", id="running-hint")

    def action_cancel(self) -> None:
        if self.cancelling:
            return
        self.cancelling = True
        self.query_one("#running-hint", Static).update("cancelling…")
        self.on_cancel()
