"""Cell formatting shared by the panes: numbers, durations, sizes, and untrusted text as Text.

Every server string goes through :func:`cell` (neutralised by :mod:`pgtop.text`, wrapped in a
``rich.text.Text`` so it can never be parsed as markup). Styles come from a :class:`Palette` built
from the active theme, never literal colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from rich.text import Text
from textual.theme import Theme

from pgtop.model import Level
from pgtop.text import one_line

__all__ = [
    "LEVEL_SYMBOL",
    "Palette",
    "cell",
    "fmt_age",
    "fmt_bytes",
    "fmt_clock",
    "fmt_count",
    "fmt_ms",
    "fmt_pct",
    "fmt_rate",
    "num",
]

LEVEL_SYMBOL = {Level.CRIT: "✖", Level.WARN: "▲", Level.OK: "●"}
"""Symbols carry the level without colour (NO_COLOR, monochrome terminals)."""


@dataclass(frozen=True, slots=True)
class Palette:
    """Styles for cells, resolved from the active theme's colours."""

    ok: str = "green"
    warn: str = "yellow"
    crit: str = "red"
    accent: str = "cyan"
    dim: str = "dim"

    @classmethod
    def from_theme(cls, theme: Theme) -> Palette:
        return cls(
            ok=theme.success or "green",
            warn=f"bold {theme.warning}" if theme.warning else "bold yellow",
            crit=f"bold {theme.error}" if theme.error else "bold red",
            accent=theme.accent or "cyan",
        )

    def level(self, level: Level) -> str:
        return {Level.OK: self.ok, Level.WARN: self.warn, Level.CRIT: self.crit}[level]


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


def fmt_age(seconds: float | None) -> str:
    """A duration: ``850ms``, ``12.4s``, ``3m05s``, ``2h14m``, ``3d04h``; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def fmt_rate(value: float | None) -> str:
    """A per-second rate, compact: ``0.5``, ``12``, ``1.2k``."""
    if value is None:
        return ""
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 10_000:
        return f"{value / 1000:.1f}s"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}"


def fmt_pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def fmt_count(value: int | None) -> str:
    return "" if value is None else str(value)


def fmt_clock(moment: datetime | None) -> str:
    """``HH:MM:SS`` UTC of a sample's timestamp (never the local clock)."""
    return "" if moment is None else moment.strftime("%H:%M:%S")
