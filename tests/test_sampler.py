"""The sampler's scheduling against a real server: cadence, lateness, hangs, reconnects, pause.

The source here is deliberately minimal (one real query per poll) so these tests are about the
scheduler; the real collectors have their own tests. The exception: a bug in a source (an
exception that is not a lost connection) is injected into the real PostgreSQL collector.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgtop.collect.capabilities import Capabilities
from pgtop.collect.postgres import PostgresSource
from pgtop.collect.sampler import Sampler, next_backoff
from pgtop.collect.source import ConnectionLostError
from pgtop.config import ConnectionSettings
from pgtop.feed import ProbeGroup, Wants, show_pane
from pgtop.lab import Lab
from pgtop.model import AnySample, Level, Role, Sample, ServerInfo

pytestmark = pytest.mark.one_major  # see tests/conftest.py


class SleepySource:
    """Each poll runs `SELECT pg_sleep(delay)` on a real connection."""

    def __init__(self, dsn: str, delay: float = 0.0, name: str = "primary") -> None:
        self.dsn = dsn
        self.delay = delay
        self._name = name
        self.conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self.backend_pid: int | None = None
        self.connects = 0

    @property
    def name(self) -> str:
        return self._name

    async def connect(self) -> ServerInfo:
        try:
            self.conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, application_name="pgtop-test", connect_timeout=2
            )
        except psycopg.Error as exc:
            raise ConnectionLostError(str(exc).splitlines()[0]) from None
        self.connects += 1
        self.backend_pid = self.conn.info.backend_pid
        return ServerInfo(
            name=self._name,
            host="127.0.0.1",
            port=0,
            dbname="app",
            user="u",
            version="x",
            version_num=0,
            role=Role.PRIMARY,
            backend_pid=self.backend_pid,
        )

    async def poll(self) -> AnySample:
        assert self.conn is not None
        try:
            await self.conn.execute("SELECT pg_sleep(%s)", (self.delay,))
        except psycopg.OperationalError as exc:
            raise ConnectionLostError(str(exc).splitlines()[0]) from None
        return Sample(source=self._name, taken_at=datetime.now(UTC), connected=True)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


async def collect(sampler: Sampler, seconds: float) -> list[AnySample]:
    return await sampler.collect(seconds)


class BuggySource(PostgresSource):
    """The real PostgreSQL collector with a bug switched on for chosen polls (building the
    sample raises KeyError after the round trip) or the first connects (AttributeError once
    the session is open and probed)."""

    def __init__(self, dsn: str, *, bad_polls: Collection[int] = (), bad_connects: int = 0) -> None:
        super().__init__(dsn, settings=ConnectionSettings(application_name="pgtop-buggy"))
        self.bad_polls = set(bad_polls)
        self.bad_connects = bad_connects
        self.polls = 0
        self.connects = 0

    def _sample(self, results: Mapping[str, list[Any]], poll_ms: float) -> Sample:
        self.polls += 1
        if self.polls in self.bad_polls:
            raise KeyError("no_such_column")
        return super()._sample(results, poll_ms)

    def _adopt(self, caps: Capabilities) -> None:
        self.connects += 1
        if self.connects <= self.bad_connects:
            raise AttributeError("'NoneType' object has no attribute 'version_num'")
        super()._adopt(caps)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """pgtop's records also go to a file, as `pgtop.logs.configure` arranges in the app."""
    path = tmp_path / "pgtop.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    logger = logging.getLogger("pgtop")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # the level `configure` sets
    try:
        yield path
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
        handler.close()


