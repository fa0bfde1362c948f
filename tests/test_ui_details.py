"""Backend details, statement details and the plan reader, driven by Pilot from recorded
samples and a recorded plan; SVG snapshots at 120x40 and 80x24."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.syntax import Syntax
from rich.text import Text

from pgtop.actions import HeldLock, LockReport, StatementReport
from pgtop.config import Config
from pgtop.explaining import Explanation, TextSource
from pgtop.feed import RecordedFeed
from pgtop.text import visible
from pgtop.ui.app import PgtopApp, make_app
from pgtop.ui.screens.backend import HIGHLIGHTED_CHARS, BackendScreen, is_truncated, query_view
from pgtop.ui.screens.plan import MISESTIMATE, SLOWEST, PlanScreen, plan_lines
from pgtop.ui.screens.statement import StatementScreen, counter_text
from tests import ui_samples as s
from tests.test_ui_app import PushFeed, push, rendered_text, table

pytestmark = pytest.mark.one_major  # see tests/conftest.py

PLANS = Path(__file__).parent / "plans"


class FixedInspector:
    """Answers as a server would for the lab's middle waiter and the first statement (the
    collector side is tested against real servers in test_signals.py)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, object]] = []

    async def locks(self, pid: int, backend_start: datetime | None) -> LockReport:
        self.asked.append(("locks", (pid, backend_start)))
        return LockReport(
            pid,
            (
                HeldLock(False, "transactionid", "ShareLock", "xid 9041", None, 1),
                HeldLock(True, "relation", "RowExclusiveLock", "lab_items", "app", 2),
                HeldLock(True, "virtualxid", "ExclusiveLock", "vxid 5/77", None, 1),
            ),
        )

    async def statement(
        self, queryid: int, user: str | None, database: str | None
    ) -> StatementReport:
        self.asked.append(("statement", (queryid, user, database)))
        return StatementReport(
            counters=(
                ("calls", 120_000),
                ("total_exec_time", 36_500.0),
                ("mean_exec_time", 0.304),
                ("shared_blks_hit", 480_000),
                ("shared_blks_read", 6_000),
                ("temp_blks_written", 0),
                ("wal_bytes", 52_428_800),
                ("toplevel", True),
            ),
            server_total_ms=275_000.0,
        )

    async def close(self) -> None:
        return None


def _app(tmp_path: Path, inspector: FixedInspector | None = None) -> PgtopApp:
    return make_app(
        Config(),
        RecordedFeed(s.recording()),
        targets="127.0.0.1:54321/app",
        state_path=tmp_path / "state.toml",
        inspector=inspector,
    )


def _explanation(name: str, *, analyzed: bool = True) -> Explanation:
    plan = json.loads((PLANS / name).read_text())
    return Explanation(
        server="primary",
        database="app",
        source=TextSource.ACTIVITY,
        query="SELECT * FROM t JOIN u USING (id) WHERE t.v < 10",
        plan=plan,
        text=(),
        analyzed=analyzed,
        generic=False,
        parameters=0,
        duration_s=0.05,
    )


# --------------------------------------------------------------------------- backend details


async def test_middle_waiter_shows_its_root_blocker_its_waiter_and_its_locks(
    tmp_path: Path,
) -> None:
    inspector = FixedInspector()
    feed = PushFeed()
    app = make_app(Config(), feed, state_path=tmp_path / "state.toml", inspector=inspector)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(0))
        await pilot.press("2")
        table(app, "locks").select_key(table(app, "locks").shown_keys[1])
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, BackendScreen)
        assert screen.backend.pid == 4202
        facts = rendered_text(screen.query_one("#backend-facts"))
        assert 'root blocker pid 4201 "lab-blocker" idle in transaction' in facts
        assert 'this: pid 4202 "lab-waiter-1" active' in facts
        assert "waits for ShareLock on transactionid" in facts
        assert 'blocks pid 4203 "lab-waiter-2"' in facts
        assert "press l to read them" in facts
        await pilot.press("l")
        await pilot.pause()
        facts = rendered_text(screen.query_one("#backend-facts"))
        assert inspector.asked == [("locks", (4202, s.WAITER_1.backend_start))]
        lines = [" ".join(line.split()) for line in facts.splitlines()]
        assert "awaits 1 ShareLock xid 9041 —" in lines
        assert "holds 2 RowExclusiveLock lab_items app" in lines
        # it refreshes with every tick …
        older = replace(s.WAITER_1, query_s=99.0, xact_s=99.1)
        activity = tuple(older if b.pid == 4202 else b for b in s.ACTIVITY)
        await push(pilot, feed, s.primary(1, activity=activity))
        assert screen.backend.query_s == 99.0
        # … and says when the backend ended, keeping the last data
        gone = tuple(b for b in s.ACTIVITY if b.pid != 4202)
        await push(pilot, feed, s.primary(2, activity=gone))
        facts = rendered_text(screen.query_one("#backend-facts"))
        assert "backend ended at 09:30:04 UTC (last data kept)" in facts
        assert screen.backend.query_s == 99.0
        await pilot.press("y")
        await pilot.press("escape")
        assert not isinstance(app.screen, BackendScreen)


