"""Cells shared by the panes: untrusted text and own figures as Text (quantities are written by
:mod:`pgtop.units`).

Every server string goes through :func:`cell` (neutralised by :mod:`pgtop.text`, wrapped in a
``rich.text.Text`` so it can never be parsed as markup). Styles come from a :class:`Palette` built
from the active theme, never literal colours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from rich.text import Text
from textual.theme import Theme

from pgtop.baseline.live import LiveBaseline
from pgtop.config import Threshold, Thresholds
from pgtop.model import Level
from pgtop.text import one_line

__all__ = [
    "LEVEL_SYMBOL",
    "Palette",
    "cell",
    "mark",
    "num",
]

LEVEL_SYMBOL = {Level.CRIT: "✖", Level.WARN: "▲", Level.OK: "●"}
"""Symbols carry the level without colour (NO_COLOR, monochrome terminals)."""


@dataclass(frozen=True, slots=True)
class Palette:
    """Styles for cells, resolved from the active theme's colours, and the user's thresholds
    that decide them (the very ones health judges by: one source)."""

    ok: str = "green"
    warn: str = "yellow"
    crit: str = "red"
    accent: str = "cyan"
    dim: str = "dim"
    thresholds: Thresholds = field(default_factory=Thresholds)
    baseline: LiveBaseline | None = None
    """``--baseline FILE``: the statements' means are judged against it too."""

    @classmethod
    def from_theme(
        cls,
        theme: Theme,
        thresholds: Thresholds | None = None,
        baseline: LiveBaseline | None = None,
    ) -> Palette:
        return cls(
            ok=theme.success or "green",
            warn=f"bold {theme.warning}" if theme.warning else "bold yellow",
            crit=f"bold {theme.error}" if theme.error else "bold red",
            accent=theme.accent or "cyan",
            thresholds=thresholds or Thresholds(),
            baseline=baseline,
        )

    def level(self, level: Level) -> str:
        return {Level.OK: self.ok, Level.WARN: self.warn, Level.CRIT: self.crit}[level]

    def breach(self, *checks: tuple[Threshold, float | None]) -> Level:
        """The worst level among (threshold, value) pairs; unknown values are OK."""
        return max((Level(t.level(v)) for t, v in checks if v is not None), default=Level.OK)

    def alarm(self, level: Level) -> str:
        """The style of a cell at ``level``: none when OK (only breaches stand out)."""
        return self.crit if level == Level.CRIT else self.warn if level == Level.WARN else ""

    def judged(self, threshold: Threshold, value: float | None) -> str:
        """The style of a cell holding ``value``, judged by ``threshold``; none when unknown."""
        return "" if value is None else self.alarm(Level(threshold.level(value)))


def mark(level: Level, p: Palette) -> Text:
    """A row's mark: the symbol of the worst threshold it breaches (readable without colour),
    blank when it breaches none."""
    return num(LEVEL_SYMBOL[level], p.level(level)) if level is not Level.OK else num("")


@lru_cache(maxsize=8192)
def cell(value: str | None, style: str = "", *, limit: int | None = None) -> Text:
    """A one-line Text for an untrusted string (None shows as empty).

    Cached: the same value gives the very same Text, which the table compares by identity
    first (most cells repeat from one tick to the next). Callers never modify it."""
    plain = "" if value is None else one_line(value, limit)
    return Text(plain, style=style if plain else "", no_wrap=True, overflow="ellipsis", end="")


@lru_cache(maxsize=8192)
def num(value: str, style: str = "") -> Text:
    """Right-aligned, own (trusted) text; cached like :func:`cell`."""
    return Text(
        value,
        style=style if value else "",
        no_wrap=True,
        overflow="ellipsis",
        end="",
        justify="right",
    )
