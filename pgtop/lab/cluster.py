"""The Lab: a primary, a streaming replica and PgBouncer in one temp directory."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from pgtop.lab.installs import PgInstall, RunAs, find_installation, usable_by
from pgtop.lab.names import (
    APP_DATABASE,
    APP_ROLE,
    BOUNCER_ADMIN,
    BOUNCER_POOL_SIZE,
    MONITOR_ROLE,
    REPLICATION_SLOT,
    START_TIMEOUT_S,
    SUPERUSER,
    LabError,
)
from pgtop.lab.processes import free_port, stop_pid
from pgtop.lab.state import Endpoint, LabState, postmaster_pid, stop_lab

# --------------------------------------------------------------------------- the lab


class Lab:
    """A primary (+ streaming replica, + PgBouncer) in a temp dir; use as a context manager."""

    def __init__(
        self,
        install: PgInstall | None = None,
        *,
        replica: bool = True,
        pgbouncer: bool = True,
        base_dir: Path | None = None,
        log: Any = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.run_as = RunAs.choose()
        # extra postgresql.conf lines for the primary (e.g. a small max_connections in a test)
        self.settings = dict(settings or {})
        self._requested_install = install
        self.want_replica = replica
        self.want_pgbouncer = pgbouncer
        self._base_dir = base_dir
        self._log = log
        self.passwords = {
            name: secrets.token_urlsafe(18)
            for name in (SUPERUSER, MONITOR_ROLE, APP_ROLE, BOUNCER_ADMIN)
        }
        self.state: LabState | None = None
        self.bouncer_missing_reason: str | None = None
        self._bouncer_proc: subprocess.Popen[bytes] | None = None
        self._workload_proc: subprocess.Popen[bytes] | None = None
        self._previous_sigterm: Any = None
        self._previous_sighup: Any = None

    # -- public API -------------------------------------------------------------------------

    @property
    def install(self) -> PgInstall:
        assert self.state is not None
        return PgInstall(Path(self.state.bindir), self.state.major, "lab")

    @property
    def directory(self) -> Path:
        assert self.state is not None
        return Path(self.state.directory)

    @property
    def primary(self) -> Endpoint:
        assert self.state is not None
        return Endpoint("127.0.0.1", self.state.primary_port, self.state.passfile)

    @property
    def replica(self) -> Endpoint | None:
        assert self.state is not None
        if not self.state.replica_port:
            return None
        return Endpoint("127.0.0.1", self.state.replica_port, self.state.passfile)

    @property
    def pgbouncer(self) -> Endpoint | None:
        assert self.state is not None
        if not self.state.bouncer_pid:
            return None
        return Endpoint("127.0.0.1", self.state.bouncer_port, self.state.passfile)

    def monitor_dsn(self, dbname: str = APP_DATABASE) -> str:
        return self.primary.dsn(MONITOR_ROLE, dbname)

    def superuser_dsn(self, dbname: str = APP_DATABASE) -> str:
        return self.primary.dsn(SUPERUSER, dbname)

    def app_dsn(self) -> str:
        return self.primary.dsn(APP_ROLE, APP_DATABASE)

    def replica_dsn(self, user: str = MONITOR_ROLE) -> str:
        if self.replica is None:
            raise LabError("this lab has no replica")
        return self.replica.dsn(user, APP_DATABASE)

    def bouncer_admin_dsn(self, user: str = MONITOR_ROLE) -> str:
        if self.pgbouncer is None:
            raise LabError(self.bouncer_missing_reason or "this lab has no PgBouncer")
        return self.pgbouncer.dsn(user, "pgbouncer")

    def bouncer_app_dsn(self) -> str:
        if self.pgbouncer is None:
            raise LabError(self.bouncer_missing_reason or "this lab has no PgBouncer")
        return self.pgbouncer.dsn(APP_ROLE, APP_DATABASE)

    def pids(self) -> list[int]:
        return self.state.pids() if self.state else []

    def data_dir(self, server: str = "primary") -> Path:
        """The data directory of ``server`` ("primary" or "replica")."""
        assert self.state is not None
        return next(Path(d) for d in self.state.servers if Path(d).parent.name == server)

    def adopt_primary(self) -> None:
        """Record the postmaster now running on the primary's data directory (after a restart,
        by the lab or from outside it), so that teardown finds it."""
        assert self.state is not None
        data_dir = self.data_dir()
        pid = postmaster_pid(data_dir)
        self.state.primary_pid = pid
        self.state.servers[str(data_dir)] = pid
        self.state.save()

    def __enter__(self) -> Lab:
        self._install_sigterm_handler()
        try:
            self.start()
        except BaseException:
            self.stop()
            self._restore_sigterm_handler()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self._restore_sigterm_handler()

    def start(self) -> None:
        install = usable_by(self._requested_install or find_installation(), self.run_as)
        directory = Path(tempfile.mkdtemp(prefix="pgtop-lab-", dir=self._base_dir))
        os.chmod(directory, 0o755)
        passfile = directory / "pgpass"
        self.state = LabState(
            directory=str(directory),
            major=install.major,
            bindir=str(install.bindir),
            passfile=str(passfile),
            owner_pid=os.getpid(),
        )
        self.state.save()
        self._say(f"lab directory {directory}")
        self._say(f"PostgreSQL {install.major} from {install.bindir}")
        self._start_primary()
        self._write_passfile()
        self._create_roles_and_data()
        if self.want_replica:
            self._start_replica()
        if self.want_pgbouncer:
            self._start_pgbouncer()

    def stop(self, *, remove: bool = True) -> None:
        """Stop every process the lab started and remove its directory. Safe to call twice."""
        if self.state is None:
            return
        stop_lab(self.state, remove=remove)
        for proc in (self._workload_proc, self._bouncer_proc):
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.wait(timeout=1)
        self._workload_proc = self._bouncer_proc = None
        if remove:
            self.state = None

    def detach(self) -> LabState:
        """Leave the servers running (for `pgtop demo --keep`); the caller prints how to stop."""
        assert self.state is not None
        state = self.state
        state.owner_pid = 0
        state.save()
        self._restore_sigterm_handler()
        self.state = None
        return state

    def start_workload(
        self,
        *,
        duration_s: float = 600,
        clients: int = 8,
        bouncer_clients: int = 2 * BOUNCER_POOL_SIZE,
        rate: int | None = 200,
        blocking_chain: bool = True,
        idle_sessions: bool = True,
        long_query: bool = True,
    ) -> int:
        """Start the bounded workload in its own process group; returns its pid."""
        assert self.state is not None
        args = [
            sys.executable,
            "-m",
            "pgtop.workload",
            "--lab",
            str(self.directory),
            "--duration",
            str(duration_s),
            "--clients",
            str(clients),
            "--bouncer-clients",
            str(bouncer_clients if self.pgbouncer else 0),
        ]
        if rate:
            args += ["--rate", str(rate)]
        if not blocking_chain:
            args.append("--no-blocking-chain")
        if not idle_sessions:
            args.append("--no-idle-sessions")
        if not long_query:
            args.append("--no-long-query")
        log = open(self.directory / "workload.log", "ab")  # noqa: SIM115 - owned by the child
        with log, self._signals_deferred():
            self._workload_proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.state.workload_pid = self._workload_proc.pid
            self.state.save()
        return self._workload_proc.pid

    def restart_primary(self, mode: str = "fast") -> None:
        """`pg_ctl restart` of the primary as the lab's OS user; the new postmaster pid is
        recorded (even if the restart fails half-way) so teardown still finds it."""
        data_dir = self.data_dir()
        try:
            self._run(
                [
                    self.install.tool("pg_ctl"),
                    "restart",
                    "-D",
                    str(data_dir),
                    "-m",
                    mode,
                    "-w",
                    "-l",
                    str(data_dir.parent / "postgres.log"),
                ]
            )
        finally:
            self.adopt_primary()

    def stop_workload(self) -> None:
        if self.state and self.state.workload_pid:
            stop_pid(self.state.workload_pid, group=True)
            if self._workload_proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._workload_proc.wait(timeout=1)
            self.state.workload_pid = 0
            self.state.save()

    def server_info(self) -> Mapping[str, str]:
        """Connection strings for people (no passwords: they are in the passfile)."""
        info = {"primary": self.superuser_dsn(), "monitor": self.monitor_dsn()}
        if self.replica:
            info["replica"] = self.replica_dsn()
        if self.pgbouncer:
            info["pgbouncer_admin"] = self.bouncer_admin_dsn(BOUNCER_ADMIN)
            info["pgbouncer_stats"] = self.bouncer_admin_dsn(MONITOR_ROLE)
            info["pgbouncer_app"] = self.bouncer_app_dsn()
        return info

    # -- steps ------------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        if self._log is not None:
            self._log(message)

    def _run(
        self,
        args: list[str],
        *,
        as_user: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = START_TIMEOUT_S,
    ) -> None:
        kwargs = self.run_as.popen_kwargs() if as_user else {}
        full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
        full_env.pop("PGSERVICE", None)
        try:
            result = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=self.directory,
                env=full_env,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{Path(args[0]).name} did not finish within {timeout:.0f} s") from exc
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()
            detail = last[-1] if last else f"exit code {result.returncode}"
            raise LabError(f"{Path(args[0]).name} failed: {detail}")

    def _mkdir(self, name: str) -> Path:
        path = self.directory / name
        path.mkdir(mode=0o700)
        self.run_as.chown(path)
        return path

    def _base_conf(self, port: int, socket_dir: Path, name: str) -> str:
        return "\n".join(
            [
                "",
                "# pgtop lab",
                "listen_addresses = '127.0.0.1'",
                f"port = {port}",
                f"unix_socket_directories = '{socket_dir}'",
                f"cluster_name = '{name}'",
                "max_connections = 300",
                "shared_buffers = 48MB",
                "shared_preload_libraries = 'pg_stat_statements'",
                "pg_stat_statements.max = 10000",
                "track_io_timing = on",
                "track_activity_query_size = 4096",
                "wal_level = replica",
                "max_wal_senders = 10",
                "max_replication_slots = 10",
                "hot_standby_feedback = on",
                "fsync = off",
                "full_page_writes = off",
                "log_min_messages = warning",
                "log_line_prefix = '%m [%p] %a '",
                "",
            ]
        )

    def _start_server(self, data: Path, pid_field: str) -> None:
        assert self.state is not None
        self.state.servers[str(data)] = 0
        self.state.save()
        log_file = data.parent / "postgres.log"
        log_file.touch()
        self.run_as.chown(log_file)
        self._run(
            [
                self.install.tool("pg_ctl"),
                "start",
                "-D",
                str(data),
                "-l",
                str(log_file),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
            ]
        )
        pid = postmaster_pid(data)
        setattr(self.state, pid_field, pid)
        self.state.servers[str(data)] = pid
        self.state.save()

    def _start_primary(self) -> None:
        assert self.state is not None
        home = self._mkdir("primary")
        data = home / "data"
        archive = self._mkdir("archive")
        pwfile = home / "pwfile"
        pwfile.write_text(self.passwords[SUPERUSER] + "\n")
        self.run_as.chown(pwfile)
        self._run(
            [
                self.install.tool("initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        pwfile.unlink()
        port = free_port()
        conf = self._base_conf(port, home, "pgtop-lab-primary")
        conf += "archive_mode = on\n"
        conf += f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'\n"
        for name, value in self.settings.items():
            conf += f"{name} = '{_conf_quote(value)}'\n"
        with (data / "postgresql.conf").open("a") as fh:
            fh.write(conf)
        with (data / "pg_hba.conf").open("a") as fh:
            fh.write("host replication all 127.0.0.1/32 scram-sha-256\n")
        self.state.primary_port = port
        self.state.save()
        self._start_server(data, "primary_pid")

    def _write_passfile(self) -> None:
        assert self.state is not None
        lines = []
        for user, password in self.passwords.items():
            escaped = password.replace("\\", "\\\\").replace(":", "\\:")
            lines.append(f"127.0.0.1:*:*:{user}:{escaped}")
        path = Path(self.state.passfile)
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n")

    def _create_roles_and_data(self) -> None:
        with psycopg.connect(self.superuser_dsn("postgres"), autocommit=True) as conn:
            # the monitoring role as the README sets one up: pg_monitor to read everything,
            # pg_signal_backend for cancel and terminate (the demo's c and k work), and from
            # PostgreSQL 14 pg_read_all_data, so that EXPLAIN can plan the app's queries (e, E)
            monitor = "IN ROLE pg_monitor, pg_signal_backend"
            if conn.info.server_version >= 140000:
                monitor += ", pg_read_all_data"
            for role, extra in ((MONITOR_ROLE, monitor), (APP_ROLE, "")):
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + extra).format(
                        sql.Identifier(role), sql.Literal(self.passwords[role])
                    )
                )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)
                )
            )
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        with psycopg.connect(self.superuser_dsn(APP_DATABASE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        self._run(
            [
                self.install.tool("pgbench"),
                "-i",
                "-s",
                "1",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                APP_ROLE,
                APP_DATABASE,
            ],
            as_user=False,
            env={"PGPASSFILE": self.primary.passfile},
        )
        with psycopg.connect(self.app_dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE lab_lock (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)")
            conn.execute("INSERT INTO lab_lock (id) SELECT generate_series(1, 10)")

    def _start_replica(self) -> None:
        assert self.state is not None
        home = self._mkdir("replica")
        data = home / "data"
        self._run(
            [
                self.install.tool("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                SUPERUSER,
                "-D",
                str(data),
                "-R",
                "-C",
                "-S",
                REPLICATION_SLOT,
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
            env={"PGPASSWORD": self.passwords[SUPERUSER]},
        )
        port = free_port()
        conf = self._base_conf(port, home, "pgtop-lab-replica")
        conf += "archive_mode = off\n"
        with (data / "postgresql.conf").open("a") as fh:
            fh.write(conf)
        self.state.replica_port = port
        self.state.save()
        self._start_server(data, "replica_pid")
        self._wait_streaming()

    def _wait_streaming(self) -> None:
        deadline = time.monotonic() + 30
        with psycopg.connect(self.superuser_dsn("postgres"), autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
                if row and row[0]:
                    return
                time.sleep(0.1)
        raise LabError("the replica did not start streaming within 30 s")

    def _start_pgbouncer(self) -> None:
        assert self.state is not None
        binary = _pgbouncer_binary()
        if binary is None:
            self.bouncer_missing_reason = (
                "pgbouncer is not installed (apt-get install pgbouncer): the lab runs without it"
            )
            self._say(self.bouncer_missing_reason)
            return
        home = self._mkdir("pgbouncer")
        port = free_port()
        userlist = "".join(f'"{user}" "{password}"\n' for user, password in self.passwords.items())
        (home / "userlist.txt").write_text(userlist)
        primary = f"host=127.0.0.1 port={self.primary.port}"
        ini = f"""\
