"""Issue 5, "Running": real faults on real servers while pgtop runs.

A dedicated lab per PostgreSQL major (this module stops, restarts and promotes its servers, so
it never touches the shared session lab). The faults:

- the whole primary hangs (SIGSTOP of the postmaster and every child) with the app running:
  resumed before the hang limit, and after it (connection abandoned, then reconnected);
- PgBouncer hangs (SIGSTOP), both ways;
- the streaming replica hangs (SIGSTOP) while the primary is watched too;
- q while a connect to a hung server is in flight: a reconnect, and the very first connect;
- a bug in the collector (an exception while it builds a sample) for a few ticks;
- reconnects after ``pg_ctl restart -m fast``, after pgtop's backend is terminated, and after the
  watched standby is promoted, with a DSN that carries its password (no passfile);
- terminal resizes, one at a time and in a burst, on real samples.

While the app runs nothing may reach file descriptor 2 (Textual draws there).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from textual import events
from textual.geometry import Size
from textual.pilot import Pilot

from pgtop.collect.postgres import PostgresSource
from pgtop.collect.sampler import Sampler
from pgtop.commands.targets import Targets, make_sources
from pgtop.config import load_config
from pgtop.lab import APP_DATABASE, MONITOR_ROLE, SUPERUSER, Lab, PgInstall, child_pids
from pgtop.model import AnySample, BouncerSample, Role, Sample
from pgtop.ui.app import PgtopApp, make_app
from pgtop.workload import idle_in_transaction, long_query
from tests.collect_fixtures import until
from tests.product_gc import product_gc

pytestmark = [pytest.mark.lab, pytest.mark.one_major]

INTERVAL = 0.5
HANG_LIMIT = 3.0  # the sampler's own minimum is two intervals
KEY_BUDGET_S = 0.2
QUIT_BUDGET_S = 1.5  # q while a connect hangs (the connect timeout is 5 s)
QUIT_WAIT_S = 12.0  # long enough to measure a quit held by a connect timeout or settle waits
SIZE = (120, 40)
NO_ANSWER = re.compile(r"no answer for (\d+(?:\.\d)?) s")


# --------------------------------------------------------------------------- lab and faults


@pytest.fixture(scope="module")
def flab(pg_install: PgInstall) -> Iterator[Lab]:
    """This module's own lab: its servers get stopped, restarted and promoted."""
    with Lab(pg_install) as running:
        yield running


@pytest.fixture(scope="module")
def figures() -> Iterator[list[str]]:
    """Measured figures, printed once the module is done (visible with -s)."""
    lines: list[str] = []
    yield lines
    if lines:
        print("\n" + "\n".join(f"  {line}" for line in lines))  # noqa: T201


@contextlib.contextmanager
def sigstopped(postmaster: int, *, tree: bool = True) -> Iterator[list[int]]:
    """SIGSTOP a process (and its children: a whole PostgreSQL server); SIGCONT always."""
    stopped: list[int] = []
    try:
        os.kill(postmaster, signal.SIGSTOP)  # first: a stopped postmaster forks no more
        stopped.append(postmaster)
        for child in child_pids(postmaster) if tree else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
                stopped.append(child)
        yield stopped
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def password_dsn(lab: Lab, *, replica: bool = False, password: bool = True) -> str:
    """The monitoring role's DSN with the password in it and no password file at all."""
    endpoint = lab.replica if replica else lab.primary
    assert endpoint is not None
    params = {
        "host": endpoint.host,
        "port": str(endpoint.port),
        "dbname": APP_DATABASE,
        "user": MONITOR_ROLE,
        "passfile": "/nonexistent/pgtop-no-passfile",
    }
    if password:
        params["password"] = lab.passwords[MONITOR_ROLE]
    return make_conninfo(**params)


def su_execute(lab: Lab, query: str, *, replica: bool = False) -> list[tuple[Any, ...]]:
    endpoint = lab.replica if replica else lab.primary
    assert endpoint is not None
    with psycopg.connect(endpoint.dsn(SUPERUSER, APP_DATABASE), autocommit=True) as conn:
        return conn.execute(query).fetchall()


