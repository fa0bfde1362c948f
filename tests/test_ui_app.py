"""The monitor driven by Pilot from recorded samples: behaviour, asserted on widget state."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from textual.widget import Widget
from textual.widgets import Static

from pgtop.config import Config, load_state
from pgtop.feed import Publish, RecordedFeed
from pgtop.history import History
from pgtop.model import AnySample
from pgtop.ui.app import PgtopApp, SampleReady, make_app
from pgtop.ui.panes.base import Pane
from pgtop.ui.panes.pools import HOW_TO_ADD
from pgtop.ui.screens.help import HelpScreen, key_label
from pgtop.ui.widgets.keyed_table import KeyedTable
from tests import ui_samples as s


class PushFeed:
    """A feed the test pushes samples into."""

    def __init__(self) -> None:
        self._publish: Publish | None = None
        self.history = History()
        self._interval = 2.0
        self._paused = False
        self.ready = asyncio.Event()

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def paused(self) -> bool:
        return self._paused

    async def run(self, publish: Publish) -> None:
        self._publish = publish
        self.ready.set()
        await asyncio.Event().wait()

    def push(self, sample: AnySample) -> None:
        assert self._publish is not None
        self.history.add(sample)
        self._publish(sample)

    def set_interval(self, seconds: float) -> None:
        self._interval = seconds

    def set_paused(self, paused: bool) -> None:
        self._paused = paused


def rendered_text(widget: Static, width: int = 200) -> str:
    """What a Static shows, as plain text (its renderable printed by Rich)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def app_for(feed: object, tmp_path: Path, **kwargs: object) -> PgtopApp:
    return make_app(Config(), feed, state_path=tmp_path / "state.toml", **kwargs)  # type: ignore[arg-type]


async def push(pilot: object, feed: PushFeed, *samples: AnySample) -> None:
    await feed.ready.wait()
    for sample in samples:
        feed.push(sample)
        await pilot.pause()  # type: ignore[attr-defined]


def table(app: PgtopApp, pane: str) -> KeyedTable:
    return app.panes[pane].table


def plain_rows(t: KeyedTable) -> list[list[str]]:
    return [[c.plain for c in t.get_row(key)] for key in t.shown_keys]


def static_text(widget: Widget) -> str:
    return str(widget.render())


