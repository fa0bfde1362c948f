"""Incident triage from the activity pane: sessions grouped by who holds them, marks, bulk cancel
and terminate in one question, the runbook commands, the action log, and `b` writing a
baseline — against the lab's real primary where a server must act, and from recorded samples
for the drawing (snapshots of the grouped view and the bulk question)."""

from __future__ import annotations

import contextlib
import json
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgtop.actions import BulkOutcome, Outcome, Signal
from pgtop.audit import ActionLog
from pgtop.collect.sampler import Sampler
from pgtop.commands.targets import Targets, make_signaller, make_sources
from pgtop.config import Config, load_config
from pgtop.feed import RecordedFeed
from pgtop.lab import BOUNCER_POOL_SIZE, Lab
from pgtop.sessions import group_sessions
from pgtop.ui.app import make_app
from pgtop.ui.panes.activity import ActivityPane, MarkedBackend
from pgtop.ui.screens.ask import AskNumber
from pgtop.ui.screens.confirm import ConfirmScreen
from pgtop.ui.widgets.health_bar import HealthBar
from tests import ui_samples as s
from tests.collect_fixtures import until
from tests.test_ui_app import PushFeed, push, table
from tests.test_ui_health_bar import plain_lines

SECRET = "Leak-Secret-9"


class RecordingSignaller:
    """A Signaller double for the drawing tests: records what it was asked (the collector side
    runs against real servers in test_signals.py and below)."""

    name = "primary"

    def __init__(self) -> None:
        self.sent: list[tuple[Signal, list[tuple[int, datetime | None]]]] = []

    async def send(self, signal: Signal, pid: int, backend_start: datetime | None) -> Outcome:
        self.sent.append((signal, [(pid, backend_start)]))
        return Outcome(True, f"pid {pid}: {signal.value} sent")

    async def send_many(
        self, signal: Signal, backends: Sequence[tuple[int, datetime | None]]
    ) -> BulkOutcome:
        self.sent.append((signal, list(backends)))
        pids = tuple(pid for pid, _ in backends)
        return BulkOutcome(True, f"terminated {len(pids)} of {len(pids)}", pids)

    async def close(self) -> None:
        return None


def _app(tmp_path: Path, feed: Any, **kwargs: Any) -> Any:
    return make_app(
        Config(),
        feed,
        targets="127.0.0.1:54321/app",
        state_path=tmp_path / "state.toml",
        action_log=ActionLog(tmp_path / "actions.log"),
        **kwargs,
    )


# --------------------------------------------------------------------------- pure


def test_sessions_grouped_by_who_holds_them() -> None:
    groups = group_sessions(s.ACTIVITY)
    assert groups[0].total >= groups[-1].total
    assert sum(g.total for g in groups) == sum(1 for b in s.ACTIVITY if b.is_client)
    blocker = next(g for g in groups if g.application == "lab-blocker")
    assert blocker.count("idle in transaction") == 1
    assert blocker.oldest_xact_s == s.BLOCKER.xact_s


# --------------------------------------------------------------------------- drawn


async def test_group_enter_filters_and_marks_survive_a_refresh(tmp_path: Path) -> None:
    feed = PushFeed()
    signaller = RecordingSignaller()
    app = _app(tmp_path, feed, signaller=signaller)
    async with app.run_test(size=(160, 40)) as pilot:
        await push(pilot, feed, s.primary(0))
        pane = app.panes["activity"]
        assert isinstance(pane, ActivityPane)
        await pilot.press("g")
        first = table(app, "activity").shown_keys[0]
        assert first.startswith("pgbench")
        await pilot.press("enter")
        shown = pane.shown_backends()
        assert shown
        assert {b.application for b in shown} == {first.split("|")[0]}
        # mark two rows; a refresh with the same backends keeps the marks
        await pilot.press("m", "m")
        assert len(pane.marks) == 2
        await push(pilot, feed, s.primary(1))
        marked = [b for b in pane.shown_backends() if isinstance(b, MarkedBackend)]
        assert len(marked) == 2
        await pilot.press("K")
        screen = await until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None, "question", 10
        )
        assert screen.question == "Terminate 2 backends (the 2 marked)?"
        await pilot.press("y")
        await until(lambda: signaller.sent or None, "the bulk signal", 10)
        ((signal, sent),) = signaller.sent
        assert signal is Signal.TERMINATE
        assert sorted(sent) == sorted((b.pid, b.backend_start) for b in marked)
        await until(lambda: not pane.marks or None, "the marks cleared", 10)
        # esc leaves the group: every client session again
        await pilot.press("escape")
        assert pane.group is None
    log = tmp_path / "actions.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["bulk terminate", "bulk terminate"]
    assert all(line["outcome"] == "signalled" and line["ok"] for line in lines)