def pgtop_sessions(lab: Lab) -> int:
    rows = su_execute(lab, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtop'")
    return int(rows[0][0])


# --------------------------------------------------------------------------- instruments


@dataclass
class PollCounter:
    """Counts a source's polls and how many were ever in flight at once."""

    started: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    connects: int = 0

    def started_between(self, a: float, b: float) -> int:
        return sum(1 for t in self.started if a <= t <= b)


def count_polls(source: Any) -> PollCounter:
    counter = PollCounter()
    poll, connect = source.poll, source.connect

    async def counted_poll() -> AnySample:
        counter.started.append(time.monotonic())
        counter.in_flight += 1
        counter.max_in_flight = max(counter.max_in_flight, counter.in_flight)
        try:
            return await poll()  # type: ignore[no-any-return]
        finally:
            counter.in_flight -= 1

    async def counted_connect() -> Any:
        counter.connects += 1
        return await connect()

    source.poll = counted_poll
    source.connect = counted_connect
    return counter


@dataclass
class Published:
    """Every sample the sampler published, with the monotonic time it was published."""

    items: list[tuple[float, AnySample]] = field(default_factory=list)

    def __call__(self, sample: AnySample) -> None:
        self.items.append((time.monotonic(), sample))

    def after(self, t: float, source: str) -> list[tuple[float, AnySample]]:
        return [(at, s) for at, s in self.items if at >= t and s.source == source]

    def first_fresh(self, t: float, source: str) -> tuple[float, AnySample] | None:
        return next(((at, s) for at, s in self.after(t, source) if fresh(s)), None)


def fresh(sample: AnySample | None) -> bool:
    return sample is not None and sample.connected and sample.error is None


# --------------------------------------------------------------------------- the app


class Running:
    """The app as the CLI builds it, over this module's lab, plus instruments."""

    def __init__(
        self,
        app: PgtopApp,
        pilot: Pilot[None],
        published: Published,
        counters: dict[str, PollCounter],
    ) -> None:
        self.app = app
        self.pilot = pilot
        self.published = published
        self.counters = counters
        self.latencies: list[float] = []

    def latest(self, source: str) -> AnySample | None:
        return self.app.latest.get(source)

    def is_fresh(self, source: str) -> bool:
        return fresh(self.latest(source))

    @property
    def active(self) -> str:
        return self.app.active

    async def press(self, key: str, char: str | None, changed: Callable[[], bool]) -> float:
        """Deliver a key as the terminal would and time it until ``changed()`` holds."""
        event = events.Key(key, char)
        event.set_sender(self.app)
        assert self.app._driver is not None  # noqa: SLF001
        started = time.perf_counter()
        self.app._driver.send_message(event)  # noqa: SLF001
        while not changed():
            if time.perf_counter() - started > 2.0:
                return math.inf
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - started
        self.latencies.append(elapsed)
        return elapsed

    async def keys_round(self, home: str = "1", home_pane: str = "activity") -> None:
        """2 then back, then space twice (pause, resume): each must land within the budget."""
        await self.press("2", "2", lambda: self.active == "locks")
        await self.press(home, home, lambda: self.active == home_pane)
        await self.press("space", " ", lambda: self.app.paused)
        await self.press("space", " ", lambda: not self.app.paused)

    async def quit(self) -> float:
        """Press q as the terminal would; seconds until the app's task and every task below
        it are done (the feed worker, the sampler's loops and calls: Textual cancels workers
        without awaiting them). Widgets' message pumps are closed later by run_test itself."""
        event = events.Key("q", "q")
        event.set_sender(self.app)
        assert self.app._driver is not None  # noqa: SLF001
        assert self.app._task is not None  # noqa: SLF001
        started = time.perf_counter()
        self.app._driver.send_message(event)  # noqa: SLF001
        await asyncio.wait({self.app._task}, timeout=QUIT_WAIT_S)  # noqa: SLF001
        while time.perf_counter() - started < QUIT_WAIT_S and (ours := feed_tasks()):
            await asyncio.wait(ours, timeout=QUIT_WAIT_S)
        elapsed = time.perf_counter() - started
        assert self.app._task.done(), "q did not end the app"  # noqa: SLF001
        assert not feed_tasks(), f"still running {elapsed:.1f} s after q: {feed_tasks()}"
        return elapsed

    def screen_text(self) -> str:
        header = self.app.header_widget
        parts = [str(header.identity.render())]
        if header.banner.display:
            parts.append(str(header.banner.render()))
        parts.append(str(self.app.active_pane.status.render()))
        return "\n".join(parts)

    async def hold(self, seconds: float, **keys: str) -> list[str]:
        """While a fault lasts: keys every round; returns what the screen said meanwhile."""
        shown: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.keys_round(**keys)
            shown.append(self.screen_text())
            await asyncio.sleep(0.1)
        return shown

    def assert_keys_answered(self) -> None:
        """Keys land within the budget while the server hangs. The machine running the tests
        may be loaded (other labs, pgbench): a stray key late by scheduling is tolerated, a
        key held by the hung server is not (that would be held for seconds, the whole hang)."""
        assert len(self.latencies) >= 8, "too few keys were timed"
        ranked = sorted(self.latencies)
        p90 = ranked[int(0.9 * (len(ranked) - 1))]
        assert p90 < KEY_BUDGET_S, f"keys took {p90 * 1000:.0f} ms (p90) to land: {ranked}"
        assert ranked[-1] < 1.0, f"a key took {ranked[-1] * 1000:.0f} ms to land"

    def key_figures(self) -> str:
        ranked = sorted(self.latencies)
        median = ranked[len(ranked) // 2]
        return (
            f"{len(ranked)} keys: median {median * 1000:.1f} ms, worst {ranked[-1] * 1000:.1f} ms"
        )


@contextlib.asynccontextmanager
async def running_app(
    lab: Lab,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    *,
    pgbouncer: bool = False,
    replica: bool = False,
    wait_fresh: bool = True,
) -> AsyncIterator[Running]:
    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    config = load_config(config_file, env={})
    targets = Targets(
        lab.monitor_dsn(),
        (lab.replica_dsn(),) if replica else (),
        lab.bouncer_admin_dsn() if pgbouncer else None,
    )
    sampler = Sampler(make_sources(targets, config), interval=INTERVAL, hang_limit_s=HANG_LIMIT)
    app = make_app(config, sampler, targets=targets.describe(), state_path=tmp_path / "state.toml")
    counters = {source.name: count_polls(source) for source in sampler.sources}
    published = Published()
    publish = app.publish

    def recording_publish(sample: AnySample) -> None:
        published(sample)
        publish(sample)

    app.publish = recording_publish  # type: ignore[method-assign]
    capfd.readouterr()
    async with app.run_test(size=SIZE) as pilot:
        run = Running(app, pilot, published, counters)
        with product_gc():
            for name in counters if wait_fresh else ():
                await until(functools.partial(run.is_fresh, name), f"the first {name} sample")
            yield run
        assert app._exception is None  # noqa: SLF001
    assert app._exception is None  # noqa: SLF001
    assert capfd.readouterr().err == "", "something was written to stderr under the UI"
    await asyncio.sleep(0.05)
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not left, f"tasks left running after the app quit: {left}"


TEXTUAL_PUMPS = frozenset({"MessagePump._process_messages", "Timer._run_timer"})


def feed_tasks() -> set[asyncio.Task[Any]]:
    """Running tasks other than this one and Textual's widget message pumps and timers."""
    return {
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and t.get_coro().__qualname__ not in TEXTUAL_PUMPS  # type: ignore[union-attr]
    }


def no_answer_growing(run: Running, source: str, start: float, end: float) -> None:
    """The sampler republished the last data flagged "no answer for N s", N growing."""
    seen = [
        float(m.group(1))
        for at, s in run.published.after(start, source)
        if at <= end and s.connected and (m := NO_ANSWER.search(s.error or ""))
    ]
    assert seen, "no 'no answer for N s' was published while the server hung"
    assert max(seen) > min(seen), f"N never grew: {seen}"
    assert seen == sorted(seen), f"N went backwards: {seen}"


# --------------------------------------------------------------------------- hangs


async def test_hung_primary_resumed_before_the_hang_limit(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str], figures: list[str]
) -> None:
    async with running_app(flab, tmp_path, capfd) as run:
        before = run.latest("primary")
        assert before is not None
        assert before.info is not None
        counter = run.counters["primary"]
        assert flab.state is not None
        await run.hold(1.0)  # the same keys with the server answering: the reference
        reference = run.key_figures()
        run.latencies.clear()
        with sigstopped(flab.state.primary_pid):
            stopped_at = time.monotonic()
            shown = await run.hold(HANG_LIMIT - 0.8)
            resumed_at = time.monotonic()
        no_answer_growing(run, "primary", stopped_at, resumed_at)
        assert counter.max_in_flight == 1
        assert counter.started_between(stopped_at, resumed_at) <= 1, "polls queued up"
        run.assert_keys_answered()
        # the poll that hung is answered: fresh data on the same session, no reconnect
        at, sample = await until(
            lambda: run.published.first_fresh(resumed_at, "primary"), "fresh data after SIGCONT"
        )
        recovered_s = at - resumed_at
        assert recovered_s < 2 * INTERVAL
        assert isinstance(sample, Sample)
        assert sample.activity
        assert sample.info is not None
        assert sample.info.backend_pid == before.info.backend_pid
        assert counter.connects == 1  # no reconnect at all
        assert pgtop_sessions(flab) == 1
        figures.append(
            f"primary hung < limit: {run.key_figures()} (answering: {reference}); "
            f"fresh data {recovered_s * 1000:.0f} ms after SIGCONT"
        )
        ui_shows_no_answer(shown, "primary")


async def test_hung_primary_past_the_hang_limit_is_abandoned_then_reconnected(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str], figures: list[str]
) -> None:
    async with running_app(flab, tmp_path, capfd) as run:
        before = run.latest("primary")
        assert before is not None
        assert before.info is not None
        counter = run.counters["primary"]
        assert flab.state is not None
        with sigstopped(flab.state.primary_pid):
            stopped_at = time.monotonic()
            shown = await run.hold(HANG_LIMIT + 1.5)
            resumed_at = time.monotonic()
        run.assert_keys_answered()
        assert counter.max_in_flight == 1
        assert counter.started_between(stopped_at, resumed_at) <= 1, "polls queued up"
        stalled = [s for at, s in run.published.after(stopped_at, "primary") if at <= resumed_at]
        abandoned = [s for s in stalled if "connection abandoned" in (s.error or "")]
        assert abandoned, "the hang limit passed but the connection was not abandoned"
        assert not abandoned[0].connected
        assert any((s.error or "").startswith("connecting: no answer") for s in stalled)
        assert any("disconnected" in text for text in shown)  # the banner says so
        no_answer_growing(run, "primary", stopped_at, resumed_at)
        at, sample = await until(
            lambda: run.published.first_fresh(resumed_at, "primary"), "fresh data after SIGCONT"
        )
        recovered_s = at - resumed_at
        assert recovered_s < 2 * INTERVAL
        assert isinstance(sample, Sample)
        assert sample.info is not None
        assert sample.info.backend_pid != before.info.backend_pid
        assert counter.connects >= 2
        await until(lambda: pgtop_sessions(flab) == 1, "the abandoned session to go away", 10)
        figures.append(
            f"primary hung > limit: {run.key_figures()}; "
            f"fresh data {recovered_s * 1000:.0f} ms after SIGCONT (reconnected)"
        )


