"""What one refresh of the activity pane costs with 2,000 backends (figures, not pass/fail).

Target: a refresh with 2,000 activity rows renders in < 50 ms.

Headless (``App.run_test(size=(200, 50))``) with a feed the benchmark pushes samples into. After a
first sample of 2,000 synthetic client backends, it pushes N successive samples in which ~5 % of
the rows change (query duration, state, wait event) and a few of them move in the sort order, and
measures per refresh, from posting the sample until the table has applied it *and* the screen has
been repainted (the compositor's update turned into terminal bytes, as on a real terminal):

- wall time and CPU time (``time.process_time``),
- table lines repainted and the bytes a terminal would receive.

The same for an unchanged sample (only the clock in the header moves), for a "busy" sample in
which every active row's duration moves (what a real server under load looks like each tick), and
once for a full rebuild (every row drawn again, what a resize does) for comparison.

    python benchmarks/ui_render.py [--rows 2000] [--samples 20] [--size 200x50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from textual._compositor import CompositorUpdate

from pgtop.config import Config
from pgtop.feed import Publish
from pgtop.history import History
from pgtop.model import AnySample, Backend, Role, Sample, ServerInfo, ServerStats
from pgtop.ui.app import PgtopApp, make_app, settle_gc
from pgtop.ui.cropped_update import cropped
from pgtop.ui.widgets.keyed_table import KeyedTable

T0 = datetime(2025, 11, 24, 9, 30, 0, tzinfo=UTC)
TARGET_MS = 50.0

INFO = ServerInfo(
    name="primary",
    host="127.0.0.1",
    port=5432,
    dbname="app",
    user="pgtop",
    version="17.2",
    version_num=170002,
    role=Role.PRIMARY,
    backend_pid=1,
    max_connections=5000,
    started_at=T0 - timedelta(days=2),
)

QUERIES = (
    "SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.created_at > now() - interval '1 day' ORDER BY o.created_at DESC LIMIT 50",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "INSERT INTO events (kind, payload, at) VALUES ($1, $2, now())",
    "SELECT count(*) FROM sessions WHERE expires_at < now()",
    "COMMIT",
    "BEGIN",
    "SELECT pg_sleep(0.2)",
    "DELETE FROM carts WHERE updated_at < now() - interval '7 days'",
)
STATES = ("active", "active", "active", "idle in transaction", "active")
WAITS = (
    None,
    None,
    None,
    ("Lock", "transactionid"),
    ("IO", "DataFileRead"),
    ("Client", "ClientRead"),
)


class PushFeed:
    """A Feed the benchmark pushes samples into."""

    def __init__(self) -> None:
        self.publish: Publish | None = None
        self.ready = asyncio.Event()
        self.history = History()

    @property
    def interval(self) -> float:
        return 2.0

    @property
    def paused(self) -> bool:
        return False

    async def run(self, publish: Publish) -> None:
        self.publish = publish
        self.ready.set()
        await asyncio.Event().wait()

    def set_interval(self, seconds: float) -> None:
        del seconds

    def set_paused(self, paused: bool) -> None:
        del paused


def backend(i: int, rng: random.Random) -> Backend:
    state = STATES[i % len(STATES)]
    wait = WAITS[i % len(WAITS)] if state == "active" else ("Client", "ClientRead")
    xact_s = round(rng.uniform(0.001, 600.0), 3)
    query_s = round(rng.uniform(0.0, xact_s), 3) if state == "active" else None
    return Backend(
        pid=20_000 + i,
        database="app" if i % 7 else "reports",
        user=f"svc_{i % 12}",
        application=f"api-{i % 40}",
        client=f"10.0.{i // 250}.{i % 250}",
        backend_type="client backend",
        state=state,
        wait_event_type=wait[0] if wait else None,
        wait_event=wait[1] if wait else None,
        backend_start=T0 - timedelta(hours=1),
        xact_start=T0 - timedelta(seconds=xact_s),
        query_start=T0 - timedelta(seconds=query_s or 0.0),
        state_change=T0 - timedelta(seconds=query_s or 0.0),
        query_s=query_s,
        xact_s=xact_s,
        state_s=query_s or 1.0,
        xid_age=None,
        xmin_age=None,
        leader_pid=None,
        query=QUERIES[i % len(QUERIES)] + f" /* {i} */",
    )


def changed(b: Backend, rng: random.Random, *, move: bool) -> Backend:
    """The same backend one tick later: a new duration, sometimes a new state / wait event."""
    roll = rng.random()
    new = replace(b, query_s=round((b.query_s or 0.0) + rng.uniform(0.5, 3.0), 3))
    if roll < 0.05:
        new = replace(new, state="idle in transaction" if b.state == "active" else "active")
    elif roll < 0.25:
        wait = rng.choice(WAITS)
        new = replace(
            new,
            wait_event_type=wait[0] if wait else None,
            wait_event=wait[1] if wait else None,
        )
    if move:  # a new transaction: it jumps in the xact sort
        new = replace(new, xact_s=round(rng.uniform(0.001, 600.0), 3))
    return new


def sample(n: int, activity: tuple[Backend, ...]) -> Sample:
    return Sample(
        source="primary",
        taken_at=T0 + timedelta(seconds=2 * n),
        connected=True,
        info=INFO,
        interval_s=2.0,
        poll_ms=12.0,
        stats=ServerStats(
            uptime_s=172_800.0 + 2 * n,
            connections=len(activity),
            client_connections=len(activity),
            max_connections=5000,
            active=sum(b.state == "active" for b in activity),
            idle_in_transaction=sum(b.state == "idle in transaction" for b in activity),
            waiting_on_locks=sum(b.wait_event_type == "Lock" for b in activity),
            tps=1200.0 + n,
            commits_per_s=1200.0 + n,
            rollbacks_per_s=0.0,
            cache_hit_ratio=0.99,
            deadlocks_total=0,
            deadlocks_per_s=0.0,
            temp_files_per_s=0.0,
            temp_bytes_per_s=0.0,
            oldest_xid_age=1000,
            longest_transaction_s=max((b.xact_s or 0.0) for b in activity),
            longest_idle_in_transaction_s=None,
        ),
        activity=activity,
    )


@dataclass
class Probe:
    """Counts screen paints (with the bytes a terminal would get); the table counts the lines it
    asked to repaint."""

    app: PgtopApp
    table: KeyedTable
    paints: int = 0
    bytes_out: int = 0
    painted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def lines(self) -> int:
        counts = self.table.counts  # a whole-table repaint counts as every line on screen
        return counts.lines_refreshed + counts.full_refreshes * self.table.size.height

    def install(self) -> None:
        display = self.app._display  # noqa: SLF001 - the one place a frame leaves the app

        def counted_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is None or self.app._batch_count:  # noqa: SLF001
                return
            if isinstance(renderable, CompositorUpdate):
                # headless skips this step; a terminal pays it, so it is measured too (as the
                # app sends it: only the refreshed spans)
                update = cropped(renderable)
                self.bytes_out += len(update.render_segments(self.app.console).encode())
            self.paints += 1
            self.painted.set()

        self.app._display = counted_display  # type: ignore[method-assign]  # noqa: SLF001


@dataclass
class Measure:
    wall_ms: float
    cpu_ms: float
    lines: int
    bytes_out: int


async def refresh(app: PgtopApp, feed: PushFeed, probe: Probe, s: AnySample) -> Measure:
    """Post ``s``; wait until it is applied and a frame was painted after that."""
    assert feed.publish is not None
    applied = app.applied
    lines, sent = probe.lines, probe.bytes_out
    t0, c0 = time.perf_counter(), time.process_time()
    feed.history.add(s)
    feed.publish(s)
    while True:
        probe.painted.clear()
        await asyncio.wait_for(probe.painted.wait(), 5)
        if app.applied > applied:
            break
    t1, c1 = time.perf_counter(), time.process_time()
    return Measure((t1 - t0) * 1000, (c1 - c0) * 1000, probe.lines - lines, probe.bytes_out - sent)


async def rebuild(probe: Probe, table: KeyedTable) -> Measure:
    """The full rebuild (every cell rendered again, every line repainted), what a resize or a
    column switch does."""
    lines, sent = probe.lines, probe.bytes_out
    t0, c0 = time.perf_counter(), time.process_time()
    probe.painted.clear()
    table._relayout(force=True)  # noqa: SLF001
    await asyncio.wait_for(probe.painted.wait(), 10)
    t1, c1 = time.perf_counter(), time.process_time()
    return Measure((t1 - t0) * 1000, (c1 - c0) * 1000, probe.lines - lines, probe.bytes_out - sent)


def summary(name: str, runs: list[Measure]) -> str:
    def stat(values: list[float]) -> str:
        values = sorted(values)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        return f"median {statistics.median(values):6.1f}  p95 {p95:6.1f}  max {values[-1]:6.1f}"

    wall = [r.wall_ms for r in runs]
    cpu = [r.cpu_ms for r in runs]
    lines = statistics.median(r.lines for r in runs)
    sent = statistics.median(r.bytes_out for r in runs)
    verdict = "ok" if statistics.median(wall) < TARGET_MS else "OVER"
    return (
        f"{name:<28} n={len(runs):<3} wall ms {stat(wall)}  ·  cpu ms {stat(cpu)}"
        f"  ·  lines {lines:>5.0f}  ·  {sent / 1024:6.1f} KiB/frame  [{verdict}]"
    )


def ticks(
    rows: tuple[Backend, ...], n: int, rng: random.Random, pick: Callable[[Backend], bool]
) -> Iterator[tuple[Backend, ...]]:
    """``n`` successive activity lists: the rows ``pick`` selects change, a few of them move."""
    current = list(rows)
    for _ in range(n):
        chosen = [i for i, b in enumerate(current) if pick(b)]
        movers = set(rng.sample(chosen, min(5, len(chosen))))
        for i in chosen:
            current[i] = changed(current[i], rng, move=i in movers)
        yield tuple(current)


async def main_async(args: argparse.Namespace) -> None:
    rng = random.Random(42)
    rows = tuple(backend(i, rng) for i in range(args.rows))
    width, height = (int(x) for x in args.size.split("x"))
    with TemporaryDirectory() as tmp:
        feed = PushFeed()
        app = make_app(Config(), feed, state_path=Path(tmp) / "state.toml")
        async with app.run_test(size=(width, height)) as pilot:
            await feed.ready.wait()
            if not args.no_settle:
                settle_gc()  # what the app does on a real terminal (headless it does not)
            table = app.panes["activity"].table
            probe = Probe(app, table)
            probe.install()
            n = 0
            first = await refresh(app, feed, probe, sample(n, rows))
            await pilot.pause()
            assert len(table.shown_keys) == args.rows, len(table.shown_keys)
            table.select_key(str(20_000 + args.rows // 2))
            await pilot.pause()
            print(f"{args.rows} rows · {width}x{height} · {len(table.visible_columns)} columns")
            print(
                f"first sample (add every row)  wall {first.wall_ms:.1f} ms,"
                f" cpu {first.cpu_ms:.1f} ms"
            )

            def five_percent(_b: Backend) -> bool:
                return rng.random() < 0.05

            results: dict[str, list[Measure]] = {"5 % rows change, 5 move": []}
            current = rows
            for activity in ticks(rows, args.samples, rng, five_percent):
                n += 1
                results["5 % rows change, 5 move"].append(
                    await refresh(app, feed, probe, sample(n, activity))
                )
                current = activity
                await pilot.pause()
            results["unchanged sample"] = []
            for _ in range(args.samples):
                n += 1
                results["unchanged sample"].append(
                    await refresh(app, feed, probe, sample(n, current))
                )
                await pilot.pause()
            results["busy: every active row"] = []
            for activity in ticks(current, args.samples, rng, lambda b: b.state == "active"):
                n += 1
                results["busy: every active row"].append(
                    await refresh(app, feed, probe, sample(n, activity))
                )
                current = activity
                await pilot.pause()
            assert table.selected_key == str(20_000 + args.rows // 2)
            results["full rebuild (relayout)"] = [await rebuild(probe, table)]
            for name, runs in results.items():
                print(summary(name, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--size", default="200x50")
    parser.add_argument(
        "--no-settle", action="store_true", help="leave the garbage collector as headless does"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
