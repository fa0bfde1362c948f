"""SVG snapshots of every pane from frozen samples (RecordedFeed: no timer, no clock).

Plain ``def`` tests: snap_compare runs its own event loop. Update with ``--snapshot-update``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pgtop.actions import Outcome, Signal
from pgtop.config import Config
from pgtop.feed import RecordedFeed
from pgtop.ui.app import PgtopApp, make_app
from tests import ui_samples as s


def _app(tmp_path: Path) -> PgtopApp:
    return make_app(
        Config(),
        RecordedFeed(s.recording()),
        targets="127.0.0.1:54321/app",
        state_path=tmp_path / "state.toml",
    )


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
def test_pane_120x40(snap_compare: Any, tmp_path: Path, key: str) -> None:
    assert snap_compare(_app(tmp_path), press=[key], terminal_size=(120, 40))


def test_activity_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(_app(tmp_path), press=["1"], terminal_size=(80, 24))


def test_disconnected_120x40(snap_compare: Any, tmp_path: Path) -> None:
    app = make_app(
        Config(),
        RecordedFeed([*s.recording(), s.disconnected(8)]),
        state_path=tmp_path / "state.toml",
    )
    assert snap_compare(app, press=["1"], terminal_size=(120, 40))


class _NeverAnswered:
    """A Signaller for the question only: the snapshot is taken before anything is answered."""

    name = "primary"

    async def send(self, signal: Signal, pid: int, backend_start: datetime | None) -> Outcome:
        raise AssertionError(f"{signal} {pid} {backend_start} sent from a snapshot")

    async def close(self) -> None:
        return None


def test_terminate_question_80x24(snap_compare: Any, tmp_path: Path) -> None:
    """The question before terminating the selected backend fits 80x24 and names it."""
    app = make_app(
        Config(),
        RecordedFeed(s.recording()),
        targets="127.0.0.1:54321/app",
        state_path=tmp_path / "state.toml",
        signaller=_NeverAnswered(),
    )
    assert snap_compare(app, press=["1", "k"], terminal_size=(80, 24))