def ui_shows_no_answer(shown: list[str], source: str) -> None:
    """The hang must be visible, not only published: the header or the pane says so while
    the session is still connected (before the hang limit)."""
    assert any(f"{source}: no answer for" in text for text in shown), (
        f"the UI did not show '{source}: no answer for N s' while the session was connected"
    )


async def test_hung_pgbouncer_both_sides_of_the_hang_limit(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str], figures: list[str]
) -> None:
    assert flab.state is not None
    async with running_app(flab, tmp_path, capfd, pgbouncer=True) as run:
        await run.press("4", "4", lambda: run.active == "pools")
        counter = run.counters["pgbouncer"]
        home = {"home": "4", "home_pane": "pools"}

        # resumed before the hang limit: the same connection answers
        with sigstopped(flab.state.bouncer_pid, tree=False):
            stopped_at = time.monotonic()
            shown = await run.hold(HANG_LIMIT - 0.8, **home)
            resumed_at = time.monotonic()
        no_answer_growing(run, "pgbouncer", stopped_at, resumed_at)
        shown_before_limit = shown
        assert counter.max_in_flight == 1
        assert counter.started_between(stopped_at, resumed_at) <= 1, "polls queued up"
        primary = [s for at, s in run.published.after(stopped_at, "primary") if at < resumed_at]
        assert sum(fresh(s) for s in primary) >= 2, "a hung PgBouncer held up the primary"
        at, sample = await until(
            lambda: run.published.first_fresh(resumed_at, "pgbouncer"), "PgBouncer to answer"
        )
        first_recovery_s = at - resumed_at
        assert first_recovery_s < 2 * INTERVAL
        assert isinstance(sample, BouncerSample)
        assert (sample.clients or 0) >= 1  # pgtop itself, on the admin console
        assert counter.connects == 1

        # past the hang limit: abandoned, reconnected once PgBouncer is back
        with sigstopped(flab.state.bouncer_pid, tree=False):
            stopped_at = time.monotonic()
            await run.hold(HANG_LIMIT + 1.5, **home)
            resumed_at = time.monotonic()
        during = [s for at, s in run.published.after(stopped_at, "pgbouncer") if at <= resumed_at]
        assert any("connection abandoned" in (s.error or "") for s in during)
        assert any(not s.connected for s in during)
        assert all(isinstance(s, BouncerSample) for s in during)
        at, sample = await until(
            lambda: run.published.first_fresh(resumed_at, "pgbouncer"),
            "PgBouncer to be reconnected",
        )
        second_recovery_s = at - resumed_at
        assert second_recovery_s < 2 * INTERVAL
        assert counter.connects >= 2
        run.assert_keys_answered()
        assert run.active == "pools"
        figures.append(
            f"PgBouncer hung: {run.key_figures()}; fresh data {first_recovery_s * 1000:.0f} ms "
            f"after SIGCONT (same session), {second_recovery_s * 1000:.0f} ms (reconnected)"
        )
        ui_shows_no_answer(shown_before_limit, "pgbouncer")


