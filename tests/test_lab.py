"""The lab itself: real servers start fast, stream, pool, contend, and leave nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgtop.lab import (
    BOUNCER_ADMIN,
    REPLICATION_SLOT,
    STATE_FILE,
    Lab,
    PgInstall,
    child_pids,
    pid_alive,
)
from pgtop.workload import blocking_chain, idle_in_transaction


def _all_pids(pids: list[int]) -> set[int]:
    """The lab's pids and their children (postgres backends, pgbench …)."""
    found = set(pids)
    for pid in pids:
        found.update(child_pids(pid))
    return found


def test_lab_starts_fast_and_teardown_leaves_no_process(pg_install: PgInstall) -> None:
    started = time.monotonic()
    lab = Lab(pg_install)
    with lab:
        elapsed = time.monotonic() - started
        directory = lab.directory
        lab.start_workload(duration_s=30, clients=2, bouncer_clients=2, rate=50)
        time.sleep(1.5)
        pids = _all_pids(lab.pids())
        assert len(pids) > 10, "expected postmasters, pgbouncer, workload and their children"
    assert elapsed < 20, f"lab took {elapsed:.1f} s to start"
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert not directory.exists()


def test_replica_streams_with_its_slot(lab: Lab) -> None:
    with psycopg.connect(lab.monitor_dsn()) as conn:
        states = conn.execute("SELECT state FROM pg_stat_replication").fetchall()
        slots = conn.execute(
            "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'"
        ).fetchall()
    assert states == [("streaming",)]
    assert slots == [(REPLICATION_SLOT, True)]
    with psycopg.connect(lab.replica_dsn()) as conn:
        in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    assert in_recovery == (True,)


def test_pgbouncer_admin_console_answers_show_pools(lab: Lab) -> None:
    with psycopg.connect(lab.bouncer_app_dsn(), autocommit=True) as app:
        app.execute("SELECT 1")
        for user in (BOUNCER_ADMIN, "pgtop_monitor"):
            with psycopg.connect(
                lab.bouncer_admin_dsn(user), autocommit=True, cursor_factory=psycopg.ClientCursor
            ) as admin:
                cursor = admin.execute("SHOW POOLS")
                columns = [column.name for column in cursor.description or []]
                pools = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            assert {"database", "user", "cl_active", "cl_waiting", "sv_active"} <= set(columns)
            assert any(pool["database"] == "app" and pool["user"] == "app" for pool in pools)


def test_blocking_chain_is_visible_in_pg_locks(lab: Lab) -> None:
    with (
        blocking_chain(lab.app_dsn(), bound_s=60) as chain,
        psycopg.connect(lab.monitor_dsn()) as conn,
    ):
        waiting = conn.execute("SELECT pid FROM pg_locks WHERE NOT granted ORDER BY pid").fetchall()
        blockers = dict(
            conn.execute(
                "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
                ([chain.waiter, chain.second_waiter],),
            ).fetchall()
        )
    assert {pid for (pid,) in waiting} == {chain.waiter, chain.second_waiter}
    assert blockers[chain.waiter] == [chain.holder]
    assert blockers[chain.second_waiter] == [chain.waiter]


def test_idle_in_transaction_sessions(lab: Lab) -> None:
    with (
        idle_in_transaction(lab.app_dsn(), bound_s=60) as idle,
        idle_in_transaction(lab.app_dsn(), aborted=True, bound_s=60) as aborted,
        psycopg.connect(lab.monitor_dsn()) as conn,
    ):
        states = dict(
            conn.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(%s)", ([idle, aborted],)
            ).fetchall()
        )
    assert states == {idle: "idle in transaction", aborted: "idle in transaction (aborted)"}


