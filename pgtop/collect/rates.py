"""Pure maths for interval figures: deltas of cumulative counters, rates, ratios, resets.

A counter that went backwards (stats reset, server crash, entry evicted and re-added) has no
meaningful delta: every function here answers None rather than a negative or absurd number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = ["counter_delta", "decreased", "hit_ratio", "interval_s", "rate"]

Number = int | float


def interval_s(previous: datetime | None, current: datetime) -> float | None:
    """Seconds from ``previous`` to ``current``; None on the first sample or a non-positive gap."""
    if previous is None:
        return None
    seconds = (current - previous).total_seconds()
    return seconds if seconds > 0 else None


def counter_delta(previous: Number | None, current: Number | None) -> Number | None:
    """``current - previous`` for a cumulative counter; None when unknown or it went backwards."""
    if previous is None or current is None:
        return None
    delta = current - previous
    return delta if delta >= 0 else None


def rate(previous: Number | None, current: Number | None, seconds: float | None) -> float | None:
    """Per-second rate of a cumulative counter over ``seconds``; None when not computable."""
    if not seconds or seconds <= 0:
        return None
    delta = counter_delta(previous, current)
    return None if delta is None else delta / seconds


def hit_ratio(hit_delta: Number | None, read_delta: Number | None) -> float | None:
    """Buffer cache hit ratio 0..1 over an interval; None when there were no reads at all."""
    if hit_delta is None or read_delta is None:
        return None
    total = hit_delta + read_delta
    return hit_delta / total if total > 0 else None


def decreased(previous: Sequence[Number | None], current: Sequence[Number | None]) -> bool:
    """True when any counter in ``current`` is smaller than its counterpart in ``previous``."""
    return any(
        p is not None and c is not None and c < p for p, c in zip(previous, current, strict=True)
    )
