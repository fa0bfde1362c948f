"""pgtop.units: the one way quantities are written (cells, health, details, documents)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pgtop import units


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (-3.0, "0ms"),
        (0.0, "0ms"),
        (0.85, "850ms"),
        (4.24, "4.2s"),
        (9.96, "10.0s"),
        (45.7, "45s"),
        (59.9, "59s"),
        (60, "1m00s"),
        (185, "3m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (8040, "2h14m"),
        (86400 * 3 + 4 * 3600, "3d04h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert units.duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "avoid", "text"),
    [(0.4, (), "0.4 s"), (12.34, (), "12.3 s"), (312.4, (), "312 s"), (9.96, (10.0,), "9.96 s")],
)
def test_seconds_never_rounds_onto_a_threshold(
    value: float, avoid: tuple[float, ...], text: str
) -> None:
    assert units.seconds(value, avoid) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (0, "0 B"),
        (512, "512 B"),
        (1536, "1.5 KiB"),
        (16 * 1024**2, "16 MiB"),
        (int(2.1 * 1024**3), "2.1 GiB"),
        (3 * 1024**5, "3 PiB"),
        (5 * 1024**6, "5120 PiB"),
    ],
)
def test_size_is_iec(value: int | None, text: str) -> None:
    assert units.size(value) == text


def test_short_forms() -> None:
    assert units.size_short(16 * 1024**2) == "16M"
    assert units.size_short(int(2.1 * 1024**3)) == "2.1G"
    assert units.count_short(45_000) == "45k"
    assert units.count_short(250_000_000) == "250M"
    assert units.count_short(1_200_000_000) == "1.2B"
    assert units.count_short(999) == "999"


@pytest.mark.parametrize(
    ("value", "text"), [(None, ""), (0.5, "0.5"), (12.4, "12"), (1234, "1.2k"), (15_400, "15k")]
)
def test_rate(value: float | None, text: str) -> None:
    assert units.rate(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(None, ""), (0.254, "0.25"), (123.4, "123"), (12_345, "12.3s")]
)
def test_milliseconds(value: float | None, text: str) -> None:
    assert units.milliseconds(value) == text


def test_percent_count_clock() -> None:
    assert units.percent(None) == ""
    assert units.percent(12.345) == "12.3%"
    assert units.percent(12.345, 0) == "12%"
    assert units.count(None) == ""
    assert units.count(1234567) == "1,234,567"
    assert units.clock(None) == ""
    assert units.clock(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "03:04:05"
    assert units.clock(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), seconds=False) == "03:04"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (-1.0, "0ms"), (45.7, "45s"), (60, "1m"), (3599, "59m"), (8040, "2h14m")],
)
def test_uptime_to_the_minute(seconds: float | None, text: str) -> None:
    assert units.uptime(seconds) == text
