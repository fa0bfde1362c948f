"""The UI's CPU on recorded samples, two source trees side by side (figures, not pass/fail).

A live benchmark's load drifts (pgbench's throughput, checkpoints): the same pgtop measured twice
in a row differs by ±5 %, more than most single changes to the UI save. This takes the load out:
``record`` samples a lab once (real Samples, pickled) under 100 unthrottled pgbench clients, or
idle (``--load idle``), at the default refresh (2 s); ``compare`` then runs two pgtop source trees
at once, each in its own 200x50 pty, replaying the same samples at the pace they were taken, and
prints the CPU milliseconds per second of each process (/proc/PID/task/*/schedstat, nanoseconds)
and the paired difference per round. Both draw the same frames (the terminal bytes are printed
too: they match when the output did not change).
The poll is not included (no server): ``collector_cost.py`` and ``ui_vs_pg_activity.py`` see it.

    python benchmarks/ui_replay.py record samples.pkl [--seconds 140] [--interval 2] [--load idle]
    python benchmarks/ui_replay.py compare samples.pkl TREE_A TREE_B [--seconds 60] [--rounds 4]

A TREE is a directory holding a ``pgtop`` package (a checkout or ``git worktree`` of another
commit). Run ``compare`` from outside the trees: each process imports pgtop from its own tree.
To weigh one of the UI's fast paths (docs/architecture.md), compare a tree with a copy of it in
which that path is switched off: the B/A line is what the path saves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pickle
import select
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui_vs_pg_activity import cpu_seconds, spawn_in_pty  # noqa: E402 - the benchmark next to this one

WARM_UP_S = 6.0
"""Seconds measured from once both apps have drawn their first screens."""
FIRST_SCREENS_BYTES = 40_000
"""What an app writes before it is running: its first screens at 200x50 (~60 KB). On a loaded
machine an app can take longer than the warm-up to start; its start-up then fell inside the
window (+55 KB, +15 % CPU), and the rounds split into two modes."""

REPLAY = """
import asyncio, pickle, sys
from pathlib import Path
from pgtop.config import Config
from pgtop.ui.app import make_app

samples = pickle.loads(Path(sys.argv[1]).read_bytes())
INTERVAL = float(sys.argv[3])

try:  # one history in the feed (older trees kept their own in the app)
    from pgtop.history import History
except ImportError:
    History = None

class ReplayFeed:
    interval = INTERVAL
    paused = False
    history = History() if History else None
    async def run(self, publish):
        for sample in samples:
            if self.history is not None:
                self.history.add(sample)
            publish(sample)
            await asyncio.sleep(INTERVAL)
        await asyncio.Event().wait()
    def set_interval(self, seconds): pass
    def set_paused(self, paused): pass

