"""Asks for one number (the N of a runbook command: "idle in transaction for more than N
minutes"); ``enter`` answers, ``esc`` gives up. A value that is not a positive number is
refused on the spot with the reason."""

from __future__ import annotations

import math
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

__all__ = ["AskNumber"]


class AskNumber(ModalScreen[float | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "give_up", "Cancel", id="ask.cancel"),
    ]

    def __init__(self, prompt: str) -> None:
        super().__init__(id="ask-screen")
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(id="running-body"):
            yield Static(self.prompt)
            yield Input(placeholder="a number, then enter", id="ask-input")
            yield Static("enter answers · esc cancels", classes="hint", id="ask-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            value = float(event.value.strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            self.query_one("#ask-hint", Static).update(
                f"{event.value.strip()!r} is not a positive number · esc cancels"
            )
            return
        self.dismiss(value)

    def action_give_up(self) -> None:
        self.dismiss(None)
