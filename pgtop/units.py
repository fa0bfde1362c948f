"""How pgtop writes a quantity, everywhere: the panes, the health messages, the detail screens
and the documents use these and nothing else.

Sizes are IEC (1 KiB = 1024 B). Durations come in two forms: :func:`duration`, compact for a
cell or a label (``850ms``, ``4.2s``, ``45s``, ``3m05s``, ``2h14m``, ``3d04h``), and
:func:`seconds`, for a sentence (``12.3 s``, ``312 s``). Unknown values (None) are written as
empty strings: a blank cell, never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

__all__ = [
    "clock",
    "count",
    "count_short",
    "duration",
    "milliseconds",
    "ms",
    "number",
    "percent",
    "rate",
    "seconds",
    "size",
    "size_short",
]

_IEC: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def number(value: float, decimals: int, avoid: Iterable[float] = ()) -> str:
    """``value`` rounded to ``decimals``, with up to 3 decimals where the rounding would make it
    read as one of ``avoid`` while it is not (84.96 must not print as 85 next to "crit 85")."""
    limits = tuple(avoid)
    text = f"{value:.{decimals}f}"
    while decimals < 3 and value not in limits and float(text) in limits:
        decimals += 1
        text = f"{value:.{decimals}f}"
    return text


def duration(value: float | None) -> str:
    """Compact, for cells and labels: ``850ms``, ``4.2s``, ``45s``, ``3m05s``, ``2h14m``,
    ``3d04h``; empty when unknown. Negative ages (clock skew) read as zero."""
    if value is None:
        return ""
    value = max(0.0, value)
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 10:
        return f"{value:.1f}s"
    whole = int(value)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def uptime(value: float | None) -> str:
    """A server's uptime, to the minute from a minute on: ``45s``, ``7m``, ``2h14m``,
    ``3d04h``; empty when unknown. (Its seconds tell nobody anything, and a line showing them
    changes on every tick.)"""
    if value is None:
        return ""
    whole = int(max(0.0, value))
    if 60 <= whole < 3600:
        return f"{whole // 60}m"
    return duration(value)


def seconds(value: float, avoid: Iterable[float] = ()) -> str:
    """For sentences: ``0.4 s``, ``12.3 s``, ``312 s`` (one decimal below 100 s)."""
    return f"{number(value, 1 if value < 100 else 0, avoid)} s"


def milliseconds(value: float | None) -> str:
    """A time in ms for a column headed "ms": ``0.25``, ``123``, ``12.3s`` past 10 s."""
    if value is None:
        return ""
    if value >= 10_000:
        return f"{value / 1000:.1f}s"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}"


def ms(value: float | None) -> str:
    """A time given in ms, with its unit, for sentences and label/value lists: ``0.25 ms``,
    ``123 ms``, ``36.5 s``; empty when unknown."""
    if value is None:
        return ""
    return seconds(value / 1000) if value >= 10_000 else f"{milliseconds(value)} ms"


def size(value: float | None) -> str:
    """IEC: ``512 B``, ``1.5 KiB``, ``16 MiB``, ``2.1 GiB``; empty when unknown."""
    if value is None:
        return ""
    amount = float(value)
    for unit in _IEC:
        if abs(amount) < 1024 or unit == _IEC[-1]:
            if unit == "B":
                return f"{amount:.0f} B"
            return f"{amount:.1f}".removesuffix(".0") + f" {unit}"
        amount /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def size_short(value: float) -> str:
    """For labels: ``2.1G``, ``16M``, ``512B``."""
    return size(value).replace(" ", "").replace("iB", "")


def rate(value: float | None) -> str:
    """Per second, compact: ``0.5``, ``12``, ``1.2k``, ``15k``."""
    if value is None:
        return ""
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def percent(value: float | None, decimals: int = 1) -> str:
    """``12.5%``; empty when unknown."""
    return "" if value is None else f"{value:.{decimals}f}%"


def count(value: int | None) -> str:
    """An exact count with thousands separators: ``1,234``; empty when unknown."""
    return "" if value is None else f"{value:,}"


def count_short(value: float) -> str:
    """For labels: ``45k``, ``250M``, ``1.2B``."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.1f}".removesuffix(".0") + suffix
    return f"{value:.0f}"


def clock(moment: datetime | None, *, seconds: bool = True) -> str:
    """``HH:MM:SS`` (``HH:MM`` without ``seconds``) of a timestamp as given (the samples' are
    UTC); empty when unknown."""
    if moment is None:
        return ""
    return moment.strftime("%H:%M:%S" if seconds else "%H:%M")
