"""Asks before a destructive action: `y` goes ahead; `n`, `esc` or any other key does not.

What will be hit is spelled out (pid, user, database, application, the query's start), with
server text shown literally on one line each (controls made visible, never markup).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from pgtop.actions import Signal
from pgtop.model import Backend
from pgtop.text import one_line

__all__ = ["ConfirmScreen", "confirm_signal"]


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, details: list[tuple[str, str]], warning: str = "") -> None:
        super().__init__(id="confirm-screen")
        self.question = question
        self.details = details
        self.warning = warning

    def compose(self) -> ComposeResult:
        body = Text(one_line(self.question), style="bold")
        for name, value in self.details:
            body.append(f"\n{name:>12}  ", style="dim")
            body.append(one_line(value))
        if self.warning:
            body.append(f"\n\n{self.warning}", style="italic")
        with Vertical(id="confirm-body"):
            yield Static(body, id="confirm-text")
            yield Static(Text("y: yes    n / esc: no"), classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_key(self, event: events.Key) -> None:
        """Any key but the bound ones is a no: a stray key never confirms or lingers."""
        if event.key not in ("y", "n", "escape"):
            event.stop()
            self.dismiss(False)


def confirm_signal(signal: Signal, backend: Backend) -> ConfirmScreen:
    """The question before cancelling or terminating ``backend``."""
    if signal is Signal.CANCEL:
        question = f"Cancel the running query of pid {backend.pid}?"
        warning = (
            "Its statement fails with 'canceling statement due to user request'; "
            "a transaction it is in is aborted. The session stays."
        )
    else:
        question = f"Terminate pid {backend.pid}?"
        warning = "Its session ends; an open transaction is rolled back."
    details = [
        ("user", backend.user or "—"),
        ("database", backend.database or "—"),
        ("application", backend.application or "—"),
        ("client", backend.client or "—"),
        ("state", backend.state or "—"),
        ("query", backend.query or "—"),
    ]
    return ConfirmScreen(question, details, warning)


BULK_LISTED = 8
"""Rows a bulk question lists before "and N more"."""


def confirm_bulk(signal: Signal, backends: list[Backend], why: str) -> ConfirmScreen:
    """One question for many backends: how many, which (the first rows), what happens."""
    verb = "Cancel the running queries of" if signal is Signal.CANCEL else "Terminate"
    question = f"{verb} {len(backends)} backends ({why})?"
    details = [
        (
            str(b.pid),
            f"{b.application or '—'} · {b.user or '—'} · {b.state or '—'} · {b.query or '—'}",
        )
        for b in backends[:BULK_LISTED]
    ]
    if len(backends) > BULK_LISTED:
        details.append(("", f"and {len(backends) - BULK_LISTED} more"))
    if signal is Signal.CANCEL:
        warning = "Their statements fail; transactions they are in are aborted. Sessions stay."
    else:
        warning = "Their sessions end; open transactions are rolled back."
    warning += " Each is matched by pid and start: a backend replaced since is left alone."
    return ConfirmScreen(question, details, warning)
