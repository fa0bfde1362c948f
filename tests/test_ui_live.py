"""The monitor driven by Pilot against the lab's real servers (issue 4's acceptance).

The app is built as the CLI builds it (Targets → make_sources → Sampler → make_app) and watched
while real contention runs: pgbench (direct and through PgBouncer), the blocking chain, idle
transactions, a long query, a hostile application_name, and a restart of the primary. Every
wait polls the UI's state against a deadline. The restart disturbs the lab, so it runs last.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from rich.text import Text
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static

from pgtop.collect.sampler import Sampler
from pgtop.commands.targets import Targets, make_sources
from pgtop.config import load_config
from pgtop.lab import REPLICATION_SLOT, SUPERUSER, Lab
from pgtop.model import Backend, Pool, Replica, Sample, Slot, Statement
from pgtop.text import one_line
from pgtop.ui.app import PgtopApp, make_app
from pgtop.ui.panes.locks import LockRow
from pgtop.ui.widgets.keyed_table import KeyedTable
from pgtop.workload import (
    BLOCKER_APP,
    IDLE_APP,
    LONG_QUERY_APP,
    WAITER_APPS,
    blocking_chain,
    idle_in_transaction,
    long_query,
    pgbench,
)

pytestmark = pytest.mark.one_major  # see tests/conftest.py

T = TypeVar("T")
INTERVAL = 0.5
SIZE = (200, 50)
HOSTILE_APP = "[bold red]x\x1b[2J"
DIRECT_APP = "pgbench-ui-direct"
BOUNCER_APP = "pgbench-ui-bouncer"

# --------------------------------------------------------------------------- helpers


class Live:
    """A running app over the lab plus what it told the user."""

    def __init__(self, app: PgtopApp, pilot: Pilot[None], errors: list[str]) -> None:
        self.app = app
        self.pilot = pilot
        self.errors = errors

    def table(self, pane: str) -> KeyedTable:
        return self.app.panes[pane].table

    @property
    def main(self) -> Sample | None:
        sample = self.app.last_good.get("primary")
        return sample if isinstance(sample, Sample) else None

    async def until(
        self, condition: Callable[[], T | None], what: str, timeout_s: float = 20.0
    ) -> T:
        """Poll the UI (0.1 s steps) until ``condition`` is truthy; fail with ``what``."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
            await self.pilot.pause(0.1)

    async def next_main(self, timeout_s: float = 10.0) -> Sample:
        """Wait until a primary sample newer than the current one has been rendered."""
        before = self.app.latest.get("primary")
        applied = self.app.applied

        def fresh() -> Sample | None:
            now = self.app.latest.get("primary")
            if now is not before and self.app.applied > applied and isinstance(now, Sample):
                return now
            return None

        return await self.until(fresh, "the next primary sample", timeout_s)

    def assert_healthy(self) -> None:
        assert self.app._exception is None  # noqa: SLF001 - the app crashed
        assert self.errors == []


