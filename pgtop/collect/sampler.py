"""Schedules polls of every source, keeps a bounded history, attaches health, publishes samples.

One loop per source. Ticks run on a fixed start-to-start cadence and never overlap: a poll that
outlasts the interval delays the next tick (its lateness is recorded in `late_s`) instead of being
cancelled. A poll with no answer for a whole interval publishes the last data again with
"no answer for N s" so the UI stays honest while the server hangs; past `hang_limit_s` the
connection is abandoned and rebuilt. Lost connections are retried with a backoff capped at the
refresh interval, so fresh data arrives within two intervals of the server coming back.

Abandoning never cancels the psycopg task first: a cancelled query makes psycopg send a cancel
request to the hung server and wait for it (5 s + 5 s, then warnings). The source's `abandon()`
shuts the socket down instead, so the pending poll fails at once with a lost connection; the
poll task is awaited before the next connect (its fd is never reused under it). A connect that
hangs is watched the same way: a disconnected sample says "connecting: no answer for N s".

What a consumer shows (:meth:`Sampler.want`, the UI's pane switches) goes to the sources that
schedule probe groups by it (:class:`Selective`); one that says a group shown now is behind gets
a tick at once, not at its next due time, and the cadence goes on from that tick.

A source that raises anything else (a bug: KeyError, ValueError … while it builds a sample) fails
that tick only: the traceback goes to the log, the tick publishes "internal error in the X
collector: …" without data (the UI keeps the last data, as for a failed tick), and the loop
polls again at the next tick, so the source recovers by itself once the error goes away. The
same holds for the health verdicts (a bug there publishes the data with one critical "health"
status naming the error) and for the publish callback (the sample is dropped, the loop goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from pgtop import units
from pgtop.collect.source import ConnectionLostError, Source
from pgtop.config import Thresholds
from pgtop.feed import ProbeGroup, Publish
from pgtop.health import TPS_WINDOW, HealthMemory, evaluate, evaluate_bouncer
from pgtop.history import FASTEST_REFRESH_S, History
from pgtop.model import AnySample, BouncerSample, Level, Role, Sample, ServerInfo, Status

log = logging.getLogger(__name__)

MIN_INTERVAL_S = FASTEST_REFRESH_S
SETTLE_S = 2.0  # how long an abandoned poll or connect may take to notice its dead socket
MAX_INTERVAL_S = 60.0
FIRST_BACKOFF_S = 0.25
# health compares TPS with the last TPS_WINDOW samples that have a rate; twice that many
# connected samples leave room for the rate-less first sample after each reconnect
HEALTH_HISTORY = 2 * TPS_WINDOW
LATE_JITTER_S = 0.01  # timer jitter, not a tick delayed by a slow poll
DETAIL_CHARS = 200  # of an internal error's message, in the one-line note


def log_file() -> str | None:
    """The file this module's records end up in, when logging goes to one."""
    logger: logging.Logger | None = log
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                return handler.baseFilename
        logger = logger.parent if logger.propagate else None
    return None


def internal_error_note(source: str, exc: BaseException, doing: str = "") -> str:
    """One line for the UI: "internal error in the primary collector: KeyError: 'x' — see
    the log /path"."""
    detail = " ".join(str(exc).split())
    if len(detail) > DETAIL_CHARS:
        detail = detail[: DETAIL_CHARS - 1] + "…"
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    where = log_file()
    see = f"see the log {where}" if where else "see the log"
    return f"internal error in the {source} collector{doing}: {what} — {see}"


def clamp_interval(seconds: float) -> float:
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, seconds))


@runtime_checkable
class Abandonable(Protocol):
    """A source that can drop its connection at once, synchronously, even under a pending
    poll (socket shutdown: the poll fails fast instead of waiting on a hung server)."""

    def abandon(self) -> bool:
        """Shut the connection down; False when there was none (nothing will fail faster)."""
        ...


@runtime_checkable
class Selective(Protocol):
    """A source that reads some probe groups less often while no consumer shows them."""

    def want(self, groups: frozenset[ProbeGroup]) -> bool:
        """Read ``groups`` every tick from now on, the others on their slower schedule; True
        when one of them is behind (the last tick did not read it): a tick now catches up."""
        ...


def next_backoff(previous: float | None, cap: float) -> float:
    """0.25, 0.5, 1, 2 … never more than `cap` (the refresh interval)."""
    if previous is None:
        return min(FIRST_BACKOFF_S, cap)
    return min(previous * 2, cap)