async def test_a_hung_replica_leaves_the_primary_and_the_keys_alone(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str], figures: list[str]
) -> None:
    assert flab.state is not None
    async with running_app(flab, tmp_path, capfd, replica=True) as run:
        replica = next(name for name in run.counters if name.startswith("replica "))
        counter = run.counters[replica]
        with sigstopped(flab.state.replica_pid):
            stopped_at = time.monotonic()
            shown = await run.hold(HANG_LIMIT - 0.8)
            resumed_at = time.monotonic()
        primary = [s for at, s in run.published.after(stopped_at, "primary") if at < resumed_at]
        assert sum(fresh(s) for s in primary) >= 3, "a hung replica held up the primary"
        assert all(s.connected for s in primary)
        no_answer_growing(run, replica, stopped_at, resumed_at)
        ui_shows_no_answer(shown, replica)
        run.assert_keys_answered()
        assert counter.max_in_flight == 1
        assert counter.started_between(stopped_at, resumed_at) <= 1, "polls queued up"
        at, sample = await until(
            lambda: run.published.first_fresh(resumed_at, replica), "the replica to answer"
        )
        recovered_s = at - resumed_at
        assert recovered_s < 2 * INTERVAL, f"fresh replica data {recovered_s:.2f} s after SIGCONT"
        assert isinstance(sample, Sample)
        assert sample.info is not None
        assert sample.info.role is Role.STANDBY
        assert sample.replication is not None
        assert sample.replication.standby is not None
        assert counter.connects == 1  # the same session answered
        figures.append(
            f"replica hung: {run.key_figures()}; fresh replica data "
            f"{recovered_s * 1000:.0f} ms after SIGCONT"
        )