def test_truncation_is_judged_by_bytes() -> None:
    assert is_truncated("x" * 1023, 1024)
    assert not is_truncated("x" * 1022, 1024)
    assert is_truncated("é" * 512, 1024)  # 1,024 bytes of UTF-8
    assert not is_truncated("x" * 5000, None)


# --------------------------------------------------------------------------- statement details


async def test_statement_details_read_every_counter_and_chart_the_session(
    tmp_path: Path,
) -> None:
    inspector = FixedInspector()
    app = _app(tmp_path, inspector)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("5")
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, StatementScreen)
        facts = rendered_text(screen.query_one("#statement-facts"))
        assert "share of the server's exec time" in facts
        assert "13.3%" in facts  # 36,500 of 275,000 ms
        assert "wal_bytes" in facts
        assert "50 MiB" in facts
        xs, calls, means = app.history.statement_series("primary", screen.key)
        assert len(xs) == 8
        assert screen._calls.plot.ys == tuple(calls)


def test_counter_text_uses_the_units() -> None:
    assert counter_text("total_exec_time", 1234.5) == "1234 ms"
    assert counter_text("wal_bytes", 3 * 1024**2) == "3 MiB"
    assert counter_text("calls", 1234567) == "1,234,567"
    assert counter_text("queryid", -5225924764590784693) == "-5225924764590784693"  # a name
    assert counter_text("userid", 16384) == "16384"
    assert counter_text("toplevel", True) == "True"
    assert counter_text("stats_since", "2026-12-03 10:00:00+00") == "2026-12-03 10:00:00+00"


# --------------------------------------------------------------------------- plan reader


async def test_plan_view_marks_the_slowest_node_and_the_worst_estimate(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.push_screen(PlanScreen(_explanation("misestimate-pg18.json")))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PlanScreen)
        head = rendered_text(screen.query_one("#plan-head"))
        tree = rendered_text(screen.query_one("#plan-tree"), width=160)
        assert "EXPLAIN ANALYZE on primary / app" in head
        assert "▲ Seq Scan on" in head
        assert "the filter removed" in head
        assert SLOWEST in tree
        assert MISESTIMATE in tree


def test_plan_lines_name_every_node() -> None:
    from pgtop.plan import parse_plan

    plan = parse_plan(json.loads((PLANS / "nested_loop-pg15.json").read_text()))
    lines = plan_lines(plan)
    assert lines[0].startswith("Nested Loop")
    assert any("Index Scan" in line for line in lines)


async def test_plan_saved_in_the_state_folder_with_its_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = _app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.push_screen(PlanScreen(_explanation("nested_loop-pg18.json")))
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
    saved = sorted((tmp_path / "state" / "pgtop" / "plans").iterdir())
    assert [p.suffix for p in saved] == [".json", ".txt"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in saved)
    assert json.loads(saved[0].read_text())["plan"][0]["Plan"]["Node Type"] == "Nested Loop"
    assert "Nested Loop" in saved[1].read_text()


# --------------------------------------------------------------------------- snapshots


