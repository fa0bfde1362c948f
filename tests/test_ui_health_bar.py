"""The health statuses: worst first, each other source's chips grouped under its short name,
each alarm with its culprit on the line of its symbol, what does not fit counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgtop.config import Config
from pgtop.feed import RecordedFeed
from pgtop.model import Level, Status
from pgtop.ui.app import make_app
from pgtop.ui.format import LEVEL_SYMBOL, Palette
from pgtop.ui.widgets.health_bar import HealthBar, merge_statuses, short_names, statuses_text
from tests import ui_samples as s


def status(metric: str, label: str, level: Level, source: str) -> Status:
    return Status(metric, label, level, None, label, source)


def test_other_sources_are_named_once_per_run_of_their_chips() -> None:
    replica = "replica 127.0.0.1:48533"
    merged = merge_statuses(
        [
            status("conn", "conn 3%", Level.OK, "primary"),
            status("hit", "hit 99%", Level.OK, replica),
            status("xact", "xact 3m", Level.CRIT, "primary"),
            status("conn", "conn 1%", Level.OK, replica),
            status("lag", "lag 12s", Level.WARN, replica),
            status("xact", "xact 3m", Level.OK, "primary"),  # the same metric: the worst stays
        ],
        main="primary",
    )
    text = statuses_text(merged, Palette(), main="primary").plain.replace("\u00a0", "_")
    assert text == "✖_xact_3m  replica:_▲_lag_12s  ●_conn_3%  replica:_●_conn_1%  ●_hit_99%"


def test_names_are_shortened_only_when_unambiguous() -> None:
    one = short_names(["replica 10.0.0.7:5432", "pgbouncer"])
    assert one == {"replica 10.0.0.7:5432": "replica", "pgbouncer": "pgbouncer"}
    two = short_names(["replica 10.0.0.7:5432", "replica 10.0.0.8:5432"])
    assert two == {
        "replica 10.0.0.7:5432": "replica 10.0.0.7:5432",
        "replica 10.0.0.8:5432": "replica 10.0.0.8:5432",
    }


def alarm(metric: str, label: str, level: Level, culprit: str, source: str = "primary") -> Status:
    return Status(metric, label, level, None, f"{label}: {culprit}", source, culprit)


def plain_lines(text: object) -> list[str]:
    return str(getattr(text, "plain", text)).replace("\u00a0", " ").split("\n")


def test_alarms_carry_their_culprit_after_the_label() -> None:
    merged = merge_statuses(
        [
            alarm("lock_waits", "locks 4 1m35s", Level.CRIT, "pid 4201 lab-blocker"),
            status("connections", "conn 3%", Level.OK, "primary"),
            alarm("slot_retention", "slot 120M", Level.WARN, "pgtop_health_slot"),
        ],
        main="primary",
    )
    text = statuses_text(merged, Palette(), main="primary").plain.replace("\u00a0", "_")
    assert text == (
        "✖_locks_4_1m35s_pid_4201_lab-blocker  ▲_slot_120M_pgtop_health_slot  ●_conn_3%"
    )


def test_informative_ok_statuses_come_first_among_ok_ones() -> None:
    merged = merge_statuses(
        [
            status("cache_hit", "hit 99%", Level.OK, "primary"),
            alarm("progress", "idx 42%", Level.OK, "orders"),
            status("archiver", "arch 3s", Level.OK, "primary"),
        ],
        main="primary",
    )
    assert [s.metric for s in merged] == ["progress", "archiver", "cache_hit"]


@pytest.mark.parametrize(("width", "height"), [(28, 7), (48, 7), (78, 3), (30, 2)])
def test_each_chip_keeps_its_symbol_and_culprit_on_one_line(width: int, height: int) -> None:
    statuses = merge_statuses(
        [
            alarm("lock_waits", "locks 4 1m35s", Level.CRIT, "pid 4201 lab-blocker"),
            alarm("statement_regression", "slow 225×", Level.CRIT,
                  "SELECT abalance FROM pgbench_accounts WHERE aid = $1"),
            alarm("connections", "conn 90%", Level.CRIT, "leaky-app ×268"),
            alarm("slot_retention", "slot 120M", Level.WARN, "pgtop_health_slot"),
            alarm("pool_waiting", "wait 12", Level.WARN, "app/pgbench", "pgbouncer"),
            status("cache_hit", "hit 99%", Level.OK, "primary"),
        ],
        main="primary",
    )  # fmt: skip
    lines = plain_lines(statuses_text(statuses, Palette(), main="primary", width=width,
                                      height=height))  # fmt: skip
    assert len(lines) <= height
    for line in lines:
        assert len(line) <= width, line
    shown = " ".join(lines)
    # every chip that is shown has its culprit (or its start) right after its label
    for st in statuses:
        if st.label in shown and st.level is not Level.OK:
            after = shown.split(st.label, 1)[1]
            assert after.startswith(" " + st.culprit[:3]), (st.label, after)
    # what did not fit is counted, never dropped silently
    hidden = [st for st in statuses if st.label not in shown]
    if hidden:
        worst_hidden = max(st.level for st in hidden)
        assert lines[-1].endswith(f"{LEVEL_SYMBOL[worst_hidden]} +{len(hidden)} more")


def test_a_culprit_is_cut_to_the_width_or_left_out() -> None:
    statuses = [alarm("lock_waits", "locks 4 1m35s", Level.CRIT, "pid 4201 lab-blocker")]
    cut = plain_lines(statuses_text(statuses, Palette(), main="primary", width=24, height=1))
    assert cut == ["✖ locks 4 1m35s pid 420…"]
    none = plain_lines(statuses_text(statuses, Palette(), main="primary", width=19, height=1))
    assert none == ["✖ locks 4 1m35s"]


async def test_the_first_screen_names_the_culprits(tmp_path: Path) -> None:
    """The recorded primary (its health as pgtop judges it): at 80x24 and 200x50 each alarm
    on the bar shows its symbol and its culprit on the same line."""
    for size in ((80, 24), (200, 50)):
        app = make_app(
            Config(),
            RecordedFeed(s.recording()),
            targets="127.0.0.1:54321/app",
            state_path=tmp_path / "state.toml",
        )
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            bar = app.query_one(HealthBar)
            lines = plain_lines(bar.statuses.text)
            assert len(lines) <= bar.statuses.size.height
            text = "\n".join(lines)
            assert "✖ locks 2 1m35s pid 4201 lab-blocker" in text, text
            assert "✖ idle-tx 3m04s pid 4201 lab-blocker" in text, text
            assert "▲ slot 3G old_logical" in text, text
            assert "pgbouncer: ✖ pool 100% app/pgbench" in text, text
            if size == (200, 50):
                assert "● idx 42% orders" in text, text
