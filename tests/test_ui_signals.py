"""Cancel and terminate from the monitor, against the lab's real primary: the question comes
first and names the backend, `n` leaves it alone, `y` sends the signal; the locks pane's root
blocker can be terminated where it is drawn; `--read-only` never asks and never sends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual.pilot import Pilot

from pgtop.collect.sampler import Sampler
from pgtop.commands.targets import Targets, make_signaller, make_sources
from pgtop.config import load_config
from pgtop.lab import Lab
from pgtop.ui.app import PgtopApp, make_app
from pgtop.ui.screens.confirm import ConfirmScreen
from pgtop.workload import blocking_chain
from tests.collect_fixtures import running, until

pytestmark = pytest.mark.lab

WAIT_S = 20.0
SLEEP = "SELECT pg_sleep(60) /* [bold]pgtop ui signal[/bold] */"


def _state(lab: Lab, pid: int) -> str | None:
    with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return None if row is None else str(row[0])


class Notes:
    """Every notification the app showed: (message, severity)."""

    def __init__(self, app: PgtopApp) -> None:
        self.seen: list[tuple[str, str]] = []
        notify = app.notify

        def recording(message: str, *args: Any, **kwargs: Any) -> None:
            self.seen.append((message, kwargs.get("severity", "information")))
            notify(message, *args, **kwargs)

        app.notify = recording  # type: ignore[method-assign]

    def find(self, part: str) -> tuple[str, str] | None:
        return next((note for note in self.seen if part in note[0]), None)


@contextlib.asynccontextmanager
async def monitor(
    lab: Lab, tmp_path: Path, *, read_only: bool = False
) -> AsyncIterator[tuple[PgtopApp, Pilot[None], Notes]]:
    """The app as the CLI builds it: the signaller from make_signaller, as the monitoring role."""
    overrides = {"monitor.read_only": True} if read_only else {}
    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    config = load_config(config_file, env={}, overrides=overrides)
    targets = Targets(lab.monitor_dsn(), (), None)
    sampler = Sampler(make_sources(targets, config), interval=0.5)
    app = make_app(
        config,
        sampler,
        read_only=config.monitor.read_only,
        state_path=tmp_path / "state.toml",
        signaller=make_signaller(targets, config),
    )
    assert (app.signaller is None) == read_only
    notes = Notes(app)
    async with app.run_test(size=(160, 40)) as pilot:
        yield app, pilot, notes
    assert app._exception is None  # noqa: SLF001


async def _question(app: PgtopApp) -> ConfirmScreen:
    return await until(
        lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
        "the question",
        WAIT_S,
    )


async def _select(app: PgtopApp, pilot: Pilot[None], pane: str, key: str) -> None:
    table = app.panes[pane].table
    await until(lambda: key in table.shown_keys, f"row {key} in the {pane} pane", WAIT_S)
    assert table.select_key(key)


async def test_cancel_asks_names_the_backend_and_n_keeps_it(lab: Lab, tmp_path: Path) -> None:
    with running(lab.app_dsn(), SLEEP) as pid:
        async with monitor(lab, tmp_path) as (app, pilot, notes):
            await _select(app, pilot, "activity", str(pid))
            await pilot.press("c")
            screen = await _question(app)
            assert screen.question == f"Cancel the running query of pid {pid}?"
            text = str(screen.query_one("#confirm-text").render())
            assert "[bold]pgtop ui signal[/bold]" in text  # server text shown literally
            await pilot.press("n")
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.pause(0.5)
            assert _state(lab, pid) == "active", "n must send nothing"
            assert notes.seen == []

            await pilot.press("c")
            await _question(app)
            await pilot.press("y")
            note = await until(lambda: notes.find(f"pid {pid}"), "the outcome", WAIT_S)
            assert note == (f"pid {pid}: cancel sent to its query", "information")
            await until(lambda: _state(lab, pid) == "idle", "the query to be cancelled", WAIT_S)


async def test_any_other_key_is_a_no(lab: Lab, tmp_path: Path) -> None:
    with running(lab.app_dsn(), SLEEP) as pid:
        async with monitor(lab, tmp_path) as (app, pilot, _notes):
            await _select(app, pilot, "activity", str(pid))
            await pilot.press("k")
            await _question(app)
            await pilot.press("x")
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.pause(0.3)
            assert _state(lab, pid) == "active"


async def test_terminate_the_root_blocker_from_the_locks_pane(lab: Lab, tmp_path: Path) -> None:
    with blocking_chain(lab.app_dsn()) as chain:
        async with monitor(lab, tmp_path) as (app, pilot, notes):
            await pilot.press("2")
            await _select(app, pilot, "locks", str(chain.holder))
            await pilot.press("k")
            screen = await _question(app)
            assert screen.question == f"Terminate pid {chain.holder}?"
            await pilot.press("y")
            note = await until(lambda: notes.find(f"pid {chain.holder}"), "the outcome", WAIT_S)
            assert note == (f"pid {chain.holder}: terminated", "information")
            assert _state(lab, chain.holder) is None
            await until(
                lambda: app.panes["locks"].table.row_count == 0,
                "the blocking tree to clear",
                WAIT_S,
            )


async def test_read_only_never_asks_nor_sends(lab: Lab, tmp_path: Path) -> None:
    with running(lab.app_dsn(), SLEEP) as pid:
        async with monitor(lab, tmp_path, read_only=True) as (app, pilot, notes):
            await _select(app, pilot, "activity", str(pid))
            for key in ("c", "k"):
                await pilot.press(key)
                assert not isinstance(app.screen, ConfirmScreen)
            assert notes.find("read-only (--read-only): cancel is off") is not None
            assert notes.find("read-only (--read-only): terminate is off") is not None
            await pilot.pause(0.3)
            assert _state(lab, pid) == "active"


async def test_cancel_of_an_idle_backend_says_there_is_nothing_to_cancel(
    lab: Lab, tmp_path: Path
) -> None:
    with psycopg.connect(lab.app_dsn(), autocommit=True) as idle:
        pid = idle.info.backend_pid
        async with monitor(lab, tmp_path) as (app, pilot, notes):
            await pilot.press("i")  # idle backends shown
            await _select(app, pilot, "activity", str(pid))
            await pilot.press("c")
            assert not isinstance(app.screen, ConfirmScreen)
            note = notes.find(f"pid {pid} is idle")
            assert note is not None
            assert note[1] == "warning"
        assert not idle.closed