async def test_read_only_refuses_bulk_and_logs_it(tmp_path: Path) -> None:
    app = _app(tmp_path, RecordedFeed([s.primary(0)]), read_only=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("K")
        assert not isinstance(app.screen, ConfirmScreen)
    lines = (tmp_path / "actions.log").read_text().splitlines()
    assert lines
    assert all('"refused: read-only (--read-only)"' in line for line in lines)


async def test_runbook_command_lists_what_it_would_hit(tmp_path: Path) -> None:
    app = _app(tmp_path, RecordedFeed([s.primary(0)]), signaller=RecordingSignaller())
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        app.run_runbook("idle_xact")
        await pilot.pause()
        assert isinstance(app.screen, AskNumber)
        await pilot.press("x", "enter")
        assert isinstance(app.screen, AskNumber), "not a number: asked again"
        await pilot.press("backspace", "1", "enter")
        screen = await until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None, "question", 10
        )
        expected = {b.pid for b in s.ACTIVITY if b.is_client and (b.state or "").startswith(
            "idle in transaction") and (b.state_s or 0) > 60}  # fmt: skip
        assert screen.question.startswith(f"Terminate {len(expected)} backends")
        assert {int(name) for name, _ in screen.details if name.isdigit()} == expected
        await pilot.press("n")


async def test_b_writes_a_baseline_from_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = _app(tmp_path, RecordedFeed(s.recording()))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
    from pgtop.baseline import load

    (written,) = (tmp_path / "snapshots").iterdir()
    baseline = load(written)
    assert baseline.samples == 8
    assert baseline.statements.items


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_grouped_view_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(
        _app(tmp_path, RecordedFeed(s.recording())), press=["g"], terminal_size=size
    )


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_bulk_question_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = _app(tmp_path, RecordedFeed(s.recording()), signaller=RecordingSignaller())
    assert snap_compare(app, press=["i", "K"], terminal_size=size)


# --------------------------------------------------------------------------- the real server


@contextlib.contextmanager
def leak(lab: Lab, count: int) -> Iterator[list[psycopg.Connection[Any]]]:
    """``count`` sessions of one application left idle in transaction (a connection leak)."""
    conns = []
    try:
        for _ in range(count):
            conn = psycopg.connect(lab.app_dsn() + " application_name=lab-leaky-app")
            conn.execute(f"SELECT 1 /* password={SECRET} */")  # a transaction left open
            conns.append(conn)
        yield conns
    finally:
        for conn in conns:
            with contextlib.suppress(psycopg.Error):
                conn.close()


def _sessions(lab: Lab, application: str, *, active: bool = False) -> int:
    """Sessions of ``application`` on the primary (only the active ones with ``active``)."""
    with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND (state = 'active' OR NOT %s)",
            (application, active),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _live_app(lab: Lab, tmp_path: Path, pgbouncer: str | None = None) -> Any:
    """The app as the CLI builds it on the lab (empty config), with signals and the log."""
    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    config = load_config(config_file, env={})
    targets = Targets(lab.monitor_dsn(), (), pgbouncer)
    return make_app(
        config,
        Sampler(make_sources(targets, config), interval=0.5),
        state_path=tmp_path / "state.toml",
        signaller=make_signaller(targets, config),
        action_log=ActionLog(tmp_path / "actions.log"),
    )