class Sampler:
    """The Feed the UI and `pgtop snapshot` consume: every source polled on its own loop."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        interval: float = 2.0,
        thresholds: Thresholds | None = None,
        history_minutes: float = 60,
        hang_limit_s: float = 30.0,
        also_judge: Callable[[Sample], Status | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = list(sources)
        self._interval = clamp_interval(interval)
        self._thresholds = thresholds or Thresholds()
        self._paused = False
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._wakers: list[Waker] = []
        self._hang_limit_s = hang_limit_s
        self._also_judge = also_judge
        """One more verdict per PostgreSQL sample (``--baseline``: statements vs the file)."""
        self._clock = clock
        self._loops: list[_SourceLoop] = []
        self.history = History(history_minutes)
        """The session's one history (health, charts, baselines from the monitor)."""
        self.health_memory = HealthMemory()
        """What health keeps between samples (statement regressions), per source."""

    # -- Feed -------------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def paused(self) -> bool:
        return self._paused

    def set_interval(self, seconds: float) -> None:
        self._interval = clamp_interval(seconds)
        for waker in self._wakers:
            waker.wake()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        if paused:
            self._resumed.clear()
        else:
            self._resumed.set()

    def want(self, groups: frozenset[ProbeGroup]) -> None:
        """What the consumer shows now (:class:`~pgtop.feed.Wants`): each source that
        schedules probe groups reads ``groups`` every tick, and ticks at once when one of them
        is behind (a hidden pane shown again catches up within one poll, not one interval)."""
        for source in self.sources:
            if isinstance(source, Selective) and source.want(groups):
                for loop in self._loops:
                    if loop.source is source:
                        loop.hurry()

    async def run(self, publish: Publish) -> None:
        loops = [_SourceLoop(self, source, publish) for source in self.sources]
        self._loops = loops
        try:
            async with asyncio.TaskGroup() as group:
                for loop in loops:
                    group.create_task(loop.run(), name=f"poll {loop.source.name}")
        finally:
            for loop in loops:
                await loop.close()

    async def collect(self, duration_s: float) -> list[AnySample]:
        """Headless: sample every source for `duration_s`, return all samples in order."""
        samples: list[AnySample] = []
        task = asyncio.create_task(self.run(samples.append))
        try:
            await asyncio.sleep(duration_s)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return samples

    # -- shared by the loops ----------------------------------------------------------------

    async def wait_resumed(self) -> bool:
        """Wait while paused; True if there was a pause (the cadence restarts after it)."""
        if self._resumed.is_set():
            return False
        await self._resumed.wait()
        return True

    def waker(self) -> Waker:
        waker = Waker()
        self._wakers.append(waker)
        return waker

    def now(self) -> float:
        return self._clock()

    def judge(self, sample: AnySample) -> AnySample:
        if isinstance(sample, BouncerSample):
            judged: AnySample = replace(sample, health=evaluate_bouncer(sample, self._thresholds))
        else:
            recent = self.history.connected(sample.source, limit=HEALTH_HISTORY)
            health = evaluate(sample, recent, self._thresholds, self.health_memory)
            judged = replace(sample, health=health)
            extra = self._also_judge(sample) if self._also_judge and sample.connected else None
            if extra is not None:
                judged = replace(judged, health=(*judged.health, extra))
        self.history.add(judged)
        return judged

    @property
    def hang_limit_s(self) -> float:
        return max(self._hang_limit_s, 2 * self._interval)


class Waker:
    """A sleep that :meth:`wake` cuts short. (``asyncio.wait_for`` on an Event costs a task
    and a cancellation on every tick that is not woken: all but a few.)"""

    def __init__(self) -> None:
        self._sleeping: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self._sleeping is not None:
            _wake_up(self._sleeping)

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        sleeping = self._sleeping = loop.create_future()
        timer = loop.call_later(seconds, _wake_up, sleeping)
        try:
            await sleeping
        finally:
            timer.cancel()
            self._sleeping = None


def _wake_up(sleeping: asyncio.Future[None]) -> None:
    if not sleeping.done():
        sleeping.set_result(None)


