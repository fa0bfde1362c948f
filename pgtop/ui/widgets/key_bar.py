"""The bottom line: the keys that work in the pane shown, one Line (``?`` lists them all).

Textual's Footer rebuilt a widget per key on every focus change: a third of the time a pane
switch took. The bar is text, set once per pane switch.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding, BindingType

from pgtop.ui.widgets.line import Line

__all__ = ["KeyBar", "keys_text"]

_SYMBOLS = {"space": "␣", "enter": "⏎", "escape": "esc"}


def _key(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    first = binding.key.split(",")[0]
    if first.startswith("ctrl+"):
        return "^" + first.removeprefix("ctrl+")
    return _SYMBOLS.get(first, first)


def keys_text(groups: Iterable[Iterable[BindingType]], key_style: str) -> Text:
    """``key description`` pairs of the shown bindings, in order, each key once."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    seen: set[str] = set()
    for bindings in groups:
        for binding in bindings:
            if not isinstance(binding, Binding) or not binding.show or not binding.description:
                continue
            key = _key(binding)
            if key in seen:
                continue
            seen.add(key)
            if text.plain:
                text.append("  ")
            text.append(key, style=key_style)
            text.append(f" {binding.description}")
    return text


class KeyBar(Line):
    def __init__(self) -> None:
        super().__init__(fixed_height=True, id="keybar")
