"""Pure maths: deltas, rates, ratios and counter resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgtop.collect.rates import counter_delta, decreased, hit_ratio, interval_s, rate

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("previous", "current", "seconds", "expected"),
    [
        (100, 300, 2.0, 100.0),
        (100, 100, 2.0, 0.0),
        (None, 300, 2.0, None),  # first sample
        (100, None, 2.0, None),
        (300, 100, 2.0, None),  # counter reset: never negative
        (100, 300, 0.0, None),  # zero interval
        (100, 300, None, None),
        (100, 300, -1.0, None),
        (1.5, 4.5, 1.5, 2.0),
    ],
)
def test_rate(
    previous: float | None, current: float | None, seconds: float | None, expected: float | None
) -> None:
    assert rate(previous, current, seconds) == expected


def test_counter_delta_and_reset() -> None:
    assert counter_delta(5, 8) == 3
    assert counter_delta(8, 5) is None
    assert counter_delta(None, 5) is None


@pytest.mark.parametrize(
    ("hit", "read", "expected"),
    [(90, 10, 0.9), (0, 0, None), (0, 5, 0.0), (None, 5, None), (5, None, None)],
)
def test_hit_ratio(hit: int | None, read: int | None, expected: float | None) -> None:
    assert hit_ratio(hit, read) == expected


def test_interval() -> None:
    assert interval_s(None, T0) is None
    assert interval_s(T0, T0 + timedelta(seconds=1.5)) == 1.5
    assert interval_s(T0, T0) is None
    assert interval_s(T0 + timedelta(seconds=1), T0) is None


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ((1, 2, 3), (1, 2, 3), False),
        ((1, 2, 3), (2, 3, 4), False),
        ((1, 2, 3), (2, 1, 4), True),
        ((None, 2), (0, 2), False),
    ],
)
def test_decreased(
    previous: tuple[int | None, ...], current: tuple[int | None, ...], expected: bool
) -> None:
    assert decreased(previous, current) is expected