def read_log(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def has_data(sample: AnySample) -> bool:
    return isinstance(sample, Sample) and sample.stats is not None and bool(sample.activity)


async def test_a_bug_in_a_poll_fails_those_ticks_only_and_the_source_recovers(
    lab: Lab, log_file: Path
) -> None:
    source = BuggySource(lab.monitor_dsn(), bad_polls={2, 3, 4})
    sampler = Sampler([source], interval=0.5)
    samples = await collect(sampler, 3.3)  # ticks at 0, 0.5 … 3.0: polls 1 … 7

    assert all(s.connected for s in samples), [s.error for s in samples]
    assert len(samples) >= 6
    first, failed, after = samples[0], samples[1:4], samples[4:]
    assert has_data(first)
    assert first.error is None
    expected = (
        f"internal error in the primary collector: KeyError: 'no_such_column' — see the log "
        f"{log_file}"
    )
    assert [s.error for s in failed] == [expected] * 3
    assert not any(has_data(s) for s in failed)  # the UI keeps the last data, as on a failed tick
    assert all(s.info is not None for s in failed)
    assert len(after) >= 2
    assert all(has_data(s) and s.error is None for s in after), [s.error for s in after]
    # the normal cadence throughout, on the same session
    times = [s.taken_at.timestamp() for s in samples]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert statistics.mean(gaps) == pytest.approx(0.5, rel=0.1), gaps
    assert all(0.25 < gap < 0.9 for gap in gaps), gaps  # neither a busy loop nor a backoff
    assert source.connects == 1
    assert len({s.info.backend_pid for s in samples if s.info is not None}) == 1

    logged = read_log(log_file)
    assert logged.count("Traceback") == 1, logged  # once per run of the same error
    assert "KeyError: 'no_such_column'" in logged
    assert "in _sample" in logged
    assert "data again after 3 tick(s) with an internal error" in logged


async def test_a_bug_while_connecting_is_retried_like_a_failed_connect(
    lab: Lab, log_file: Path
) -> None:
    source = BuggySource(lab.monitor_dsn(), bad_connects=2)
    sampler = Sampler([source], interval=0.5)
    samples = await collect(sampler, 2.0)

    failed = [s for s in samples if not s.connected]
    assert len(failed) == 2
    assert all(
        (s.error or "").startswith(
            "internal error in the primary collector while connecting: AttributeError: "
            "'NoneType' object has no attribute 'version_num' — see the log "
        )
        for s in failed
    ), [s.error for s in failed]
    assert samples[: len(failed)] == failed
    assert failed[-1].retries == 1
    fresh = samples[len(failed) :]
    assert fresh, "no data after the bug went away"
    assert all(has_data(s) and s.error is None for s in fresh), [s.error for s in fresh]
    assert source.connects == 3
    logged = read_log(log_file)
    assert logged.count("Traceback") == 1, logged
    assert "in _adopt" in logged


class BuggyHealthSampler(Sampler):
    """A sampler whose health verdicts raise on chosen ticks (counted from 1)."""

    def __init__(self, *args: Any, bad_ticks: Collection[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bad_ticks = set(bad_ticks)
        self.ticks = 0

    def judge(self, sample: AnySample) -> AnySample:
        self.ticks += 1
        if self.ticks in self.bad_ticks:
            raise ZeroDivisionError("float division by zero")
        return super().judge(sample)


async def test_a_bug_in_the_health_checks_keeps_the_data_and_says_so(
    lab: Lab, log_file: Path
) -> None:
    source = BuggySource(lab.monitor_dsn())
    sampler = BuggyHealthSampler([source], interval=0.5, bad_ticks={2, 3})
    samples = await collect(sampler, 2.3)

    assert len(samples) >= 4
    assert all(has_data(s) and s.error is None for s in samples)  # the data is not lost
    failed = samples[1:3]
    for sample in failed:
        (status,) = sample.health
        assert status.metric == "health"
        assert status.level is Level.CRIT
        assert status.message.startswith(
            "internal error in the primary collector while judging health: "
            "ZeroDivisionError: float division by zero — see the log "
        )
    assert all(s.health and s.health[0].metric != "health" for s in samples[3:])
    assert source.connects == 1
    logged = read_log(log_file)
    assert logged.count("Traceback") == 1, logged


async def test_a_failing_consumer_loses_samples_not_the_feed(lab: Lab, log_file: Path) -> None:
    sampler = Sampler([SleepySource(lab.monitor_dsn())], interval=0.5)
    received: list[AnySample] = []
    calls = 0

    def publish(sample: AnySample) -> None:
        nonlocal calls
        calls += 1
        if calls in (2, 3):
            raise RuntimeError("the app is shutting down")
        received.append(sample)

    task = asyncio.create_task(sampler.run(publish))
    await asyncio.sleep(2.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls >= 5
    assert len(received) == calls - 2  # all but the two the consumer failed on
    logged = read_log(log_file)
    assert logged.count("Traceback") == 1, logged
    assert "RuntimeError: the app is shutting down" in logged


async def test_ticks_keep_a_start_to_start_cadence(lab: Lab) -> None:
    sampler = Sampler([SleepySource(lab.monitor_dsn(), delay=0.1)], interval=0.5)
    samples = await collect(sampler, 3.2)
    times = [s.taken_at.timestamp() for s in samples if s.connected]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) >= 6
    assert statistics.mean(gaps) == pytest.approx(0.5, rel=0.05)
    assert all(s.late_s == 0 for s in samples)


async def test_slow_poll_delays_the_next_tick_and_records_it(lab: Lab) -> None:
    sampler = Sampler([SleepySource(lab.monitor_dsn(), delay=0.7)], interval=0.5)
    samples = [s for s in await collect(sampler, 3.0) if s.connected and s.error is None]
    assert len(samples) >= 3
    assert all(s.late_s == pytest.approx(0.2, abs=0.1) for s in samples[1:])
    times = [s.taken_at.timestamp() for s in samples]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.65  # never overlapping


async def test_a_hanging_poll_is_reported_then_abandoned_and_reconnected(lab: Lab) -> None:
    source = SleepySource(lab.monitor_dsn(), delay=3.0)
    sampler = Sampler([source], interval=0.5, hang_limit_s=1.6)
    task = asyncio.create_task(collect(sampler, 2.5))
    await asyncio.sleep(2.0)
    source.delay = 0.0
    samples = await task
    stalled = [s for s in samples if s.connected and (s.error or "").startswith("no answer for")]
    lost = [s for s in samples if not s.connected]
    assert stalled, "no 'no answer for N s' sample while the poll hung"
    assert lost
    assert "connection abandoned" in (lost[0].error or "")
    assert samples[-1].connected
    assert samples[-1].error is None
    assert source.connects == 2


async def test_reconnects_after_the_backend_is_terminated(lab: Lab) -> None:
    source = SleepySource(lab.monitor_dsn())
    sampler = Sampler([source], interval=0.5)
    published: list[AnySample] = []
    lost, recovered = asyncio.Event(), asyncio.Event()

    def publish(sample: AnySample) -> None:
        published.append(sample)
        if not sample.connected:
            lost.set()
        elif lost.is_set():
            recovered.set()

    task = asyncio.create_task(sampler.run(publish))
    try:
        await asyncio.sleep(1.0)
        with psycopg.connect(lab.superuser_dsn()) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (source.backend_pid,))
        terminated_at = asyncio.get_running_loop().time()
        await asyncio.wait_for(lost.wait(), 5)
        await asyncio.wait_for(recovered.wait(), 5)
        recovered_after = asyncio.get_running_loop().time() - terminated_at
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    disconnected = next(s for s in published if not s.connected)
    assert disconnected.disconnected_since is not None
    assert recovered_after < 2 * sampler.interval + 0.5
    assert source.connects == 2


async def test_pause_stops_polling_and_resume_restarts(lab: Lab) -> None:
    sampler = Sampler([SleepySource(lab.monitor_dsn())], interval=0.5)
    published: list[AnySample] = []
    task = asyncio.create_task(sampler.run(published.append))
    try:
        await asyncio.sleep(1.2)
        sampler.set_paused(True)
        await asyncio.sleep(0.6)
        count_when_paused = len(published)
        await asyncio.sleep(1.5)
        assert len(published) == count_when_paused
        sampler.set_paused(False)
        await asyncio.sleep(0.3)
        assert len(published) > count_when_paused
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_interval_change_applies_to_the_waiting_tick(lab: Lab) -> None:
    sampler = Sampler([SleepySource(lab.monitor_dsn())], interval=10)
    published: list[AnySample] = []
    task = asyncio.create_task(sampler.run(published.append))
    try:
        await asyncio.sleep(0.5)
        assert len(published) == 1
        sampler.set_interval(0.5)
        await asyncio.sleep(1.3)
        assert len(published) >= 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class ChoosySource(SleepySource):
    """Reads the statements only while they are wanted (as PostgresSource schedules them)."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.wanted: list[frozenset[ProbeGroup]] = []

    def want(self, groups: frozenset[ProbeGroup]) -> bool:
        self.wanted.append(groups)
        return ProbeGroup.STATEMENTS in groups  # behind: hidden until now


async def test_a_pane_shown_again_is_caught_up_at_once_not_at_the_next_tick(lab: Lab) -> None:
    source = ChoosySource(lab.monitor_dsn())
    sampler = Sampler([source, SleepySource(lab.monitor_dsn(), name="other")], interval=10)
    assert isinstance(sampler, Wants)
    published: list[AnySample] = []
    task = asyncio.create_task(sampler.run(published.append))
    try:
        await asyncio.sleep(0.5)
        assert len(published) == 2  # one tick each
        show_pane(sampler, "activity")  # nothing behind: no tick
        await asyncio.sleep(0.3)
        assert len(published) == 2
        show_pane(sampler, "statements")
        await asyncio.sleep(0.3)
        assert [s.source for s in published[2:]] == ["primary"]  # that source only, at once
        assert source.wanted == [frozenset(), frozenset({ProbeGroup.STATEMENTS})]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_unreachable_source_publishes_disconnected_samples_with_retries() -> None:
    sampler = Sampler([SleepySource("host=127.0.0.1 port=1 dbname=x user=x")], interval=0.5)
    samples = await collect(sampler, 2.5)
    assert samples
    assert all(not s.connected for s in samples)
    assert samples[-1].retries >= 2
    assert "refused" in (samples[-1].error or "").lower()
    assert samples[-1].health
    assert samples[-1].health[0].metric == "disconnected"


@pytest.mark.parametrize(
    ("previous", "cap", "expected"),
    [(None, 2.0, 0.25), (0.25, 2.0, 0.5), (1.0, 2.0, 2.0), (2.0, 2.0, 2.0), (None, 0.1, 0.1)],
)
def test_backoff_doubles_up_to_the_cap(previous: float | None, cap: float, expected: float) -> None:
    assert next_backoff(previous, cap) == expected


def test_history_keeps_only_slim_samples() -> None:
    from pgtop.history import History
    from pgtop.model import Backend

    backend = Backend(
        pid=1, database="d", user="u", application="a", client=None, backend_type="client backend",
        state="idle", wait_event_type=None, wait_event=None, backend_start=None, xact_start=None,
        query_start=None, state_change=None, query_s=None, xact_s=None, state_s=None,
        xid_age=None, xmin_age=None, leader_pid=None, query="SELECT 1",
    )  # fmt: skip
    history = History(minutes=1)
    start = datetime.now(UTC)
    for tick in range(5):
        history.add(
            Sample(
                source="p",
                taken_at=start + timedelta(seconds=tick),
                connected=True,
                activity=(backend,) * 50,
            )
        )
    assert len(history) == 5
    assert all(sample.activity == () for sample in history.connected("p"))
    newest = history.connected("p", limit=2)
    assert newest == history.connected("p")[-2:]


def test_history_window_is_time_not_count() -> None:
    """``monitor.history_minutes`` bounds what the charts get, whatever the refresh."""
    from pgtop.history import History

    history = History(minutes=2)
    start = datetime.now(UTC)
    for tick in range(0, 600, 2):  # ten minutes at a 2 s refresh
        history.add(Sample(source="p", taken_at=start + timedelta(seconds=tick), connected=True))
    xs, _ = history.series("p", lambda _sample: 1.0)
    assert xs[0] == -120.0
    assert xs[-1] == 0.0
    assert len(history) == 61
    fast = History(minutes=1)
    for _ in range(1000):  # a clock that does not move: the cap still holds
        fast.add(Sample(source="q", taken_at=start, connected=True))
    assert len(fast) == fast.cap == 121


def test_history_adds_one_statement_point_per_read() -> None:
    """Ticks between two reads of pg_stat_statements carry the last read (read_now False):
    no extra points; a new read adds one, even with the same figures."""
    from pgtop.history import History
    from pgtop.model import StatementsStatus
    from tests.ui_samples import STATEMENTS

    history = History(minutes=5)
    start = datetime.now(UTC)
    read = STATEMENTS[:1]
    key = (read[0].queryid, read[0].user, read[0].database)
    carried = StatementsStatus(available=True, read_now=False)
    for tick in range(3):  # one read, carried by the next two ticks
        history.add(Sample(source="p", taken_at=start + timedelta(seconds=tick), connected=True,
                           statements=read,
                           statements_status=None if tick == 0 else carried))  # fmt: skip
    assert len(history.statement_series("p", key)[0]) == 1
    history.add(Sample(source="p", taken_at=start + timedelta(seconds=3), connected=True,
                       statements=read,
                       statements_status=StatementsStatus(available=True)))  # fmt: skip
    assert len(history.statement_series("p", key)[0]) == 2