def test_lab_without_pgbouncer_says_so(
    pg_install: PgInstall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGTOP_PGBOUNCER_BIN", "")
    messages: list[str] = []
    with Lab(pg_install, replica=False, log=messages.append) as lab:
        assert lab.pgbouncer is None
        assert lab.replica is None
        assert "pgbouncer is not installed" in (lab.bouncer_missing_reason or "")
        assert any("pgbouncer is not installed" in message for message in messages)
        with psycopg.connect(lab.monitor_dsn()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


class _LabProcess:
    """`python -m pgtop.lab` in a child process, watched from outside through its lab.json."""

    def __init__(self, install: PgInstall, *extra: str) -> None:
        env = {**os.environ, "PGTOP_PG_BIN": str(install.bindir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgtop.lab", "--hold", "60", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stderr is not None
        first = self.proc.stderr.readline()
        assert first.startswith("lab directory "), first
        self.directory = Path(first.removeprefix("lab directory ").strip())
        self.seen: set[int] = set()

    def watch(self) -> dict[str, object]:
        try:
            state: dict[str, object] = json.loads((self.directory / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        pids = [int(p) for k, p in state.items() if k.endswith("_pid") and k != "owner_pid" and p]
        pids += [int(p) for p in dict(state.get("servers") or {}).values() if p]  # type: ignore[call-overload]
        self.seen |= _all_pids(pids)
        return state

    def terminate_when(self, ready: str, sig: signal.Signals = signal.SIGTERM) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = self.watch()
            if state.get(ready):
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the lab never reached {ready}")
        self.proc.send_signal(sig)
        while self.proc.poll() is None:
            self.watch()
            time.sleep(0.02)
        return self.proc.wait()


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """SIGINT as Python sets it at start, whatever this run inherited: the signal tests assume
    KeyboardInterrupt. A run launched with SIGINT ignored (``nohup scripts/test.sh &``, a
    background job of a script) starts with SIG_IGN, which a lab child would inherit too (a
    handler becomes SIG_DFL across exec, an ignored signal stays ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@pytest.fixture
def lab_process(pg_install: PgInstall, python_sigint: None) -> Iterator[type[_LabProcess]]:
    started: list[_LabProcess] = []

    class Tracked(_LabProcess):
        def __init__(self, install: PgInstall, *extra: str) -> None:
            super().__init__(install, *extra)
            started.append(self)

    yield Tracked
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
        process.proc.communicate()


@pytest.mark.parametrize(
    ("moment", "extra", "sig"),
    [
        ("primary_pid", (), signal.SIGTERM),
        ("replica_pid", (), signal.SIGTERM),
        ("workload_pid", ("--workload",), signal.SIGTERM),
        ("workload_pid", ("--workload",), signal.SIGHUP),
    ],
    ids=["after-primary", "after-replica", "with-workload", "hangup-with-workload"],
)
def test_signal_midway_leaves_nothing(
    pg_install: PgInstall,
    lab_process: type[_LabProcess],
    moment: str,
    extra: tuple[str, ...],
    sig: signal.Signals,
) -> None:
    process = lab_process(pg_install, *extra)
    code = process.terminate_when(moment, sig)
    assert code == 128 + sig
    assert process.seen, "the watcher saw no process"
    assert [pid for pid in process.seen if pid_alive(pid)] == []
    assert not process.directory.exists()


@pytest.mark.parametrize(
    ("sig", "raised", "code"),
    [
        (signal.SIGTERM, SystemExit, 128 + signal.SIGTERM),
        (signal.SIGHUP, SystemExit, 128 + signal.SIGHUP),
        (signal.SIGINT, KeyboardInterrupt, None),
    ],
    ids=["term", "hup", "int"],
)
@pytest.mark.usefixtures("python_sigint")
def test_a_signal_while_a_child_starts_waits_for_its_pid_to_be_recorded(
    pg_install: PgInstall, sig: signal.Signals, raised: type[BaseException], code: int | None
) -> None:
    """Handled inside Popen, a signal stopped the lab before the child's pid was recorded and
    the child (a PgBouncer) outlived it: now it is handled once the block that starts and
    records the child is done, as the lab's usual exit."""
    lab = Lab(pg_install)
    recorded: list[bool] = []

    def start_child() -> None:
        with lab._signals_deferred():
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # the handler runs meanwhile, and only takes note
            recorded.append(True)

    lab._install_sigterm_handler()
    try:
        with pytest.raises(raised) as exit_info:
            start_child()
        assert recorded == [True]
        if code is not None:
            assert isinstance(exit_info.value, SystemExit)
            assert exit_info.value.code == code
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        lab._restore_sigterm_handler()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches to an unprivileged OS user")
def test_binaries_the_server_user_cannot_execute_are_copied_first(
    pg_install: PgInstall, tmp_path: Path
) -> None:
    """As in a venv under /root (mode 700): the lab copies the installation somewhere readable,
    keeping the layout a wheel's RPATH needs, and the copy starts a working server."""
    root = pg_install.bindir.resolve().parent
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    site = private / "site"
    shutil.copytree(root, site / root.parent.name / root.name, symlinks=True)
    libs = root.parent.parent / f"{root.parent.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)
    hidden = PgInstall(site / root.parent.name / root.name / "bin", pg_install.major, "test")
    with Lab(hidden, replica=False, pgbouncer=False) as lab:
        assert not str(lab.install.bindir).startswith(str(private))
        with psycopg.connect(lab.monitor_dsn()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
