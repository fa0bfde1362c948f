"""The command line as a user meets it: one line on stderr, the right exit code, no secrets."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgtop.cli import main
from pgtop.commands import snapshot
from pgtop.lab import MONITOR_ROLE, Lab, LabState, PgInstall, pid_alive

pytestmark = pytest.mark.one_major  # see tests/conftest.py

SECRET = "s3cr3t-Pa55"


def pgtop(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
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


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pgtop: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version_and_help() -> None:
    version = pgtop("--version")
    assert version.returncode == 0
    assert re.fullmatch(r"pgtop \S+\n", version.stdout)
    for args in (["--help"], ["demo", "--help"], ["snapshot", "--help"], ["baseline", "--help"]):
        result = pgtop(*args)
        assert result.returncode == 0, result
        assert "usage:" in result.stdout


def test_unreachable_server_one_line_without_the_password() -> None:
    line = assert_one_line_error(pgtop(f"postgresql://nobody:{SECRET}@127.0.0.1:1/x"), 1)
    assert SECRET not in line
    assert "127.0.0.1" in line


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://u:{SECRET}%ZZ@h/db",
        f"host=h password='{SECRET}",
        f"postgresql://u:{SECRET}@h:abc/db",
        f"host=h port=99999 password={SECRET}",
        f"host=h password={SECRET} junk",
    ],
)
def test_malformed_dsn_is_a_usage_error(dsn: str) -> None:
    line = assert_one_line_error(pgtop(dsn), 2)
    assert SECRET not in line
    assert SECRET[:4] not in line


@pytest.mark.parametrize(
    "args",
    [["--refresh", "0.1"], ["--bogus"], ["baseline"], ["demo", "--keep", "--stop", "x"]],
)
def test_bad_arguments_are_usage_errors(args: list[str]) -> None:
    assert_one_line_error(pgtop(*args), 2)


def test_wrong_password_unknown_database_and_role(lab: Lab) -> None:
    primary = lab.primary
    base = f"host=127.0.0.1 port={primary.port}"
    wrong = assert_one_line_error(
        pgtop(f"{base} dbname=app user={MONITOR_ROLE} password={SECRET}"), 1
    )
    assert SECRET not in wrong
    assert "password" in wrong
    no_db = assert_one_line_error(pgtop(primary.dsn(MONITOR_ROLE, "no_such_db")), 1)
    assert "no_such_db" in no_db
    no_role = assert_one_line_error(pgtop(f"{base} dbname=app user=nobody password={SECRET}"), 1)
    assert SECRET not in no_role


def test_piped_stdout_points_to_snapshot(lab: Lab) -> None:
    line = assert_one_line_error(pgtop(lab.monitor_dsn()), 2)
    assert "pgtop snapshot" in line


def test_libpq_environment_is_honoured(lab: Lab) -> None:
    env = {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(lab.primary.port),
        "PGUSER": MONITOR_ROLE,
        "PGDATABASE": "app",
        "PGPASSFILE": lab.primary.passfile,
    }
    # reaches the server (preflight passes) and stops only because stdout is not a terminal
    line = assert_one_line_error(pgtop(env=env), 2)
    assert "terminal" in line


def test_corrupt_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[monitor]\nrefresh = = 2\n")
    before = config.read_bytes()
    line = assert_one_line_error(pgtop("--config", str(config), "dbname=x"), 2)
    assert str(config) in line
    assert "line 2" in line
    assert config.read_bytes() == before


def test_demo_keep_prints_connection_strings_and_stop_cleans_up(pg_install: PgInstall) -> None:
    env = {"PGTOP_PG_BIN": str(pg_install.bindir)}
    started = pgtop(
        "demo", "--keep", "--duration", "30", "--clients", "2", "--refresh", "1", env=env
    )
    assert started.returncode == 0, started.stderr
    directory = re.search(r"pgtop lab running in (\S+)", started.stdout)
    assert directory, started.stdout
    state = LabState.load(Path(directory.group(1)))
    try:
        assert "password=" not in started.stdout
        monitor = re.search(r"^monitor\s+(.+)$", started.stdout, re.MULTILINE)
        assert monitor, started.stdout
        with psycopg.connect(monitor.group(1)) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        assert "pgtop demo --stop" in started.stdout
        printed = re.search(r"^monitor it:\s+(.+)$", started.stdout, re.MULTILINE)
        assert printed, started.stdout
        assert printed.group(1).endswith(" --refresh 1")  # the monitor's option, kept for it
        assert all(pid_alive(pid) for pid in state.pids())
    finally:
        stopped = pgtop("demo", "--stop", state.directory, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert [pid for pid in state.pids() if pid_alive(pid)] == []
    assert not Path(state.directory).exists()


def test_snapshot_refuses_to_overwrite(tmp_path: Path, lab: Lab) -> None:
    target = tmp_path / "snap.json"
    target.write_text("keep me")
    line = assert_one_line_error(
        pgtop("snapshot", lab.monitor_dsn(), "--duration", "1", "-o", str(target)), 2
    )
    assert "--force" in line
    assert target.read_text() == "keep me"


@pytest.fixture
def file_logging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """pgtop.cli.main in this process: its log goes to a temp folder, and the root logger's
    handlers are put back afterwards (logs.configure replaces them)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("file_logging")
@pytest.mark.parametrize("change", ["folder gone", "file appeared"])
def test_snapshot_output_changed_while_sampling(
    change: str,
    tmp_path: Path,
    lab: Lab,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """-o is checked before sampling and again by the write itself: what changed meanwhile is
    one line naming the path, exit 1, and nothing written (no temp file either)."""
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "snap.json"
    collect = snapshot._collect

    async def then_change(*args: Any) -> list[Any]:
        samples = await collect(*args)
        if change == "folder gone":
            folder.rmdir()
        else:
            target.write_text("not mine")
        return samples

    monkeypatch.setattr(snapshot, "_collect", then_change)
    code = main(["snapshot", lab.monitor_dsn(), "--duration", "1", "-o", str(target)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, ""), err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"pgtop: {target} appeared" if change == "file appeared" else "pgtop: ")
    assert str(target) in err
    assert "nothing written" in err
    if change == "folder gone":
        assert not folder.exists()
    else:
        assert [p.name for p in folder.iterdir()] == ["snap.json"]
        assert target.read_text() == "not mine"