def connect_hanging(run: Running, since: float) -> bool:
    """The UI was told that a connect attempt started after ``since`` gets no answer."""
    return any(
        not s.connected and (s.error or "").startswith("connecting: no answer for")
        for _, s in run.published.after(since, "primary")
    )


async def test_q_quits_at_once_while_a_reconnect_hangs(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str], figures: list[str]
) -> None:
    assert flab.state is not None
    threads = set(threading.enumerate())
    with contextlib.ExitStack() as stopped:  # SIGCONT only once the app is gone
        async with running_app(flab, tmp_path, capfd) as run:
            stopped.enter_context(sigstopped(flab.state.primary_pid))
            stopped_at = time.monotonic()
            # past the hang limit the session is abandoned, and the reconnect hangs in turn
            await until(
                lambda: connect_hanging(run, stopped_at), "a reconnect to hang", HANG_LIMIT + 5
            )
            assert run.counters["primary"].connects >= 2
            quit_s = await run.quit()
        assert set(threading.enumerate()) <= threads, "a thread outlived the app"
    assert quit_s < QUIT_BUDGET_S, f"q took {quit_s:.2f} s while a reconnect hung"
    figures.append(f"q while a reconnect hangs: gone in {quit_s * 1000:.0f} ms")


async def test_q_quits_at_once_while_the_first_connect_hangs(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str], figures: list[str]
) -> None:
    assert flab.state is not None
    threads = set(threading.enumerate())
    with sigstopped(flab.state.primary_pid):
        async with running_app(flab, tmp_path, capfd, wait_fresh=False) as run:
            await until(lambda: connect_hanging(run, 0), "the first connect to hang", 5)
            await until(
                lambda: "connecting: no answer for" in run.screen_text(), "the UI to say so", 3
            )
            assert not any(fresh(s) for _, s in run.published.items)
            assert run.counters["primary"].connects == 1
            quit_s = await run.quit()
        assert set(threading.enumerate()) <= threads, "a thread outlived the app"
    assert quit_s < QUIT_BUDGET_S, f"q took {quit_s:.2f} s while the first connect hung"
    figures.append(f"q while the first connect hangs: gone in {quit_s * 1000:.0f} ms")