make_app(Config(), ReplayFeed(), targets="replay", state_path=Path(sys.argv[2])).run()
"""


def record(out: Path, seconds: float, interval: float, load: str) -> None:
    from pgtop.collect.postgres import PostgresSource
    from pgtop.collect.sampler import Sampler
    from pgtop.lab import Lab, find_installation
    from pgtop.workload import pgbench

    with Lab(find_installation(), replica=False, pgbouncer=False) as lab:
        clients = None
        if load == "pgbench":
            clients = pgbench(
                lab.install.tool("pgbench"),
                host="127.0.0.1",
                port=lab.primary.port,
                passfile=lab.primary.passfile,
                clients=100,
                duration_s=seconds + 30,
                application_name="pgbench-bench",
            )
        try:
            time.sleep(5)
            sampler = Sampler([PostgresSource(lab.monitor_dsn())], interval=interval)
            samples = asyncio.run(sampler.collect(seconds))
        finally:
            if clients is not None:
                clients.terminate()
                clients.wait()
    out.write_bytes(pickle.dumps(samples))
    print(f"{len(samples)} samples in {out}")


def _drain(fds: list[int], seconds: float, until_bytes: int | None = None) -> dict[int, int]:
    """Read what the apps write for ``seconds``, or until each wrote ``until_bytes``."""
    written = dict.fromkeys(fds, 0)
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if until_bytes is not None and min(written.values()) >= until_bytes:
            break
        ready, _, _ = select.select(fds, [], [], min(remaining, 0.2))
        for fd in ready:
            with contextlib.suppress(OSError):
                written[fd] += len(os.read(fd, 65536))
    return written


def _round(
    samples: Path, trees: list[str], seconds: float, interval: float, state: Path
) -> list[tuple[float, int]]:
    """(CPU ms per second, bytes) per tree, both running at once."""
    script = state / "replay.py"
    script.write_text(REPLAY)
    procs = []
    for index, tree in enumerate(trees):
        env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": tree}
        env.pop("NO_COLOR", None)
        state_file = str(state / f"state{index}.toml")
        argv = [sys.executable, str(script), str(samples), state_file, str(interval)]
        procs.append(spawn_in_pty(argv, env, 50, 200))
    fds = [fd for _, fd in procs]
    try:
        _drain(fds, 60.0, until_bytes=FIRST_SCREENS_BYTES)
        _drain(fds, WARM_UP_S)
        before = [cpu_seconds(pid) for pid, _ in procs]
        written = _drain(fds, seconds)
        after = [cpu_seconds(pid) for pid, _ in procs]
    finally:
        for _, fd in procs:
            with contextlib.suppress(OSError):
                os.write(fd, b"q")
        _drain(fds, 1.5)
        for pid, fd in procs:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(fd)
    return [
        ((a - b) * 1000 / seconds, written[fd])
        for a, b, (_, fd) in zip(after, before, procs, strict=True)
    ]


def compare(samples: Path, trees: list[str], seconds: float, rounds: int) -> None:
    import tempfile

    interval = _interval(samples)
    print(f"replaying one sample every {interval:g} s", flush=True)
    ms: dict[str, list[float]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(rounds):
            order = trees if number % 2 == 0 else trees[::-1]  # who starts first alternates
            result = dict(
                zip(order, _round(samples, order, seconds, interval, Path(tmp)), strict=True)
            )
            for tree in trees:
                ms[tree].append(result[tree][0])
            (a_ms, a_bytes), (b_ms, b_bytes) = result[trees[0]], result[trees[1]]
            print(
                f"round {number + 1}: A {a_ms:.3f} ms/s, B {b_ms:.3f} ms/s, "
                f"B/A {b_ms / a_ms - 1:+.1%}; terminal bytes A {a_bytes:,} B {b_bytes:,}",
                flush=True,
            )
    paired = [b / a - 1 for a, b in zip(ms[trees[0]], ms[trees[1]], strict=True)]
    print(f"A {trees[0]}: mean {statistics.mean(ms[trees[0]]):.3f} ms/s")
    print(f"B {trees[1]}: mean {statistics.mean(ms[trees[1]]):.3f} ms/s")
    median, mean = statistics.median(paired), statistics.mean(paired)
    print(f"B vs A per round: median {median:+.1%}, mean {mean:+.1%}")


def main() -> int:
    from pgtop.config import Config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="sample a lab under pgbench into a file")
    rec.add_argument("out", type=Path)
    rec.add_argument("--seconds", type=float, default=140)
    rec.add_argument(
        "--interval", type=float, default=Config().monitor.refresh, help="seconds between samples"
    )
    rec.add_argument(
        "--load", choices=("pgbench", "idle"), default="pgbench",
        help="100 unthrottled pgbench clients, or nothing but the monitor",
    )  # fmt: skip
    cmp = commands.add_parser("compare", help="replay the samples in two trees at once")
    cmp.add_argument("samples", type=Path)
    cmp.add_argument("trees", nargs=2)
    cmp.add_argument("--seconds", type=float, default=60)
    cmp.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.seconds, args.interval, args.load)
    else:
        if args.seconds + WARM_UP_S > 0.9 * _count(args.samples) * _interval(args.samples):
            print("the window is longer than the recording: record more samples", file=sys.stderr)
            return 2
        compare(
            args.samples, [str(Path(t).resolve()) for t in args.trees], args.seconds, args.rounds
        )
    return 0


def _count(samples: Path) -> int:
    return len(pickle.loads(samples.read_bytes()))


def _interval(samples: Path) -> float:
    """The seconds between the recorded samples (replayed at the same pace)."""
    taken = [sample.taken_at for sample in pickle.loads(samples.read_bytes())]
    gaps = [(b - a).total_seconds() for a, b in zip(taken, taken[1:], strict=False)]
    return round(statistics.median(gaps), 1) if gaps else 1.0


if __name__ == "__main__":
    raise SystemExit(main())