def test_a_long_text_is_highlighted_at_its_head_and_kept_whole() -> None:
    """An ORM's 60,000-character IN list: highlighted up to HIGHLIGHTED_CHARS, the rest
    plain, not a character lost or added; a short text keeps the whole highlighting."""
    query = "SELECT a FROM t WHERE id IN (" + ", ".join(f"${i}" for i in range(1, 9000)) + ")\x1b"
    view = query_view(query, dark=True)
    assert isinstance(view, Text)
    assert view.plain == visible(query)
    assert view.spans
    assert max(span.end for span in view.spans) <= HIGHLIGHTED_CHARS
    assert isinstance(query_view("SELECT 1", dark=False), Syntax)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_backend_details_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = _app(tmp_path, FixedInspector())
    assert snap_compare(app, press=["2", "down", "enter", "l"], terminal_size=size)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_statement_details_snapshot(
    snap_compare: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = _app(tmp_path, FixedInspector())
    assert snap_compare(app, press=["5", "enter"], terminal_size=size)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_plan_view_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = _app(tmp_path)

    async def show_plan(pilot: Any) -> None:
        await pilot.pause()
        await app.push_screen(PlanScreen(_explanation("parallel-pg18.json")))
        await pilot.pause()

    assert snap_compare(app, run_before=show_plan, terminal_size=size)


# --------------------------------------------------------------------------- the real server


@pytest.mark.lab
async def test_an_index_dropped_shows_in_the_statement_and_its_plan(
    lab: Any, tmp_path: Path
) -> None:
    """5, enter on a steady lookup: its mean rises in the statement's chart once the index is
    dropped; e (a generic plan, from pg_stat_statements' text) marks the Seq Scan as the
    costliest node with the filter finding — the app as the CLI builds it."""
    from pgtop.collect.sampler import Sampler
    from pgtop.commands.targets import Targets, make_actions, make_sources
    from pgtop.config import load_config
    from tests.collect_fixtures import su, until
    from tests.test_baseline_live import LOOKUP, TABLE, a_lookup_table, steady_lookups

    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    config = load_config(config_file, env={})
    targets = Targets(lab.monitor_dsn(), (), None)
    actions = make_actions(targets, config)
    app = make_app(
        config,
        Sampler(make_sources(targets, config), interval=0.5),
        state_path=tmp_path / "state.toml",
        inspector=actions.inspector,
        explainer=actions.explainer,
    )
    try:
        with a_lookup_table(lab), steady_lookups(lab):
            async with app.run_test(size=(160, 50)) as pilot:
                await pilot.press("5")
                pane = app.panes["statements"]

                def lookup_key() -> str | None:
                    for key in pane.table.shown_keys:
                        record = pane.table.record(key)
                        if getattr(record, "query", "").startswith(LOOKUP.split("%s")[0]):
                            return str(key)
                    return None

                key = await until(lookup_key, "the lookup in the statements pane", 30)
                pane.table.select_key(key)
                await pilot.press("enter")
                screen = await until(
                    lambda: app.screen if isinstance(app.screen, StatementScreen) else None,
                    "statement details",
                    10,
                )
                await until(
                    lambda: (
                        len(app.history.statement_series("primary", screen.key)[0]) >= 3 or None
                    ),
                    "a few intervals of the lookup",
                    30,
                )
                before = statistics.median(app.history.statement_series("primary", screen.key)[2])
                with su(lab) as conn:
                    conn.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {TABLE}_pkey")
                await until(
                    lambda: (
                        app.history.statement_series("primary", screen.key)[2][-1] > 5 * before
                        or None
                    ),
                    "the mean rising after the drop",
                    30,
                )
                await pilot.press("e")
                plan = await until(
                    lambda: app.screen if isinstance(app.screen, PlanScreen) else None,
                    "the plan",
                    30,
                )
                assert plan.plan is not None
                assert plan.explanation.generic
                head = rendered_text(plan.query_one("#plan-head"))
                tree = rendered_text(plan.query_one("#plan-tree"), width=200)
                assert f"Seq Scan on {TABLE} is the costliest node" in head
                seq = next(line for line in tree.splitlines() if "Seq Scan" in line)
                assert SLOWEST in seq
    finally:
        await actions.explainer.close()