# --------------------------------------------------------------------------- bugs


async def test_a_bug_in_the_collector_keeps_the_last_data_and_the_feed_alive(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str], figures: list[str]
) -> None:
    async with running_app(flab, tmp_path, capfd) as run:
        source = run.app.feed.sources[0]  # type: ignore[attr-defined]
        assert isinstance(source, PostgresSource)
        before = run.app.last_good["primary"]

        def broken(results: Any, poll_ms: float) -> Sample:
            raise KeyError("no_such_column")

        source._sample = broken  # type: ignore[method-assign]  # noqa: SLF001
        try:
            broken_at = time.monotonic()
            shown = []
            while time.monotonic() < broken_at + 4 * INTERVAL:
                await asyncio.sleep(0.1)
                shown.append(run.screen_text())
            fixed_at = time.monotonic()
            last_good = run.app.last_good["primary"]
        finally:
            del source._sample  # noqa: SLF001
        during = [s for at, s in run.published.after(broken_at, "primary") if at <= fixed_at]
        assert len(during) >= 3, "the feed stopped publishing"
        failed = [s for s in during if s.error is not None]
        assert len(failed) >= len(during) - 1  # a poll already under way may still succeed
        assert all(s.connected for s in during)
        assert all(
            (s.error or "").startswith(
                "internal error in the primary collector: KeyError: 'no_such_column'"
            )
            for s in failed
        ), [s.error for s in failed]
        assert isinstance(last_good, Sample)
        assert last_good.activity, "the last data left the screen"
        assert last_good.taken_at >= before.taken_at
        assert last_good.error is None
        assert any(
            "primary: internal error in the primary collector: KeyError" in text
            and "showing the last data" in text
            for text in shown
        ), shown
        at, sample = await until(
            lambda: run.published.first_fresh(fixed_at, "primary"), "fresh data after the fix"
        )
        recovered_s = at - fixed_at
        assert recovered_s < 2 * INTERVAL, f"fresh data {recovered_s:.2f} s after the fix"
        assert isinstance(sample, Sample)
        assert sample.activity
        assert run.counters["primary"].connects == 1  # the session was kept throughout
        await until(lambda: "internal error" not in run.screen_text(), "the note to go away", 3)
        figures.append(f"collector bug: fresh data {recovered_s * 1000:.0f} ms after the fix")


