"""Issue 5, "Connecting": pgtop run as a user would run it, against real servers and real sockets.

Every failure must end in exactly one line on stderr (``pgtop: …``), no traceback, the right exit
code, no fragment of a password, and a message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgtop.lab import APP_DATABASE, APP_ROLE, MONITOR_ROLE, Lab, PgInstall
from pgtop.workload import pgbench

pytestmark = pytest.mark.one_major  # see tests/conftest.py

SECRET = "s3cr3t-Pa55"


# --------------------------------------------------------------------------- helpers


def pgtop(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pgtop …`` with no PG* variable of the machine, stdin from /dev/null."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGTOP_"))}
    if home is not None:
        full_env["HOME"] = str(home)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pgtop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *secrets_: str
) -> str:
    assert result.returncode == code, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pgtop: ")
    assert "Traceback" not in result.stderr
    for secret in (SECRET, *secrets_):
        assert secret not in result.stderr
        assert secret[:4] not in result.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME: no ~/.pgpass, ~/.pg_service.conf or config of the machine applies."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def superuser(lab: Lab, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(lab.superuser_dsn(dbname), autocommit=True)


def write_passfile(path: Path, lab: Lab, user: str, password: str, mode: int = 0o600) -> Path:
    path.write_text(f"127.0.0.1:{lab.primary.port}:*:{user}:{password}\n")
    os.chmod(path, mode)
    return path


def base(lab: Lab) -> str:
    return f"host=127.0.0.1 port={lab.primary.port}"


# --------------------------------------------------------------------------- 1. connect timeout


@pytest.mark.parametrize(("env", "seconds"), [({}, 5), ({"PGTOP_CONNECT_TIMEOUT_S": "2"}, 2)])
def test_silent_server_times_out_in_one_line(home: Path, env: dict[str, str], seconds: int) -> None:
    with silent_server() as port:
        started = time.monotonic()
        result = pgtop(
            f"host=127.0.0.1 port={port} user=u dbname=d password={SECRET}",
            env=env,
            home=home,
            timeout=seconds + 20,
        )
        elapsed = time.monotonic() - started
    line = assert_one_line_error(result, 1)
    assert elapsed < seconds + 2, elapsed
    assert elapsed >= seconds - 0.5, elapsed
    assert "timeout" in line
    assert f"within {seconds} s" in line
    assert f"127.0.0.1:{port}" in line


# --------------------------------------------------------------------------- 2. libpq errors


def test_refused_ports_on_several_hosts_is_one_line(home: Path) -> None:
    line = assert_one_line_error(
        pgtop(f"host=127.0.0.1,127.0.0.1 port=1,2 user=u dbname=d password={SECRET}", home=home),
        1,
    )
    assert "connection refused" in line
    assert "127.0.0.1:1" in line
    assert "127.0.0.1:2" in line
    assert "is PostgreSQL running" in line


# --------------------------------------------------------------------------- 3. malformed DSNs


@pytest.mark.parametrize(
    ("dsn", "expect"),
    [
        (f"postgresql://u:{SECRET}%4@h/d", "percent-encoding"),
        (f"postgresql://u:{SECRET}%4G@h/d", "percent-encoding"),
        (f"host=h port=5432 user=u password='{SECRET} dbname=d", "quote"),
        (f"host=h dbname=d password='{SECRET}", "quote"),
        (f"host=h port=65536 user=u password={SECRET}", "out of range"),
        (f"postgresql://u:{SECRET}@h:65536/d", "out of range"),
        (f"postgresql://u:{SECRET}@[::1/db", "IPv6"),
        (f"postgresql://u:{SECRET}@h/d?sslmode=bogus", "sslmode"),
        (f"host=h password={SECRET} junk", '"="'),
    ],
)
def test_malformed_dsn_is_a_usage_error_without_the_password(
    home: Path, dsn: str, expect: str
) -> None:
    line = assert_one_line_error(pgtop(dsn, home=home), 2)
    assert "connection string" in line or "connect" in line
    assert expect in line


# --------------------------------------------------------------------------- 4. max_connections


@pytest.fixture(scope="module")
def small_lab(pg_install: PgInstall) -> Iterator[Lab]:
    settings = {"max_connections": "6", "superuser_reserved_connections": "1"}
    if pg_install.major >= 16:
        settings["reserved_connections"] = "0"
    with Lab(pg_install, replica=False, pgbouncer=False, settings=settings) as running:
        yield running


def test_server_at_max_connections(small_lab: Lab, home: Path) -> None:
    held: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        with pytest.raises(psycopg.OperationalError):  # noqa: PT012 - fill until refused
            for _ in range(20):
                held.append(psycopg.connect(small_lab.app_dsn(), connect_timeout=5))
        assert held, "not even one connection"
        line = assert_one_line_error(pgtop(small_lab.monitor_dsn(), home=home), 1)
    finally:
        for conn in held:
            conn.close()
    assert "max_connections" in line
    assert "close idle sessions" in line
    # and once the slots are free again, the same command gets past the connect
    assert "terminal" in assert_one_line_error(pgtop(small_lab.monitor_dsn(), home=home), 2)


# --------------------------------------------------------------------------- 5. CONNECT revoked


def test_database_without_connect_privilege_names_the_grant(lab: Lab, home: Path) -> None:
    name = "pgtop_no_connect"
    with superuser(lab) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
        )
        try:
            line = assert_one_line_error(pgtop(lab.monitor_dsn(name), home=home), 1)
        finally:
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
    assert f'permission denied for database "{name}"' in line
    assert f"GRANT CONNECT ON DATABASE {name} TO {MONITOR_ROLE}" in line


# --------------------------------------------------------------------------- 6. db, role, password


def test_unknown_database(lab: Lab, home: Path) -> None:
    line = assert_one_line_error(pgtop(lab.primary.dsn(MONITOR_ROLE, "no_such_db"), home=home), 1)
    assert 'database "no_such_db" does not exist' in line
    assert "CREATE DATABASE no_such_db" in line


def test_wrong_password_in_the_dsn(lab: Lab, home: Path) -> None:
    line = assert_one_line_error(
        pgtop(f"{base(lab)} dbname=app user={MONITOR_ROLE} password={SECRET}", home=home), 1
    )
    assert f'password authentication failed for user "{MONITOR_ROLE}"' in line
    assert "check the password given in the connection string" in line


def test_wrong_password_in_pgpassword(lab: Lab, home: Path) -> None:
    line = assert_one_line_error(
        pgtop(f"{base(lab)} dbname=app user={MONITOR_ROLE}", env={"PGPASSWORD": SECRET}, home=home),
        1,
    )
    assert "check PGPASSWORD" in line


def test_wrong_password_in_a_passfile(lab: Lab, home: Path, tmp_path: Path) -> None:
    passfile = write_passfile(tmp_path / "pgpass", lab, MONITOR_ROLE, SECRET)
    line = assert_one_line_error(
        pgtop(f"{base(lab)} dbname=app user={MONITOR_ROLE} passfile={passfile}", home=home), 1
    )
    assert f"check the password in {passfile}" in line


def test_unknown_role_through_a_service_file(lab: Lab, home: Path, tmp_path: Path) -> None:
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text(
        f"[ops]\nhost=127.0.0.1\nport={lab.primary.port}\ndbname=app\n"
        f"user=nobody_here\npassword={SECRET}\n"
    )
    line = assert_one_line_error(
        pgtop("service=ops", env={"PGSERVICEFILE": str(service_file)}, home=home), 1
    )
    assert "nobody_here@127.0.0.1" in line
    assert 'password authentication failed for user "nobody_here"' in line
    assert f"check the password in the service file {service_file}" in line
    assert "the role may also not exist" in line


# --------------------------------------------------------------------------- 7. services


def test_missing_service_names_service_and_file(home: Path, tmp_path: Path) -> None:
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("[other]\nhost=127.0.0.1\nport=1\n")
    line = assert_one_line_error(
        pgtop(env={"PGSERVICE": "nope", "PGSERVICEFILE": str(service_file)}, home=home), 1
    )
    assert 'service "nope"' in line
    assert str(service_file) in line


def test_service_without_any_service_file(home: Path, tmp_path: Path) -> None:
    env = {"PGSERVICE": "nope", "PGSYSCONFDIR": str(tmp_path / "no-sysconfdir")}
    line = assert_one_line_error(pgtop(env=env, home=home), 1)
    assert 'service "nope"' in line
    assert "~/.pg_service.conf" in line
    assert "PGSERVICEFILE" in line


# --------------------------------------------------------------------------- 8. loose .pgpass


@pytest.mark.parametrize("where", ["PGPASSFILE", "passfile=", "~/.pgpass"])
def test_loose_passfile_is_explained_in_one_line(
    lab: Lab, home: Path, tmp_path: Path, where: str
) -> None:
    password = lab.passwords[MONITOR_ROLE]
    dsn = f"{base(lab)} dbname=app user={MONITOR_ROLE}"
    env: dict[str, str] = {}
    if where == "~/.pgpass":
        passfile = write_passfile(home / ".pgpass", lab, MONITOR_ROLE, password, 0o644)
    else:
        passfile = write_passfile(tmp_path / "pgpass", lab, MONITOR_ROLE, password, 0o644)
        if where == "PGPASSFILE":
            env["PGPASSFILE"] = str(passfile)
        else:
            dsn += f" passfile={passfile}"
    line = assert_one_line_error(pgtop(dsn, env=env, home=home), 1, password)
    assert "WARNING" not in line
    assert "permissions are too open" in line
    assert f"chmod 600 {passfile}" in line
    # the same file with the right mode works (and stops only for want of a terminal)
    os.chmod(passfile, 0o600)
    assert "terminal" in assert_one_line_error(pgtop(dsn, env=env, home=home), 2, password)


def test_loose_passfile_not_needed_prints_nothing_of_libpq(
    lab: Lab, home: Path, tmp_path: Path
) -> None:
    passfile = write_passfile(tmp_path / "pgpass", lab, MONITOR_ROLE, "unused", 0o644)
    socket_dir = lab.directory / "primary"  # the lab trusts local (socket) connections
    dsn = f"host={socket_dir} port={lab.primary.port} dbname=app user={MONITOR_ROLE}"
    env = {"PGPASSFILE": str(passfile)}
    line = assert_one_line_error(pgtop(dsn, env=env, home=home), 2)
    assert "terminal" in line
    snap = pgtop("snapshot", dsn, "--duration", "1", "--format", "json", env=env, home=home)
    assert snap.returncode == 0, snap.stderr
    assert snap.stderr == ""
    assert json.loads(snap.stdout)["server"]["connected"] is True


# --------------------------------------------------------------------------- 9. role settings


@pytest.fixture
def awkward_roles(lab: Lab, tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    roles = {
        "pgtop_fast_timeout": ("statement_timeout", "1ms"),
        "pgtop_read_only": ("default_transaction_read_only", "on"),
    }
    password = secrets.token_urlsafe(18)
    passfile = tmp_path / "pgpass"
    passfile.write_text(
        "".join(f"127.0.0.1:{lab.primary.port}:*:{role}:{password}\n" for role in roles)
    )
    os.chmod(passfile, 0o600)
    with superuser(lab) as conn:
        for role, (setting, value) in roles.items():
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pg_monitor").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    sql.Identifier(role), sql.Identifier(setting), sql.Literal(value)
                )
            )
        try:
            yield passfile, list(roles)
        finally:
            for role in roles:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    [role],
                )
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_role_level_settings_do_not_break_monitoring(
    lab: Lab, home: Path, awkward_roles: tuple[Path, list[str]]
) -> None:
    passfile, roles = awkward_roles
    for role in roles:
        dsn = lab.primary.dsn(role, APP_DATABASE, passfile=str(passfile))
        assert "terminal" in assert_one_line_error(pgtop(dsn, home=home), 2), role
        snap = pgtop("snapshot", dsn, "--duration", "1", "--format", "json", home=home)
        assert snap.returncode == 0, (role, snap.stderr)
        document = json.loads(snap.stdout)
        server = document["server"]
        assert server["connected"] is True, (role, server["error"])
        assert server["stats"] is not None, (role, server["error"], server["messages"])


# --------------------------------------------------------------------------- 10. PgBouncer port


def test_pgbouncer_port_as_postgres_twice_under_load(lab: Lab, home: Path) -> None:
    if lab.pgbouncer is None:
        pytest.skip(lab.bouncer_missing_reason or "no PgBouncer")
    load = pgbench(
        str(lab.install.bindir / "pgbench"),
        host="127.0.0.1",
        port=lab.pgbouncer.port,
        passfile=lab.pgbouncer.passfile,
        clients=4,
        duration_s=15,
        application_name="pgtop-test-load",
        rate=100,
    )
    try:
        time.sleep(0.5)
        dsn = lab.pgbouncer.dsn(MONITOR_ROLE, APP_DATABASE)
        for attempt in (1, 2):
            snap = pgtop("snapshot", dsn, "--duration", "1", "--format", "json", home=home)
            assert snap.returncode == 0, (attempt, snap.stderr)
            assert snap.stderr == "", (attempt, snap.stderr)
            document = json.loads(snap.stdout)
            server = document["server"]
            assert "already exists" not in json.dumps(document), attempt
            assert server["connected"] is True, (attempt, server["error"])
            assert server["stats"] is not None, (attempt, server["error"], server["messages"])
    finally:
        load.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            load.wait(timeout=10)
        if load.stderr is not None:
            load.stderr.close()


# --------------------------------------------------------------------------- 11. not a terminal


def test_piped_stdout_points_to_snapshot(lab: Lab, home: Path) -> None:
    line = assert_one_line_error(pgtop(lab.monitor_dsn(), home=home), 2)
    assert "needs a terminal" in line
    assert "pgtop snapshot" in line


def test_piped_demo_refuses_before_starting_a_lab(home: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    started = time.monotonic()
    line = assert_one_line_error(pgtop("demo", env={"TMPDIR": str(scratch)}, home=home), 2)
    assert "needs a terminal" in line
    assert time.monotonic() - started < 10
    assert list(scratch.glob("pgtop-lab-*")) == []
    assert APP_ROLE not in line