async def test_each_pane_shows_its_content(tmp_path: Path) -> None:
    app = app_for(RecordedFeed(s.recording()), tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        activity = table(app, "activity")
        assert "4201" in activity.shown_keys
        assert "4302" not in activity.shown_keys  # idle hidden by default
        assert "80" not in activity.shown_keys  # checkpointer: not a client backend
        assert " 2 Locks 3 " in static_text(app.pane_bar)

        await pilot.press("2")
        assert app.active == "locks"
        who = [row[0] for row in plain_rows(table(app, "locks"))]
        assert who == ["4201 lab-blocker", "└─ 4202 lab-waiter-1", "   └─ 4203 lab-waiter-2"]
        counts = app.panes["locks"].counts  # type: ignore[attr-defined]
        assert len(counts.shown_keys) == 2

        await pilot.press("3")
        repl = app.panes["replication"]
        assert table(app, "replication").shown_keys == ["primary/4401"]
        assert repl.slots.shown_keys  # type: ignore[attr-defined]
        assert "archived 321" in static_text(repl.archiver)  # type: ignore[attr-defined]
        assert repl.standby.shown_keys == ["replica"]  # type: ignore[attr-defined]

        await pilot.press("4")
        pools = table(app, "pools")
        assert pools.display
        assert plain_rows(pools)[0][1:3] == ["app", "pgbench"]

        await pilot.press("5")
        stmts = plain_rows(table(app, "statements"))
        assert stmts[0][-1].startswith("UPDATE pgbench_branches")
        await pilot.press("t")
        assert table(app, "statements").visible_columns[0].key == "total_exec_ms"


async def test_pools_pane_says_how_to_add_pgbouncer(tmp_path: Path) -> None:
    app = app_for(RecordedFeed([s.primary(0)]), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("4")
        pane = app.panes["pools"]
        assert pane.empty.display  # type: ignore[attr-defined]
        assert "--pgbouncer" in HOW_TO_ADD
        assert "stats_users" in HOW_TO_ADD
        assert static_text(pane.empty) == HOW_TO_ADD  # type: ignore[attr-defined]
        assert not pane.table.display


async def test_statements_unavailable_shows_reason(tmp_path: Path) -> None:
    app = app_for(RecordedFeed([s.standby(0)]), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("5")
        pane = app.panes["statements"]
        assert "CREATE EXTENSION" in static_text(pane.unavailable)  # type: ignore[attr-defined]


async def test_selected_pid_stays_selected_while_rows_move(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(0))
        t = table(app, "activity")
        t.select_key("4301")
        assert t.selected_key == "4301"
        positions = set()
        for n in range(1, 4):
            # the psql session's transaction grows older/younger: its row moves in the sort
            backends = tuple(
                replace(b, xact_s=[500.0, 0.001, 50.0][n - 1]) if b.pid == 4301 else b
                for b in s.ACTIVITY
            )
            await push(pilot, feed, s.primary(n, activity=backends))
            assert t.selected_key == "4301"
            positions.add(t.shown_keys.index("4301"))
            assert t.cursor_row == t.shown_keys.index("4301")
        assert len(positions) == 3  # it really moved


async def test_filter_and_sort(tmp_path: Path) -> None:
    app = app_for(RecordedFeed([s.primary(0)]), tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        t = table(app, "activity")
        await pilot.press("slash")
        await pilot.press(*"LAB-WAIT")
        assert sorted(t.shown_keys) == ["4202", "4203"]
        await pilot.press("escape")
        assert len(t.shown_keys) > 2
        assert t.filter_text == ""

        assert t.sort_key == "xact_s"
        await pilot.press("less_than_sign")  # previous column: query time
        assert t.sort_key == "query_s"
        first = t.shown_keys[0]
        assert first == "4202"  # longest running query
        await pilot.press("r")  # ascending now: known query times increase, unknown last
        assert not t.reverse
        shown = [t.selected_record and t._record_by_key[k].query_s for k in t.shown_keys]
        known = [v for v in shown if v is not None]
        assert known == sorted(known)
        assert all(v is None for v in shown[len(known) :])


async def test_space_pauses_updates(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(0))
        # live: the newest data's time to the minute (a line changing every tick costs a repaint)
        assert static_text(app.header_widget.identity).endswith(" · 09:30 UTC")
        applied = app.applied
        await pilot.press("space")
        assert feed.paused
        assert "PAUSED" in static_text(app.header_widget.identity)
        assert static_text(app.header_widget.identity).endswith(" · data of 09:30:00 UTC")
        await push(pilot, feed, s.primary(1, activity=s.ACTIVITY[:3]))
        assert app.applied == applied
        assert "4201" in table(app, "activity").shown_keys
        await pilot.press("space")
        assert not feed.paused
        assert app.applied == applied + 1
        assert "4201" not in table(app, "activity").shown_keys
        assert "PAUSED" not in static_text(app.header_widget.identity)


async def test_refresh_interval_keys(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("plus")
        assert feed.interval == 3.0
        for _ in range(20):
            await pilot.press("plus")
        assert feed.interval == 60.0
        for _ in range(20):
            await pilot.press("minus")
        assert feed.interval == 0.5
        assert "0.5s" in static_text(app.header_widget.identity)


async def test_hostile_text_is_shown_literally(tmp_path: Path) -> None:
    app = app_for(RecordedFeed([s.hostile()]), tmp_path)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        t = table(app, "activity")
        row = dict(zip([c.key for c in t.visible_columns], t.get_row("4666"), strict=True))
        app_cell = row["app"]
        assert app_cell.plain == "[bold red]x\\x1b[2J"
        assert app_cell.spans == []
        assert not app_cell.style
        assert "\x1b" not in app_cell.plain
        query = row["query"].plain
        assert "\\u202e" in query
        assert "\\x9b" in query
        assert "\u202e" not in query
        assert "\x9b" not in query
        assert row["user"].plain == "mallory\\x07"
        t.select_key("4666")
        await pilot.press("enter")
        assert app.screen.id == "backend-screen"
        shown = rendered_text(app.screen.query_one("#detail-query", Static))
        assert "\\u202e" in shown
        assert "\u202e" not in shown
        facts = rendered_text(app.screen.query_one("#backend-facts", Static))
        assert "[bold red]x\\x1b[2J" in facts
        assert "\x1b" not in facts
        await pilot.press("escape")
        assert app.screen.id != "backend-screen"


async def test_disconnected_banner_appears_and_disappears(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(0))
        banner = app.header_widget.banner
        assert not banner.display
        await push(pilot, feed, s.disconnected(3))
        assert banner.display
        text = static_text(banner)
        assert "primary disconnected since 09:30:02" in text
        assert "retry 3" in text
        assert "connection refused" in text
        pane = app.panes["activity"]
        assert pane.has_class("-stale")
        assert "4201" in pane.table.shown_keys  # last data kept
        await push(pilot, feed, s.primary(4))
        assert not banner.display
        assert not pane.has_class("-stale")
        # the outage stays on screen for a minute after it ended
        notice = app.header_widget.notice
        assert notice.display
        assert static_text(notice) == "↻ primary back at 09:30:08 UTC after 6.0s away (3 retries)"
        await push(pilot, feed, s.primary(33))  # 58 s later
        assert notice.display
        await push(pilot, feed, s.primary(34))
        assert not notice.display


async def test_a_restart_between_two_ticks_is_still_told(tmp_path: Path) -> None:
    """The disconnected sample and the first one of the new server arrive together: no
    banner ever gets drawn, but the notice says the server went and restarted."""
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(0))
        restarted = s.primary(2)
        assert restarted.info is not None
        new_start = s.T0 + timedelta(seconds=3)
        restarted = replace(restarted, info=replace(restarted.info, started_at=new_start))
        lost = replace(s.disconnected(1), retries=0, disconnected_since=s.T0 + timedelta(seconds=2))
        await feed.ready.wait()
        feed.push(lost)
        feed.push(restarted)
        await pilot.pause()
        assert not app.header_widget.banner.display
        notice = app.header_widget.notice
        assert notice.display
        assert static_text(notice) == (
            "↻ primary back at 09:30:04 UTC after 2.0s away · server restarted at 09:30:03 UTC"
        )
        # a standby that comes back as a primary (promoted while pgtop was away)
        standby = s.standby(3)
        await push(pilot, feed, standby, replace(s.disconnected(4), source=standby.source))
        promoted = replace(s.primary(5), source=standby.source)
        await push(pilot, feed, promoted)
        assert "· now primary (was standby)" in static_text(notice)
        assert len(static_text(notice).splitlines()) == 2  # one line per source


async def test_a_stall_and_a_failed_tick_are_shown_keeping_the_last_data(
    tmp_path: Path,
) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        first = s.primary(0)
        await push(pilot, feed, first)
        banner = app.header_widget.banner
        pane = app.panes["activity"]
        # a stall: the sampler republishes the last data, flagged
        await push(pilot, feed, replace(first, error="no answer for 7 s"))
        assert banner.display
        assert "◌ primary: no answer for 7 s · showing the last data" in static_text(banner)
        assert static_text(pane.status).startswith("◌ no answer for 7 s · ")
        assert pane.has_class("-stale")
        assert "4201" in pane.table.shown_keys
        # a failed tick: connected, an error, no data; the last data stays
        failed = replace(
            s.primary(1), error="poll timed out after 2000 ms", stats=None, activity=()
        )
        failed = replace(failed, summary=None, statements=(), locks=(), replication=None)
        await push(pilot, feed, failed)
        assert app.last_good["primary"] is not failed
        assert "4201" in pane.table.shown_keys
        assert "primary: poll timed out after 2000 ms" in static_text(banner)
        assert static_text(pane.status).startswith("◌ poll timed out after 2000 ms · ")
        await push(pilot, feed, s.primary(2))
        assert not banner.display
        assert not pane.has_class("-stale")
        assert not static_text(pane.status).startswith("◌")


async def test_logging_reaches_the_root_handlers_while_the_app_runs(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(keep)
    try:
        app = app_for(RecordedFeed([s.primary(0)]), tmp_path)
        capfd.readouterr()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert logging.getLogger("pgtop").propagate
            logging.getLogger("pgtop.collect.sampler").warning("primary: lost")
            logging.getLogger("psycopg").warning("a notice")
        assert [r.getMessage() for r in records] == ["primary: lost", "a notice"]
        assert capfd.readouterr().err == ""
    finally:
        root.removeHandler(keep)


async def test_help_lists_every_binding(tmp_path: Path) -> None:
    app = app_for(RecordedFeed([s.primary(0)]), tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {(b.key, b.action) for _, b in app.screen.rows}
        from pgtop.ui.panes.activity import ActivityPane
        from pgtop.ui.panes.statements import StatementsPane

        every = [
            *PgtopApp.BINDINGS,
            *Pane.BINDINGS,
            *KeyedTable.BINDINGS,
            *ActivityPane.BINDINGS,
            *StatementsPane.BINDINGS,
        ]
        for binding in every:
            assert (binding.key, binding.action) in listed, binding  # type: ignore[union-attr]
        assert ("ctrl+p", "command_palette") in listed
        rendered = str(app.screen.query_one("#help-table", Static).render())
        del rendered
        labels = {key_label(b) for _, b in app.screen.rows}
        assert {"1", "5", "space", "+", "-", "?", "q", "/", "<", ">", "r", "a", "i", "t"} <= labels
        assert {"c", "k"} <= labels  # cancel, terminate
        assert {"e", "E"} <= labels  # EXPLAIN, EXPLAIN ANALYZE
        assert "b" in labels  # a baseline from the history
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_theme_switch_persists(tmp_path: Path) -> None:
    app = app_for(RecordedFeed([s.primary(0)]), tmp_path)
    state = tmp_path / "state.toml"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "pgtop-dark"
        assert not state.exists()
        app.theme = "pgtop-light"  # what the palette's theme picker does
        await pilot.pause()
    assert load_state(state).theme == "pgtop-light"
    again = app_for(RecordedFeed([s.primary(0)]), tmp_path)
    async with again.run_test(size=(120, 40)) as pilot:
        assert again.theme == "pgtop-light"
    forced = app_for(RecordedFeed([s.primary(0)]), tmp_path, theme="high-contrast")
    async with forced.run_test(size=(120, 40)) as pilot:
        assert forced.theme == "pgtop-high-contrast"
        del pilot


async def test_palette_lists_commands(tmp_path: Path) -> None:
    app = app_for(RecordedFeed([s.primary(0)]), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Theme" in titles
        assert any(t.startswith("Locks") for t in titles)
        assert any(t.startswith("Pause") for t in titles)
        assert any(t.startswith("Interval/total") for t in titles)


async def test_80x24_drops_columns_but_keeps_the_query(tmp_path: Path) -> None:
    app = app_for(RecordedFeed(s.recording()), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        t = table(app, "activity")
        keys = [c.key for c in t.visible_columns]
        assert "pid" in keys
        assert "state" in keys
        assert "query" in keys
        assert "client" not in keys
        assert "db" not in keys
        width = t.column_width("query")
        assert width is not None
        assert width >= 20
        assert not app.query_one("#charts").display or app.screen.has_class("-narrow")


def test_sample_ready_coalesces_per_source() -> None:
    a = SampleReady(s.primary(0))
    assert a.can_replace(SampleReady(s.primary(1)))
    assert not a.can_replace(SampleReady(s.standby(1)))


@pytest.mark.parametrize("bad_theme", ["no-such-theme"])
async def test_unknown_theme_falls_back(tmp_path: Path, bad_theme: str) -> None:
    app = app_for(RecordedFeed([s.primary(0)]), tmp_path, theme=bad_theme)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "pgtop-dark"


async def test_key_bar_follows_the_pane(tmp_path: Path) -> None:
    app = app_for(RecordedFeed(s.recording()), tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        bar = app.key_bar.text.plain
        assert bar.startswith("a All types  i Idle  g Group  / Filter")
        assert "? Help" in bar
        assert "q Quit" in bar
        assert "1-5 Panes" in bar
        assert bar.index("q Quit") < bar.index("c Cancel  k Terminate")  # help survives 80 cols
        await pilot.press("5")
        await pilot.pause()
        bar = app.key_bar.text.plain
        assert bar.startswith("t Interval/total")
        assert "All types" not in bar
        assert "Cancel" not in bar  # statements are not backends


async def test_a_hidden_pane_counts_and_catches_up_when_shown(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await push(pilot, feed, s.primary(0))
        await pilot.press("2")
        await pilot.pause()
        locks = app.panes["locks"]
        assert len(locks.table.shown_keys) == 3
        await pilot.press("1")
        await push(pilot, feed, replace(s.primary(1), locks=()))  # the blocker went away
        assert " 2 Locks 0 " in static_text(app.pane_bar)  # counted while hidden
        assert len(locks.table.shown_keys) == 3  # not drawn while hidden
        await pilot.press("2")
        await pilot.pause()
        assert app.active == "locks"
        assert locks.table.shown_keys == []  # the newest data, drawn on the switch