# --------------------------------------------------------------------------- reconnects


class Watch:
    """A sampler over make_sources (no UI), recording what it publishes, for one source."""

    def __init__(self, dsn: str, tmp_path: Path) -> None:
        config_file = tmp_path / "config.toml"
        config_file.write_text("")
        self.config = load_config(config_file, env={})
        sources = make_sources(Targets(dsn, (), None), self.config)
        self.sampler = Sampler(sources, interval=INTERVAL, hang_limit_s=HANG_LIMIT)
        self.source = sources[0]
        self.name = self.source.name
        self.published = Published()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        self._task = asyncio.create_task(self.sampler.run(self.published))
        await until(lambda: fresh(self.latest), "the first sample")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    @property
    def latest(self) -> AnySample | None:
        mine = [s for _, s in self.published.items if s.source == self.name]
        return mine[-1] if mine else None

    async def recovery_after(self, back_at: float, what: str) -> tuple[float, Sample]:
        at, sample = await until(lambda: self.published.first_fresh(back_at, self.name), what)
        assert isinstance(sample, Sample)
        return at - back_at, sample


def wait_until_back(dsn: str, went_down: threading.Event, timeout_s: float = 60) -> float:
    """Probe with a connect every 20 ms; the monotonic time of the first success after a
    failure (the server is back), measured the same way a client would see it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
        except psycopg.OperationalError:
            went_down.set()
        else:
            if went_down.is_set():
                return time.monotonic()
        time.sleep(0.02)
    raise AssertionError("the server did not come back")


def test_the_password_dsn_is_what_authenticates(flab: Lab) -> None:
    """The reconnect tests below prove something: without the password, no connection."""
    psycopg.connect(password_dsn(flab), connect_timeout=5).close()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(password_dsn(flab, password=False), connect_timeout=5).close()


async def test_reconnects_after_a_fast_restart_keeping_the_dsn_password(
    flab: Lab, tmp_path: Path, figures: list[str]
) -> None:
    async with Watch(password_dsn(flab), tmp_path) as watch:
        before = watch.latest
        assert before is not None
        assert before.info is not None
        went_down = threading.Event()
        probe = asyncio.create_task(
            asyncio.to_thread(wait_until_back, flab.superuser_dsn(), went_down)
        )
        await asyncio.to_thread(flab.restart_primary)
        back_at = await probe
        recovery_s, sample = await watch.recovery_after(back_at, "data after the restart")
        assert recovery_s < 2 * INTERVAL, f"fresh data {recovery_s:.2f} s after the server was back"
        lost = [s for _, s in watch.published.items if not s.connected]
        assert lost, "the restart went unnoticed"
        assert all("\n" not in (s.error or "") for s in lost)
        assert sample.info is not None
        assert sample.info.backend_pid != before.info.backend_pid
        assert sample.stats is not None
        assert sample.activity
        figures.append(f"restart -m fast: fresh data {recovery_s * 1000:.0f} ms after it was back")


async def test_reconnects_after_its_backend_is_terminated(
    flab: Lab, tmp_path: Path, figures: list[str]
) -> None:
    async with Watch(password_dsn(flab), tmp_path) as watch:
        before = watch.latest
        assert before is not None
        assert before.info is not None
        rows = await asyncio.to_thread(
            su_execute,
            flab,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'pgtop'",
        )
        assert rows == [(True,)]
        back_at = time.monotonic()  # the server never went away

        def reconnected() -> tuple[float, AnySample] | None:
            after = watch.published.after(back_at, watch.name)
            lost = next((i for i, (_, s) in enumerate(after) if not s.connected), None)
            if lost is None:
                return None
            return next(((at, s) for at, s in after[lost:] if fresh(s)), None)

        at, sample = await until(reconnected, "fresh data on a new session")
        recovery_s = at - back_at
        assert recovery_s < 2 * INTERVAL, f"fresh data {recovery_s:.2f} s after the terminate"
        assert isinstance(sample, Sample)
        assert sample.info is not None
        assert sample.info.backend_pid != before.info.backend_pid
        assert sample.activity
        figures.append(f"backend terminated: fresh data {recovery_s * 1000:.0f} ms after it")


# --------------------------------------------------------------------------- resizes


def rendered_after(app: PgtopApp, applied: int) -> Callable[[], bool]:
    return lambda: app.applied > applied


def table_on_screen(run: Running) -> bool:
    table = run.app.active_pane.table
    try:
        region = run.app.screen.find_widget(table).region
    except Exception:  # noqa: BLE001 - NoWidget: not laid out on the screen
        return False
    return table.display and region.width > 0 and region.height > 0 and table.row_count > 0


async def test_resizes_one_by_one_and_in_a_burst(
    flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with (
        idle_in_transaction(flab.app_dsn()),  # a row for the activity table
        long_query(flab.app_dsn(), 30),
    ):
        await resize_run(flab, tmp_path, capfd)


async def resize_run(flab: Lab, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    async with running_app(flab, tmp_path, capfd, pgbouncer=True) as run:
        app, pilot = run.app, run.pilot
        await until(lambda: table_on_screen(run), "the activity table with rows")
        for width, height in ((80, 24), (40, 10), (120, 40)):
            await pilot.resize_terminal(width, height)
            assert (app.size.width, app.size.height) == (width, height)
            await until(rendered_after(app, app.applied), f"a sample rendered at {width}x{height}")
            assert app._exception is None  # noqa: SLF001
            if height >= 24:
                await until(lambda: table_on_screen(run), f"the table at {width}x{height}")
        driver = app._driver  # noqa: SLF001
        assert driver is not None
        for i in range(20):  # a burst: nothing awaited in between
            size = Size(80, 24) if i % 2 == 0 else Size(120, 40)
            driver._size = size  # noqa: SLF001 - the headless driver's size, as Pilot sets it
            app.post_message(events.Resize(size, size))
        await pilot.pause()
        applied = app.applied
        await until(lambda: app.applied > applied, "a sample rendered after the burst")
        await pilot.pause()
        assert (app.size.width, app.size.height) == (120, 40)
        assert table_on_screen(run)
        await run.press("5", "5", lambda: run.active == "statements")
        await run.press("1", "1", lambda: run.active == "activity")
        await until(lambda: table_on_screen(run), "the activity table after 5, 1", 3)


# --------------------------------------------------------------------------- promotion (last)


async def test_a_promoted_standby_is_reported_as_primary(
    flab: Lab, tmp_path: Path, figures: list[str]
) -> None:
    """Runs last: the lab's replica is a primary afterwards."""
    async with Watch(password_dsn(flab, replica=True), tmp_path) as watch:
        before = watch.latest
        assert isinstance(before, Sample)
        assert before.info is not None
        assert before.info.role is Role.STANDBY
        rows = await asyncio.to_thread(su_execute, flab, "SELECT pg_promote()", replica=True)
        assert rows == [(True,)]
        back_at = time.monotonic()

        def promoted() -> tuple[float, AnySample] | None:
            return next(
                (
                    (at, s)
                    for at, s in watch.published.after(back_at, watch.name)
                    if fresh(s)
                    and isinstance(s, Sample)
                    and s.info is not None
                    and s.info.role is Role.PRIMARY
                ),
                None,
            )

        at, sample = await until(promoted, "the source to report role primary")
        recovery_s = at - back_at
        assert recovery_s < 2 * INTERVAL, f"role primary {recovery_s:.2f} s after pg_promote()"
        assert isinstance(sample, Sample)
        assert sample.replication is not None
        assert sample.replication.role is Role.PRIMARY
        assert sample.replication.standby is None
        assert sample.info is not None
        assert sample.info.backend_pid == before.info.backend_pid  # same session throughout
        assert all(s.connected for _, s in watch.published.items)
        await asyncio.sleep(2 * INTERVAL)
        latest = watch.latest
        assert isinstance(latest, Sample)
        assert fresh(latest)
        assert latest.info is not None
        assert latest.info.role is Role.PRIMARY
        figures.append(f"standby promoted: role primary {recovery_s * 1000:.0f} ms after it")
