"""The line of pane names with their counts: ``1 Activity 13  2 Locks 3  3 Replication 2 …``.

One Line instead of Textual's TabbedContent: the tabs were five widgets, an animated underline
and a content switcher, i.e. three more layers of containers that the compositor walked for
every changed table line each refresh, a second screen line for the underline, and a label
setter that laid the screen out. The counts change most ticks; here that rewrites a few cells.
A click on a name posts :class:`PaneBar.Chosen`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.message import Message

from pgtop.ui.widgets.line import Line

__all__ = ["PaneBar", "bar_text"]

_GAP = "  "


def bar_text(
    labels: Sequence[tuple[str, str, str]], active: str, accent: str
) -> tuple[Text, list[tuple[int, int, str]]]:
    """The bar for (pane id, key, label) triples, the active pane highlighted; with the cell
    ranges each pane's name covers (for clicks)."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    spans: list[tuple[int, int, str]] = []
    for pane_id, key, label in labels:
        if text.plain:
            text.append(_GAP)
        start = text.cell_len
        chosen = pane_id == active
        text.append(f" {key} ", style=f"bold {accent}" if not chosen else "bold reverse")
        text.append(f"{label} ", style="bold reverse" if chosen else "")
        spans.append((start, text.cell_len, pane_id))
    return text, spans


class PaneBar(Line):
    class Chosen(Message):
        """A pane's name was clicked."""

        def __init__(self, pane_id: str) -> None:
            super().__init__()
            self.pane_id = pane_id

    def __init__(self) -> None:
        super().__init__(fixed_height=True, id="panebar")
        self._spans: list[tuple[int, int, str]] = []
        self._shown: tuple[object, ...] | None = None

    def show_panes(self, labels: Sequence[tuple[str, str, str]], active: str, accent: str) -> None:
        shown = (tuple(labels), active, accent)
        if shown == self._shown:
            return  # every tick, mostly the same counts
        self._shown = shown
        text, self._spans = bar_text(labels, active, accent)
        self.show(text)

    def on_click(self, event: events.Click) -> None:
        for start, end, pane_id in self._spans:
            if start <= event.x < end:
                event.stop()
                self.post_message(self.Chosen(pane_id))
                return
