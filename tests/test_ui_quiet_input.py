"""The input thread sleeps until there is input (pgtop/ui/quiet_input.py), on a real pty.

Textual's own loop wakes ten times a second; this one wakes for a key, for the parser's ESC
deadline, and to stop. The test fails when the quiet loop is not the one running (a Textual
that renamed what it relies on falls back to its own loop, and ``quiet`` says so)."""

from __future__ import annotations

import asyncio
import os
import pty
import threading
import time
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual import events
from textual.app import App

from pgtop.config import Config
from pgtop.feed import RecordedFeed
from pgtop.ui.app import make_app
from pgtop.ui.quiet_input import QuietInputDriver
from tests import ui_samples as s


class _Driver(QuietInputDriver):
    def __init__(self) -> None:
        super().__init__(App())
        self.received: list[object] = []
        self.master, slave = pty.openpty()
        tty.setraw(slave)  # as Textual sets its terminal: bytes readable as they come
        self.fileno = slave
        self._slave = slave

    def process_message(self, message: object) -> None:  # type: ignore[override]
        self.received.append(message)

    def write(self, data: str) -> None:
        del data  # no terminal to set modes on

    def keys(self) -> list[str]:
        return [m.key for m in self.received if isinstance(m, events.Key)]


@pytest.fixture
async def driver() -> AsyncIterator[_Driver]:
    d = _Driver()  # a driver needs the running loop
    d._key_thread = threading.Thread(target=d._run_input_thread, name="textual-input")
    d._key_thread.start()
    try:
        yield d
    finally:
        d.disable_input()
        d.close()
        for fd in (d.master, d._slave):
            os.close(fd)


async def _wait(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_the_input_thread_sleeps_until_a_key(driver: _Driver) -> None:
    await asyncio.sleep(1.0)
    assert driver.quiet, "Textual's own input loop is running (10 wake-ups a second)"
    assert driver.wakeups == 0
    os.write(driver.master, b"a")
    assert await _wait(lambda: driver.keys() == ["a"])
    os.write(driver.master, b"\x1b")  # a lone ESC: delivered at the parser's deadline
    assert await _wait(lambda: driver.keys() == ["a", "escape"], 2.0), driver.keys()
    wakeups = driver.wakeups
    await asyncio.sleep(0.5)
    assert driver.wakeups == wakeups  # asleep again


async def test_stopping_wakes_the_thread_at_once(driver: _Driver) -> None:
    await asyncio.sleep(0.2)
    started = time.monotonic()
    driver.disable_input()
    assert driver._key_thread is not None
    assert not driver._key_thread.is_alive()
    assert time.monotonic() - started < 0.5


def test_the_app_runs_on_it(tmp_path: Path) -> None:
    app = make_app(Config(), RecordedFeed(s.recording()), state_path=tmp_path / "state.toml")
    assert app.driver_class is QuietInputDriver