[databases]
{APP_DATABASE} = {primary} dbname={APP_DATABASE}
postgres = {primary} dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {home}/userlist.txt
admin_users = {BOUNCER_ADMIN}
stats_users = {MONITOR_ROLE}
pool_mode = transaction
default_pool_size = {BOUNCER_POOL_SIZE}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = {home}/pgbouncer.log
"""
        (home / "pgbouncer.ini").write_text(ini)
        for name in ("userlist.txt", "pgbouncer.ini"):
            os.chmod(home / name, 0o600)
            self.run_as.chown(home / name)
        self.state.bouncer_port = port
        with self._signals_deferred():
            self._bouncer_proc = subprocess.Popen(
                [binary, str(home / "pgbouncer.ini")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                cwd=home,
                **self.run_as.popen_kwargs(),
            )
            self.state.bouncer_pid = self._bouncer_proc.pid
            self.state.save()
        self._wait_bouncer()

    def _wait_bouncer(self) -> None:
        deadline = time.monotonic() + 15
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._bouncer_proc is not None and self._bouncer_proc.poll() is not None:
                log = self.directory / "pgbouncer" / "pgbouncer.log"
                tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
                raise LabError(f"pgbouncer exited at start: {' '.join(tail) or 'see its log'}")
            try:
                with psycopg.connect(
                    self.bouncer_admin_dsn(BOUNCER_ADMIN),
                    autocommit=True,
                    cursor_factory=psycopg.ClientCursor,
                    connect_timeout=2,
                ) as conn:
                    conn.execute("SHOW VERSION")
                    return
            except psycopg.Error as exc:
                last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                time.sleep(0.1)
        raise LabError(f"pgbouncer did not answer within 15 s: {last_error}")

    # -- signals ----------------------------------------------------------------------------

    def _install_sigterm_handler(self) -> None:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return

        def on_sigterm(signum: int, _frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        # SIGHUP too: closing the terminal (or an SSH drop) must not orphan the servers
        self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)
        self._previous_sighup = signal.signal(signal.SIGHUP, on_sigterm)

    @contextlib.contextmanager
    def _signals_deferred(self) -> Iterator[None]:
        """Start a child and record its pid with SIGTERM, SIGHUP and SIGINT held until both are
        done, then raised again for the handlers in place. Handled in between (inside Popen,
        after the fork), the signal stopped the lab without the child's pid: a test signalling
        a lab while it started left a PgBouncer running. Servers need none of this: teardown
        finds them by their postmaster.pid."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        deferred: list[int] = []

        def defer(signum: int, _frame: FrameType | None) -> None:
            deferred.append(signum)

        held = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
        previous = {sig: signal.signal(sig, defer) for sig in held}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(sig, handler)
        if deferred:
            signal.raise_signal(deferred[0])

    def _restore_sigterm_handler(self) -> None:
        if self._previous_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        if self._previous_sighup is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None


def _conf_quote(value: str) -> str:
    """A value for a single-quoted postgresql.conf string."""
    return value.replace("\\", "\\\\").replace("'", "''")


def _pgbouncer_binary() -> str | None:
    """`$PGTOP_PGBOUNCER_BIN` (empty: none), else pgbouncer on PATH or in Debian's sbin."""
    if "PGTOP_PGBOUNCER_BIN" in os.environ:
        explicit = os.environ["PGTOP_PGBOUNCER_BIN"]
        return explicit if explicit and os.access(explicit, os.X_OK) else None
    candidates = [shutil.which("pgbouncer"), "/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
    return next((p for p in candidates if p and os.access(p, os.X_OK)), None)


@contextlib.contextmanager
def running_lab(install: PgInstall | None = None, **kwargs: Any) -> Iterator[Lab]:
    with Lab(install, **kwargs) as lab:
        yield lab
