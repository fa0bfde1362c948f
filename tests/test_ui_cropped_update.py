"""Partial screen updates: what the terminal ends up showing equals a full repaint.

The table refreshes only the changed parts of a line and the app writes only those parts
(pgtop.ui.cropped_update); a stale character left on screen would be a lie about the server.
Every update the app would send to a terminal is applied to a character grid here, tick after
tick, and compared with the screen drawn from scratch.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from pgtop.model import Backend
from pgtop.ui.cropped_update import CroppedChopsUpdate, _sgr, cropped
from tests import ui_samples as s
from tests.test_ui_app import PushFeed, app_for, push

_MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")
TRUECOLOR = Console(color_system="truecolor", force_terminal=True)
_CONTROL = re.compile(r"(\x1b\[[0-9;]*[Hm])")


class Terminal:
    """A grid of (character, SGR parameters) that understands absolute moves and SGR."""

    def __init__(self, lines: list[list[tuple[str, str]]]) -> None:
        self.grid = [list(line) for line in lines]

    def write(self, data: str) -> None:
        y = x = 0
        sgr = ""
        for part in _CONTROL.split(data):
            if not part:
                continue
            if move := _MOVE.fullmatch(part):
                y, x = int(move.group(1)) - 1, int(move.group(2)) - 1
            elif part.startswith("\x1b[") and part.endswith("m"):
                params = part[2:-1]
                sgr = "" if params in ("", "0") else params.removeprefix("0;")
            else:
                for char in part:
                    self.grid[y][x] = (char, sgr)
                    x += 1


def screen(app: Any) -> list[list[tuple[str, str]]]:
    """The screen drawn from scratch: (character, SGR parameters) per cell."""
    system = ColorSystem.TRUECOLOR
    lines = []
    for strip in app.screen._compositor.render_strips():  # noqa: SLF001
        cells: list[tuple[str, str]] = []
        for segment in strip:
            codes = _sgr(segment.style, system) if segment.style and system else ""
            cells.extend((char, codes) for char in segment.text)
        lines.append(cells)
    return lines


def text_of(lines: list[list[tuple[str, str]]]) -> list[str]:
    return ["".join(char for char, _ in line) for line in lines]


QUERIES = [
    "UPDATE pgbench_accounts SET abalance = abalance + {n} WHERE aid = {m};",
    "UPDATE pgbench_tellers SET tbalance = tbalance + {n} WHERE tid = {m};",
    "SELECT abalance FROM pgbench_accounts WHERE aid = {m};",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({n}, {m}, 1, 2, now());",
    "END;",
]


def busy(rng: random.Random, count: int) -> tuple[Backend, ...]:
    """pgbench-like rows: every duration changes, queries trade places, rows move."""
    rows = []
    for i in range(count):
        query = rng.choice(QUERIES).format(n=rng.randint(-5000, 5000), m=rng.randint(1, 10**6))
        state = rng.choice(["active", "active", "idle in transaction"])
        rows.append(
            s.backend(
                5000 + i,
                rng.choice(["pgbench", "pgbench-bench", "psql"]),
                state,
                query * rng.choice([1, 1, 3]),  # some long enough to be cut
                query_s=rng.uniform(0.001, 3) if state == "active" else None,
                xact_s=rng.uniform(0.001, 90),
                state_s=rng.uniform(0.001, 3),
                wait=rng.choice([None, ("Lock", "transactionid"), ("Client", "ClientRead")]),
            )
        )
    return tuple(rows)


async def test_partial_updates_leave_the_screen_a_full_repaint_would(tmp_path: Path) -> None:
    feed = PushFeed()
    app = app_for(feed, tmp_path)
    sent: list[str] = []
    display = app._display  # noqa: SLF001

    def recording(screen: Any, renderable: Any) -> None:
        if renderable is not None and not app._batch_count:  # noqa: SLF001
            update = cropped(renderable)
            if isinstance(update, CroppedChopsUpdate):
                sent.append(update.render_segments(TRUECOLOR))
        display(screen, renderable)

    app._display = recording  # type: ignore[method-assign]  # noqa: SLF001
    rng = random.Random(7)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await push(pilot, feed, s.primary(0, activity=busy(rng, 30)))
        await pilot.pause()
        terminal = Terminal(screen(app))
        sent.clear()
        partial = 0
        table = app.panes["activity"].table
        for n in range(1, 16):
            await push(pilot, feed, s.primary(n, activity=busy(rng, rng.randint(20, 40))))
            if n == 4:  # a toast over the table: rows changing under it must not show through
                app.notify("toast over the rows", timeout=60)
            if n == 8:
                await pilot.press("down", "down")  # the cursor row follows its pid from now on
            await pilot.pause()
            for data in sent:
                terminal.write(data)
                partial += sum(int(x) > 1 for _, x in _MOVE.findall(data))
            sent.clear()
            expected = screen(app)
            assert text_of(terminal.grid) == text_of(expected), f"tick {n}"
            assert terminal.grid == expected, f"tick {n}: the characters are right, a style is not"
        assert table.counts.lines_refreshed > 0
        assert any("toast over the rows" in line for line in text_of(terminal.grid))
        assert partial > 0  # some lines were written from the middle


def test_both_ends_of_a_span_are_cropped() -> None:
    style = Style(bold=True)
    strip = Strip([Segment("0123456789", style), Segment("abcdefghij")], 20)
    update = cropped(ChopsUpdate([{0: strip}], [(0, 4, 14)], [[20]]))
    data = update.render_segments(Console(color_system=None))
    assert data == "\x1b[1;5H456789abcd"  # no colours: no style sequences
    coloured = update.render_segments(Console(color_system="256"))
    # a style sequence where the style changes, one reset where it ends
    assert coloured == "\x1b[1;5H\x1b[0;1m456789\x1b[0mabcd"


def test_only_chops_updates_are_replaced() -> None:
    other = object()
    assert cropped(other) is other
    assert cropped(None) is None
    assert isinstance(cropped(ChopsUpdate([], [], [])), CroppedChopsUpdate)