@contextlib.asynccontextmanager
async def live(lab: Lab, tmp_path: Path) -> AsyncIterator[Live]:
    """The app exactly as `pgtop DSN --replica DSN --pgbouncer DSN` builds it."""
    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    config = load_config(config_file, env={})
    targets = Targets(lab.monitor_dsn(), (lab.replica_dsn(),), lab.bouncer_admin_dsn())
    sampler = Sampler(make_sources(targets, config), interval=INTERVAL)
    app = make_app(config, sampler, targets=targets.describe(), state_path=tmp_path / "state.toml")
    errors: list[str] = []
    notify = app.notify

    def recording_notify(message: str, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("severity") == "error":
            errors.append(message)
        notify(message, *args, **kwargs)

    app.notify = recording_notify  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        session = Live(app, pilot, errors)
        await session.until(lambda: session.main, "the first primary sample")
        yield session
        session.assert_healthy()
    assert app._exception is None  # noqa: SLF001


@contextlib.contextmanager
def bench(
    lab: Lab, application_name: str, *, clients: int = 4, via_bouncer: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """pgbench for at most 60 s, directly or through PgBouncer; always terminated and reaped."""
    endpoint = lab.pgbouncer if via_bouncer else lab.primary
    assert endpoint is not None
    proc = pgbench(
        lab.install.tool("pgbench"),
        host="127.0.0.1",
        port=endpoint.port,
        passfile=lab.primary.passfile,
        clients=clients,
        duration_s=60,
        application_name=application_name,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def cells(table: KeyedTable, key: str) -> dict[str, Text]:
    """The row's rendered cells by column key (what the table shows)."""
    row = table.get_row(key)
    return {spec.key: value for spec, value in zip(table.visible_columns, row, strict=True)}


def column(table: KeyedTable, col: str) -> list[str]:
    return [cells(table, key)[col].plain for key in table.shown_keys]


def cursor_key(table: KeyedTable) -> str | None:
    keys = table.shown_keys
    return keys[table.cursor_row] if keys else None


def backends(table: KeyedTable) -> list[Backend]:
    return [table.record(key) for key in table.shown_keys]


def drawn(widget: Widget) -> str:
    """What ``widget`` puts on the screen, as text (one line per row)."""
    size = widget.size
    strips = widget.render_lines(Region(0, 0, size.width, size.height))
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def header_text(app: PgtopApp) -> str:
    return str(app.header_widget.identity.render())


def banner_text(app: PgtopApp) -> str:
    banner = app.header_widget.banner
    return str(banner.render()) if banner.display else ""


def notice_text(app: PgtopApp) -> str:
    notice = app.header_widget.notice
    return str(notice.render()) if notice.display else ""


def is_sorted_by(values: list[float | None], *, descending: bool) -> bool:
    """Known values monotonic in the direction, unknown (None) ones after them."""
    known = [v for v in values if v is not None]
    if values[: len(known)] != known:
        return False
    return known == sorted(known, reverse=descending)


# --------------------------------------------------------------------------- panes


async def test_each_pane_shows_its_real_content(lab: Lab, tmp_path: Path) -> None:
    with (
        bench(lab, DIRECT_APP),
        bench(lab, BOUNCER_APP, via_bouncer=True),
        blocking_chain(lab.app_dsn(), bound_s=60) as chain,
    ):
        async with live(lab, tmp_path) as ui:
            # 1 activity: the pgbench backends (direct; through PgBouncer the server sessions)
            activity = ui.table("activity")
            await ui.until(
                lambda: DIRECT_APP in column(activity, "app"),  # the PgBouncer ones may come first
                "pgbench backends in the activity pane",
            )
            direct = [b for b in backends(activity) if b.application == DIRECT_APP]
            assert direct
            assert all(cells(activity, str(b.pid))["app"].plain == DIRECT_APP for b in direct)

            # 2 locks: holder first, then B, then C under B, drawn as a tree
            await ui.pilot.press("2")
            locks = ui.table("locks")

            def chain_rows() -> list[str] | None:
                keys = [k for k in locks.shown_keys if k.split("/")[0] == str(chain.holder)]
                return [cells(locks, k)["who"].plain for k in keys] if len(keys) == 3 else None

            who = await ui.until(chain_rows, "the blocking chain in the locks pane")
            assert who == [
                f"{chain.holder} {BLOCKER_APP}",
                f"└─ {chain.waiter} {WAITER_APPS[0]}",
                f"   └─ {chain.second_waiter} {WAITER_APPS[1]}",
            ]
            rows: list[LockRow] = [
                locks.record(k) for k in locks.shown_keys if k.startswith(str(chain.holder))
            ]
            assert [r.depth for r in rows] == [0, 1, 2]
            assert cells(locks, str(chain.holder))["mode"].plain == "holds"
            assert rows[1].node.mode == "ShareLock"
            assert "lab_lock" in column(ui.app.panes["locks"].counts, "relation")  # type: ignore[attr-defined]

            # 3 replication: the replica streams, through the lab's slot
            await ui.pilot.press("3")
            repl = ui.app.panes["replication"]

            def streaming() -> list[Replica]:
                return [
                    r
                    for r in (repl.table.record(k) for k in repl.table.shown_keys)
                    if r.state == "streaming"
                ]

            (replica,) = await ui.until(streaming, "a streaming replica")
            assert cells(repl.table, f"primary/{replica.pid}")["state"].plain == "streaming"
            slots: KeyedTable = repl.slots  # type: ignore[attr-defined]
            slot_key = f"primary/{REPLICATION_SLOT}"
            await ui.until(lambda: slot_key in slots.shown_keys, "the lab's slot")
            slot: Slot = slots.record(slot_key)
            assert slot.active
            assert cells(slots, slot_key)["name"].plain == REPLICATION_SLOT
            standby: KeyedTable = repl.standby  # type: ignore[attr-defined]
            await ui.until(lambda: standby.shown_keys, "the replica's own status")

            # 4 pools: PgBouncer's app/app pool, with pgbench's clients on it
            await ui.pilot.press("4")
            pools = ui.table("pools")

            def busy_pool() -> Pool | None:
                pool: Pool | None = pools.record("app/app")
                return pool if pool is not None and pool.cl_active + pool.cl_waiting > 0 else None

            await ui.until(busy_pool, "pgbench's clients in the app/app pool")
            assert pools.display
            row = cells(pools, "app/app")
            assert (row["database"].plain, row["user"].plain) == ("app", "app")

            # 5 statements: pgbench's UPDATE with a rate
            await ui.pilot.press("5")
            stmts = ui.table("statements")

            def update() -> str | None:
                for key in stmts.shown_keys:
                    s: Statement = stmts.record(key)
                    if s.query.startswith("UPDATE pgbench_accounts") and (s.calls_per_s or 0) > 0:
                        return key
                return None

            key = await ui.until(update, "pgbench's UPDATE with calls/s > 0")
            row = cells(stmts, key)
            assert row["query"].plain.startswith("UPDATE pgbench_accounts")
            assert float(row["calls_per_s"].plain.rstrip("k")) > 0


# --------------------------------------------------------------------------- keys


async def test_selected_pid_stays_selected_while_rows_move(lab: Lab, tmp_path: Path) -> None:
    with bench(lab, DIRECT_APP, clients=8), long_query(lab.app_dsn(), 30) as long_pid:
        async with live(lab, tmp_path) as ui:
            activity = ui.table("activity")
            await ui.until(
                lambda: (
                    str(long_pid) in activity.shown_keys and DIRECT_APP in column(activity, "app")
                ),
                "the long query and pgbench",
            )
            # youngest transaction first: the long query is the last row, and pgbench's
            # transactions come and go above it (idle sessions are hidden), so it moves
            await ui.pilot.press("r")
            # a session still connecting has no transaction and sorts after every age: wait
            # for a tick without one
            await ui.until(lambda: activity.shown_keys[-1] == str(long_pid), "the long query last")
            await ui.pilot.press("end")
            assert cursor_key(activity) == str(long_pid)
            pid = str(long_pid)
            orders = [activity.shown_keys]
            positions = [activity.shown_keys.index(pid)]
            refreshes = 0
            while refreshes < 3 or (len(set(positions)) < 2 and refreshes < 10):
                await ui.next_main()
                refreshes += 1
                assert cursor_key(activity) == pid, f"refresh {refreshes}"
                assert activity.selected_key == pid
                orders.append(activity.shown_keys)
                positions.append(activity.shown_keys.index(pid))
            assert len({tuple(o) for o in orders}) > 1, "the rows never moved"
            assert len(set(positions)) > 1, "the selected row never moved"
            assert ui.app.paused is False


async def test_filter_and_sort_on_real_values(lab: Lab, tmp_path: Path) -> None:
    dsn = lab.app_dsn()
    with (
        bench(lab, DIRECT_APP),
        idle_in_transaction(dsn, bound_s=60) as idle_pid,
        long_query(dsn, 30) as long_pid,
    ):
        async with live(lab, tmp_path) as ui:
            activity = ui.table("activity")
            pane = ui.app.panes["activity"]
            await ui.until(
                lambda: (
                    {str(idle_pid), str(long_pid)} <= set(activity.shown_keys)
                    and DIRECT_APP in column(activity, "app")
                ),
                "the idle transaction, the long query and pgbench",
            )

            # filter: "-" goes to the input, not to the app's "refresh faster" key
            await ui.pilot.press("slash", *"lab-long")
            assert pane.filter_input.has_focus
            assert ui.app.feed.interval == INTERVAL
            assert activity.shown_keys == [str(long_pid)]
            await ui.next_main()  # a new sample keeps the filter
            assert activity.shown_keys == [str(long_pid)]
            assert column(activity, "app") == [LONG_QUERY_APP]
            assert "filter: lab-long" in str(pane.status.render())
            await ui.pilot.press("enter")  # back to the table, filter kept
            assert activity.has_focus
            assert activity.shown_keys == [str(long_pid)]
            await ui.pilot.press("escape")
            assert activity.filter_text == ""
            await ui.until(lambda: len(activity.shown_keys) > 2, "every row back after esc")
            assert str(idle_pid) in activity.shown_keys
            assert IDLE_APP in column(activity, "app")

            # sort: default xact ▼; "<" → query duration; "r" reverses; ">" goes back
            def values(col: str) -> list[float | None]:
                return [getattr(b, col) for b in backends(activity)]

            assert activity.sort_key == "xact_s"
            assert is_sorted_by(values("xact_s"), descending=True)
            await ui.pilot.press("less_than_sign")
            assert (activity.sort_key, activity.reverse) == ("query_s", True)
            for _ in range(2):
                assert is_sorted_by(values("query_s"), descending=True), values("query_s")
                assert activity.shown_keys[0] == str(long_pid)  # the longest query
                assert "sort: query ▼" in str(pane.status.render())
                await ui.next_main()
            await ui.pilot.press("r")
            for _ in range(2):
                assert is_sorted_by(values("query_s"), descending=False), values("query_s")
                await ui.next_main()
            assert "sort: query ▲" in str(pane.status.render())
            await ui.pilot.press("greater_than_sign")
            assert activity.sort_key == "xact_s"
            await ui.next_main()
            assert is_sorted_by(values("xact_s"), descending=False)
            known = [v for v in values("xact_s") if v is not None]
            assert len(set(known)) > 1  # a real ordering, not a tie


async def test_pause_stops_updates_and_resume_continues(lab: Lab, tmp_path: Path) -> None:
    with long_query(lab.app_dsn(), 30) as pid:
        async with live(lab, tmp_path) as ui:
            activity = ui.table("activity")
            await ui.until(lambda: str(pid) in activity.shown_keys, "the long query")
            # unpaused, the long query's duration changes with every sample
            before = cells(activity, str(pid))["query_s"].plain
            await ui.next_main()
            assert cells(activity, str(pid))["query_s"].plain != before

            await ui.pilot.press("space")
            assert "PAUSED" in header_text(ui.app)
            frozen_rows = [[c.plain for c in activity.get_row(k)] for k in activity.shown_keys]
            frozen_applied = ui.app.applied
            frozen_sample = ui.app.latest.get("primary")
            deadline = time.monotonic() + 2.5 * INTERVAL
            while time.monotonic() < deadline:
                await ui.pilot.pause(0.1)
                assert "PAUSED" in header_text(ui.app)
                assert ui.app.applied == frozen_applied
                rows = [[c.plain for c in activity.get_row(k)] for k in activity.shown_keys]
                assert rows == frozen_rows
            assert ui.app.latest.get("primary") is frozen_sample  # the sampler stopped polling

            await ui.pilot.press("space")
            assert "PAUSED" not in header_text(ui.app)
            assert f"⟳ {INTERVAL:g}s" in header_text(ui.app)
            await ui.next_main()
            await ui.until(
                lambda: (
                    cells(activity, str(pid))["query_s"].plain
                    != frozen_rows[activity.shown_keys.index(str(pid))][
                        [c.key for c in activity.visible_columns].index("query_s")
                    ]
                    if str(pid) in activity.shown_keys
                    else None
                ),
                "the long query's duration to move again",
            )


# --------------------------------------------------------------------------- hostile text


class _Sleeper(threading.Thread):
    def __init__(self, conn: psycopg.Connection[Any], query: str) -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.query = query

    def run(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.execute(self.query)


async def test_hostile_application_name_is_shown_literally(lab: Lab, tmp_path: Path) -> None:
    query = "SELECT pg_sleep(30) /* \x1b[2J [bold]x[/bold] */"
    conn = psycopg.connect(lab.app_dsn(), application_name=HOSTILE_APP, autocommit=True)
    sleeper = _Sleeper(conn, query)
    sleeper.start()
    try:
        pid = str(conn.info.backend_pid)
        with psycopg.connect(lab.primary.dsn(SUPERUSER, "app"), autocommit=True) as su:
            row = su.execute(
                "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (int(pid),)
            ).fetchone()
        assert row is not None
        stored = str(row[0])
        if lab.install.major >= 16:  # PostgreSQL itself escapes non-ASCII as \xNN since 16
            assert stored == "[bold red]x\\x1b[2J"
        else:  # ... and replaced it with "?" before
            assert stored == "[bold red]x?[2J"
        async with live(lab, tmp_path) as ui:
            activity = ui.table("activity")
            await ui.until(
                lambda: activity.record(pid) is not None and activity.record(pid).state == "active",
                "the hostile session, active",
            )
            row_cells = cells(activity, pid)
            app_cell = row_cells["app"]
            assert app_cell.plain == one_line(stored)
            assert app_cell.plain.startswith("[bold red]x")
            assert app_cell.spans == []  # markup not interpreted
            assert not app_cell.style
            query_cell = row_cells["query"]
            assert query_cell.plain == "SELECT pg_sleep(30) /* \\x1b[2J [bold]x[/bold] */"
            assert query_cell.spans == []
            # what reaches the screen: literal brackets, no raw ESC
            activity.select_key(pid)
            await ui.pilot.pause()
            (line,) = [ln for ln in drawn(activity).splitlines() if f" {pid} " in ln]
            assert "[bold red]x" in line
            assert "\\x1b[2J [bold]x[/bold]" in line
            assert "\x1b" not in drawn(activity)
            # the backend details show the full text, literally
            await ui.pilot.press("enter")
            await ui.pilot.pause()
            detail = ui.app.screen
            assert type(detail).__name__ == "BackendScreen"
            shown = "\n".join(drawn(w) for w in detail.query(Static))
            assert one_line(stored) in shown
            assert "\x1b" not in shown
            await ui.pilot.press("escape")
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.cancel_safe(timeout=5)
        sleeper.join(timeout=10)
        conn.close()


# --------------------------------------------------------------------------- restart (last)


async def test_server_restarted_under_the_running_app(lab: Lab, tmp_path: Path) -> None:
    async with live(lab, tmp_path) as ui:
        first = await ui.next_main()
        assert first.info is not None
        started_before = first.info.started_at
        assert started_before is not None
        assert banner_text(ui.app) == ""
        assert notice_text(ui.app) == ""

        # a fast restart may end between two ticks (the disconnected banner then lasts a few
        # ms); the notice that the primary came back, and that it restarted, must stay
        restart = asyncio.ensure_future(asyncio.to_thread(lab.restart_primary))
        banners: list[str] = []
        try:
            deadline = time.monotonic() + 60
            while not restart.done() or "primary back at" not in notice_text(ui.app):
                text = banner_text(ui.app)
                if text:
                    banners.append(text)
                if time.monotonic() > deadline:
                    pytest.fail(f"no notice of the restart within 60 s; banners: {banners}")
                await ui.pilot.pause(0.05)
        finally:
            await restart
        notice = notice_text(ui.app)
        assert "server restarted at" in notice, notice
        assert all("primary disconnected" in b and "retry " in b for b in banners), banners
        retries = [int(b.split("retry ")[1].split()[0]) for b in banners]
        assert retries == sorted(retries)  # counted up while the server was away

        # the banner goes and fresh data from the new server arrives within a few intervals
        def fresh() -> Sample | None:
            sample = ui.main
            if (
                sample is not None
                and sample.connected
                and sample.info is not None
                and sample.info.started_at is not None
                and sample.info.started_at > started_before
                and banner_text(ui.app) == ""
            ):
                return sample
            return None

        after = await ui.until(fresh, "fresh data after the restart", timeout_s=15)
        assert after.stats is not None
        assert "PostgreSQL" in header_text(ui.app)
        assert notice_text(ui.app) == notice  # still there a few ticks later
        applied = ui.app.applied
        await ui.next_main()
        assert ui.app.applied > applied
        ui.assert_healthy()

        # leave the lab as we found it: the replica streams again (seen through the app)
        await ui.pilot.press("3")
        repl = ui.table("replication")
        await ui.until(
            lambda: (
                any(repl.record(k).state == "streaming" for k in repl.shown_keys)
                and ui.main is not None
                and ui.main.taken_at > after.taken_at
            ),
            "the replica to stream again",
            timeout_s=45,
        )