class _SourceLoop:
    """Connect, tick, detect hangs, reconnect: one source's life inside the sampler."""

    def __init__(self, sampler: Sampler, source: Source, publish: Publish) -> None:
        self.sampler = sampler
        self.source = source
        self.publish = publish
        self.wake = sampler.waker()
        self.info: ServerInfo | None = None
        self.last: AnySample | None = None
        self.disconnected_since: datetime | None = None
        self.retries = 0
        self.connected = False
        self.failing: tuple[str, str] | None = None  # the internal error of the last attempts
        self.failures = 0
        self.bugs: dict[str, tuple[str, str]] = {}  # the last error of the health/publish steps
        self.hurried = False  # tick now, not at the next due time (a probe group is behind)

    async def run(self) -> None:
        backoff: float | None = None
        while True:
            await self.sampler.wait_resumed()
            if await self._connect():
                backoff = None
                await self._ticks()
            else:
                backoff = next_backoff(backoff, self.sampler.interval)
                await asyncio.sleep(backoff)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.source.close(), 2)

    def hurry(self) -> None:
        """Tick now (or right after the poll in flight), then keep the cadence from there."""
        self.hurried = True
        self.wake.wake()

    async def _sleep_until_due(self, last_start: float) -> None:
        """Sleep until one interval after the last start, or until hurried; the interval is
        re-read when it changes, so `+`/`-` take effect on the tick already waiting."""
        while (
            not self.hurried
            and (remaining := last_start + self.sampler.interval - self.sampler.now()) > 0
        ):
            await self.wake.sleep(remaining)

    async def _connect(self) -> bool:
        """Connect, republishing "connecting: no answer for N s" while a hung server holds the
        attempt; give up (and abandon the half-open session) at the hang limit."""
        started, since = self.sampler.now(), datetime.now(UTC)
        attempt = asyncio.ensure_future(self.source.connect())
        try:
            while True:
                done, _ = await asyncio.wait({attempt}, timeout=self.sampler.interval)
                if done:
                    try:
                        self.info = attempt.result()
                    except (ConnectionLostError, OSError):
                        raise
                    except Exception as exc:  # a bug in the source: retried like a failed connect
                        note = self._internal_error(exc, " while connecting")
                        await self.close()  # whatever it opened before failing
                        self._lost(note)
                        return False
                    break
                waited = self.sampler.now() - started
                if waited >= self.sampler.hang_limit_s:
                    await self._abandon(attempt)
                    self._lost(f"connecting: no answer for {units.seconds(waited)}")
                    return False
                self._emit_connecting(waited, self.disconnected_since or since)
        except (ConnectionLostError, OSError) as exc:
            self._lost(str(exc))
            return False
        except asyncio.CancelledError:
            await self._settle(attempt)
            raise
        if self.disconnected_since is not None:
            away = (datetime.now(UTC) - self.disconnected_since).total_seconds()
            log.warning("%s: connected again after %.1f s away", self.source.name, away)
        self.connected = True
        return True

    async def _ticks(self) -> None:
        """Poll on a start-to-start cadence until the connection is lost; never overlapping."""
        last_start: float | None = None
        while self.connected:
            if last_start is not None:
                await self._sleep_until_due(last_start)
            if await self.sampler.wait_resumed():
                last_start = None  # after a pause the cadence restarts; that is not lateness
            started = self.sampler.now()
            late = 0.0 if last_start is None else started - last_start - self.sampler.interval
            self.hurried = False
            sample = await self._poll_watching_for_hangs(started)
            if sample is None:
                return
            self._emit(replace(sample, late_s=round(late, 3) if late > LATE_JITTER_S else 0.0))
            last_start = started

    async def _poll_watching_for_hangs(self, started: float) -> AnySample | None:
        poll = asyncio.ensure_future(self.source.poll())
        try:
            while True:
                done, _ = await asyncio.wait({poll}, timeout=self.sampler.interval)
                if done:
                    try:
                        sample = poll.result()
                    except ConnectionLostError:
                        raise
                    except Exception as exc:  # a bug in the source: this tick fails, not the feed
                        note = self._internal_error(exc)
                        return self._bare_sample(note, datetime.now(UTC), connected=True)
                    self._recovered()
                    return sample
                waited = self.sampler.now() - started
                if waited >= self.sampler.hang_limit_s:
                    await self._abandon(poll)
                    self._lost(f"no answer for {units.seconds(waited)}: connection abandoned")
                    return None
                self._emit_stalled(waited)
        except ConnectionLostError as exc:
            self._lost(str(exc))
            return None
        except asyncio.CancelledError:
            await self._settle(poll)  # the sampler stops: never leave psycopg cancelling
            raise

    async def _abandon(self, pending: asyncio.Future[Any]) -> None:
        """Drop the connection under a pending poll or connect, wait for that call to end,
        close the source."""
        await self._settle(pending)
        await self.close()

    async def _settle(self, pending: asyncio.Future[Any]) -> None:
        """End a pending call of the source, quickly, without asking a hung server anything.

        The socket is shut down first (the pending call fails at once with a lost
        connection); cancelling comes only after that, since a cancelled psycopg query first
        asks the hung server to cancel it and waits for the answer (5 s, then 5 s more).
        Whatever the call ends with is consumed here: nothing is logged as "never retrieved".
        """
        if pending.done():
            _consume(pending)
            return
        pending.add_done_callback(_consume)  # first: a second cancel may cut the waits short
        shut = False
        if isinstance(self.source, Abandonable):
            with contextlib.suppress(Exception):
                shut = self.source.abandon()
        if shut:
            await asyncio.wait({pending}, timeout=SETTLE_S)
        if not pending.done():
            pending.cancel()
            await asyncio.wait({pending}, timeout=SETTLE_S)
        if not pending.done():
            log.warning("%s: an abandoned call is still pending", self.source.name)

    def _internal_error(self, exc: Exception, doing: str = "") -> str:
        """Log the traceback (once per run of the same error, not every tick); the note."""
        signature = (type(exc).__qualname__, str(exc))
        if signature != self.failing:
            log.error("%s: internal error%s", self.source.name, doing, exc_info=exc)
            self.failing, self.failures = signature, 0
        self.failures += 1
        return internal_error_note(self.source.name, exc, doing)

    def _recovered(self) -> None:
        if self.failing is not None:
            log.info(
                "%s: data again after %d tick(s) with an internal error",
                self.source.name,
                self.failures,
            )
            self.failing, self.failures = None, 0

    def _emit(self, sample: AnySample) -> None:
        self.disconnected_since = None
        self.retries = 0
        self.last = sample
        self._publish(self._judged(sample))

    def _judged(self, sample: AnySample) -> AnySample:
        """The sample with its health verdicts; a bug in them is one critical status."""
        try:
            judged = self.sampler.judge(sample)
        except Exception as exc:
            self._log_once("health", exc)
            note = internal_error_note(self.source.name, exc, " while judging health")
            failed = Status("health", "health checks failed", Level.CRIT, None, note, sample.source)
            return replace(sample, health=(failed,))
        self.bugs.pop("health", None)
        return judged

    def _publish(self, sample: AnySample) -> None:
        """Hand the sample on; a failing consumer loses that sample, not the feed."""
        try:
            self.publish(sample)
        except Exception as exc:
            self._log_once("publish", exc)
        else:
            self.bugs.pop("publish", None)

    def _log_once(self, step: str, exc: Exception) -> None:
        """The traceback once per run of the same error in ``step``, not every tick."""
        signature = (type(exc).__qualname__, str(exc))
        if self.bugs.get(step) != signature:
            log.error("%s: internal error in %s", self.source.name, step, exc_info=exc)
            self.bugs[step] = signature

    def _emit_stalled(self, waited_s: float) -> None:
        """The server hangs: republish the last data, flagged, without touching the connection."""
        note = f"no answer for {units.seconds(waited_s)}"
        now = datetime.now(UTC)
        if self.last is not None:
            stalled: AnySample = replace(self.last, taken_at=now, error=note)
        else:
            stalled = self._bare_sample(note, now, connected=True)
        self._publish(stalled)

    def _emit_connecting(self, waited_s: float, since: datetime) -> None:
        """A connect the server does not answer: say so each interval (not kept in history)."""
        sample = self._bare_sample(
            f"connecting: no answer for {units.seconds(waited_s)}",
            datetime.now(UTC),
            connected=False,
        )
        self._publish(replace(sample, disconnected_since=since))

    def _lost(self, error: str) -> None:
        if self.connected or self.disconnected_since is None:
            self.disconnected_since = datetime.now(UTC)
        else:
            self.retries += 1
        self.connected = False
        log.warning("%s: %s", self.source.name, error)
        sample = self._bare_sample(error, datetime.now(UTC), connected=False)
        self._publish(self._judged(sample))

    def _bare_sample(self, error: str, now: datetime, *, connected: bool) -> AnySample:
        """A sample with no data: disconnected, or connected but not answering yet."""
        common: dict[str, Any] = {
            "source": self.source.name,
            "taken_at": now,
            "connected": connected,
            "info": self.info,
            "error": error,
        }
        if not connected:
            common |= {
                "disconnected_since": self.disconnected_since or now,
                "retries": self.retries,
            }
        if _is_bouncer(self.source, self.info, self.last):
            return BouncerSample(**common)
        return Sample(**common)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a finished call's outcome (a lost connection is expected when abandoning)."""
    if not future.cancelled():
        future.exception()


def _is_bouncer(source: Source, info: ServerInfo | None, last: AnySample | None) -> bool:
    if isinstance(last, BouncerSample) or (info is not None and info.role == Role.PGBOUNCER):
        return True
    return type(source).__name__ == "BouncerSource"