async def _terminate_biggest_group(app: Any, pilot: Any, application: str, count: int) -> None:
    """The four keys: g (group), enter (``application``'s sessions: the biggest group), K,
    and y once the question asks to terminate exactly ``count`` backends."""
    pane = app.panes["activity"]
    await until(
        lambda: sum(
            1 for _, b in pane.records(pane.view) if b.application == application
        ) >= count or None if pane.view else None,
        f"{count} sessions of {application} on screen",
        20,
    )  # fmt: skip
    await pilot.press("g")
    await pilot.pause()
    assert table(app, "activity").shown_keys[0].startswith(f"{application}|")
    await pilot.press("enter", "K")
    await until(
        lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None, "the question", 20
    )
    question = app.screen.question
    assert question.startswith(f"Terminate {count} backends"), question
    await pilot.press("y")


@pytest.mark.lab
async def test_a_leak_is_fixed_in_four_keys(lab: Lab, tmp_path: Path) -> None:
    """g (group), enter (the leaking application: the biggest group), K, y: every leaked
    session is gone; the log has one line per session, 0600, no secret."""
    app = _live_app(lab, tmp_path)
    with leak(lab, 30):
        async with app.run_test(size=(160, 40)) as pilot:
            await _terminate_biggest_group(app, pilot, "lab-leaky-app", 30)
            await until(
                lambda: _sessions(lab, "lab-leaky-app") == 0 or None,
                "every leaked session gone",
                20,
            )
    text = (tmp_path / "actions.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 30
    assert {line["outcome"] for line in lines} == {"signalled"}
    assert SECRET not in text
    assert stat.S_IMODE((tmp_path / "actions.log").stat().st_mode) == 0o600


class _Client(threading.Thread):
    """One client of the lab's PgBouncer running one statement; an error ends it quietly
    (a hog terminated from pgtop), the outcome kept for the test."""

    def __init__(self, dsn: str, statement: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.statement = dsn, statement
        self.done = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None) as conn:
                conn.execute(self.statement)
            self.done = True
        except psycopg.Error as exc:
            self.error = exc


@contextlib.contextmanager
def hogged_pool(lab: Lab) -> Iterator[tuple[list[_Client], list[_Client]]]:
    """The app pool of the lab's PgBouncer (pool_size 5) held by five long report statements,
    three web clients queued behind them in PgBouncer."""
    if lab.pgbouncer is None:
        pytest.skip(lab.bouncer_missing_reason or "the lab has no PgBouncer")
    hogs = [
        _Client(lab.bouncer_app_dsn() + " application_name=lab-report", "SELECT pg_sleep(120)")
        for _ in range(BOUNCER_POOL_SIZE)
    ]
    web = [
        _Client(lab.bouncer_app_dsn() + " application_name=lab-web", "SELECT 1") for _ in range(3)
    ]
    try:
        for hog in hogs:
            hog.start()
        deadline = time.monotonic() + 20
        while _sessions(lab, "lab-report", active=True) < BOUNCER_POOL_SIZE:
            assert time.monotonic() < deadline, "the hogs never filled the pool"
            time.sleep(0.05)
        for client in web:
            client.start()
        yield hogs, web
    finally:
        with psycopg.connect(lab.superuser_dsn(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'lab-report'"
            )
        for client in (*hogs, *web):
            client.join(timeout=20)


@pytest.mark.lab
async def test_a_hogged_pgbouncer_pool_is_freed_in_four_keys(lab: Lab, tmp_path: Path) -> None:
    """Long statements holding every server connection of a PgBouncer pool: the first screen
    flags the pool with its name, and g, enter (the hogs: the biggest group), K, y end them;
    the clients queued in PgBouncer are served."""
    with hogged_pool(lab) as (hogs, web):
        app = _live_app(lab, tmp_path, lab.bouncer_admin_dsn())
        async with app.run_test(size=(200, 50)) as pilot:
            bar = app.query_one(HealthBar)
            await until(
                lambda: (
                    "pgbouncer: ✖ pool 100% app/app" in "\n".join(plain_lines(bar.statuses.text))
                ),
                "the hogged pool flagged on the first screen",
                20,
            )
            await _terminate_biggest_group(app, pilot, "lab-report", BOUNCER_POOL_SIZE)
            await until(lambda: all(c.done for c in web) or None, "the queued clients served", 20)
        assert _sessions(lab, "lab-report", active=True) == 0
        assert all(hog.error is not None for hog in hogs)


def test_marked_backend_is_a_backend() -> None:
    marked = MarkedBackend(**{f: getattr(s.BLOCKER, f) for f in s.BLOCKER.__dataclass_fields__})
    assert marked != s.BLOCKER  # drawn again when marked
    assert replace(marked, pid=1).pid == 1


class RecordingRunbook:
    """A Runbook double for the drawing (the collector runs against real servers in
    tests/test_runbook.py)."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, str]] = []

    @property
    def servers(self) -> tuple[str, ...]:
        return ("primary", "replica")

    async def resume_replay(self, server: str) -> Outcome:
        self.done.append(("resume", server, ""))
        return Outcome(True, f"replay resumed on {server}")

    async def drop_slot(self, server: str, slot: str) -> Outcome:
        self.done.append(("drop", server, slot))
        return Outcome(True, f"dropped slot {slot} on {server}: it held 3 GiB of WAL")

    async def close(self) -> None:
        return None


async def test_runbook_fixes_offered_where_they_apply(tmp_path: Path) -> None:
    paused = s.standby(0)
    assert paused.replication is not None
    assert paused.replication.standby is not None
    paused = replace(
        paused,
        replication=replace(
            paused.replication, standby=replace(paused.replication.standby, replay_paused=True)
        ),
    )
    runbook = RecordingRunbook()
    app = _app(tmp_path, RecordedFeed([s.primary(0), paused]), runbook=runbook)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app._fix_commands()]
        assert "Resume WAL replay on replica" in titles
        inactive = [t for t in titles if t.startswith("Drop inactive slot ")]
        assert inactive, titles
        assert "(holds " in inactive[0]
        app.ask_fix("resume replay", "replica", "")
        await until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None, "question", 10
        )
        await pilot.press("y")
        await until(lambda: runbook.done or None, "the fix", 10)
    assert runbook.done == [("resume", "replica", "")]
    (line,) = (tmp_path / "actions.log").read_text().splitlines()
    assert json.loads(line)["outcome"] == "replay resumed on replica"


async def test_read_only_refuses_runbook_fixes(tmp_path: Path) -> None:
    runbook = RecordingRunbook()
    app = _app(tmp_path, RecordedFeed([s.primary(0)]), runbook=runbook, read_only=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        app.ask_fix("drop slot", "primary", "old_logical")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert runbook.done == []
    assert "refused: read-only" in (tmp_path / "actions.log").read_text()


async def test_the_users_thresholds_mark_rows_and_health_alike(tmp_path: Path) -> None:
    """One source of truth: ``idle_in_xact_s.warn = 5`` makes a 6-second idle transaction a
    warning in the health bar *and* a marked row in the table."""
    from pgtop.config import Thresholds, load_config
    from pgtop.health import evaluate

    config_file = tmp_path / "config.toml"
    config_file.write_text("[thresholds]\nidle_in_xact_s = { warn = 5, crit = 100 }\n")
    config = load_config(config_file, env={})
    six = s.backend(4900, "short-idle", "idle in transaction", "SELECT 1", xact_s=6.5, state_s=6.0)
    base = s.primary(0, activity=(six,))
    assert base.stats is not None
    sample = replace(base, stats=replace(base.stats, longest_idle_in_transaction_s=6.0))
    statuses = evaluate(sample, [], config.thresholds)
    idle = next(st for st in statuses if st.metric == "idle_in_xact")
    assert idle.level.name == "WARN"
    default = next(st for st in evaluate(sample, [], Thresholds()) if st.metric == "idle_in_xact")
    assert default.level.name == "OK"  # the defaults (30 s) would not have flagged it
    app = make_app(
        config,
        RecordedFeed([replace(sample, health=statuses)]),
        state_path=tmp_path / "state.toml",
        action_log=ActionLog(tmp_path / "actions.log"),
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("i")
        row = table(app, "activity").get_row("4900")
        assert row[0].plain == "▲"
        health = app.health.statuses._text.plain.replace("\u00a0", " ")  # the bar's text
        assert "▲ idle-tx" in health
