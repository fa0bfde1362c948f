"""Every option of every command, given a bad value, as a careful user would try it: refused in
one line on stderr starting "pgtop:", with the stated exit code, before anything starts (no
connection, no lab, no process) and before anything is written (no file, no temp file).

The table below is checked against the parsers themselves (their actions, sub-parsers
included): an option added without a bad-value case here fails
``test_every_option_has_a_bad_value_case``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pgtop import cli, logs
from pgtop.commands import demo, monitor, snapshot
from pgtop.commands.targets import Targets
from pgtop.config import ConfigError, Source, load_config
from pgtop.conninfo import UsageError
from pgtop.feed import RecordedFeed
from pgtop.lab import child_pids
from pgtop.themes import resolve_theme_name

OUT = "{out}/snap.json"
"""Where snapshot cases would write: the folder must stay empty."""


@dataclass(frozen=True)
class Bad:
    """One bad value: the arguments after the command, the exit code and a word of the line."""

    args: tuple[str, ...]
    code: int
    says: str
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    """Files to create first, relative to the test's root (config.toml, state.toml …)."""


def _ranges(option: str, *values: str, prefix: tuple[str, ...] = ()) -> list[Bad]:
    return [Bad((*prefix, option, value), 2, option) for value in values]


CONFIG_TOML = "config/pgtop/config.toml"
SECONDS = ("0", "-5", "nan", "inf", "1e999", "abc", "")

MONITOR = "pgtop"
DEMO = "pgtop demo"
SNAPSHOT = "pgtop snapshot"
BASELINE = "pgtop baseline"
BASELINE_DIFF = "pgtop baseline diff"

ARGV = {
    MONITOR: (),
    DEMO: ("demo",),
    SNAPSHOT: ("snapshot",),
    BASELINE: ("baseline",),
    BASELINE_DIFF: ("baseline", "diff"),
}

# command -> option (its longest option string, or the dest of a positional) -> bad values
TABLE: dict[str, dict[str, list[Bad]]] = {
    MONITOR: {
        "dsn": [
            Bad(("host=h port=99999",), 2, "port"),
            Bad(("postgresql://u@h:abc/db",), 2, "port"),
        ],
        "--pgbouncer": [
            Bad(("{dsn}", "--pgbouncer", "host=127.0.0.1 port=6432 dbname=app"), 2, "console"),
            Bad(("{dsn}", "--pgbouncer", ""), 2, "--pgbouncer"),
            Bad(("{dsn}", "--pgbouncer", "host=h port=0"), 2, "port"),
            Bad(("{dsn}", "--pgbouncer", "{dsn} dbname=pgbouncer"), 2, "same server"),
        ],
        "--replica": [
            Bad(("{dsn}", "--replica", "{dsn}"), 2, "same server as the DSN"),
            Bad(
                (
                    "{dsn}",
                    "--replica",
                    "host=127.0.0.1 port=2",
                    "--replica",
                    "port=2 host=127.0.0.1",
                ),
                2,
                "given twice",
            ),
            Bad(("{dsn}", "--replica", "host=h port=-1"), 2, "port"),
        ],
        "--refresh": _ranges("--refresh", *SECONDS, "0.4", "61", prefix=("{dsn}",)),
        "--read-only": [Bad(("{dsn}", "--read-only=yes"), 2, "--read-only")],
        "--theme": [
            Bad(("{dsn}", "--theme", "no-such-theme"), 2, "pgtop-dark"),
            Bad(("{dsn}", "--theme", " "), 2, "--theme"),
            Bad(("{dsn}",), 2, "PGTOP_THEME", env={"PGTOP_THEME": "no-such-theme"}),
            Bad(
                ("{dsn}",),
                2,
                "monitor.theme in",
                files={CONFIG_TOML: '[monitor]\ntheme = "no-such-theme"\n'},
            ),
        ],
        "--baseline": [
            Bad(("{dsn}", "--baseline", "{root}/missing.md"), 1, "no such file"),
            Bad(
                ("{dsn}", "--baseline", "{root}/notes.md"),
                1,
                "not a pgtop baseline",
                files={"notes.md": "# my notes\n"},
            ),
            Bad(
                ("{dsn}", "--baseline", "{root}/bin.md"),
                1,
                "bin.md",
                files={"bin.md": "\x00\x01binary"},
            ),
        ],
        "--config": [
            Bad(("{dsn}", "--config", "{root}/missing.toml"), 2, "missing.toml"),
            Bad(("{dsn}", "--config", ""), 2, "config file"),
            Bad(
                ("{dsn}", "--config", "{root}/bad.toml"),
                2,
                "line 2",
                files={"bad.toml": "[monitor]\nrefresh = = 2\n"},
            ),
            Bad(
                ("{dsn}", "--config", "{root}/zero.toml"),
                2,
                "refresh",
                files={"zero.toml": "[monitor]\nrefresh = 0\n"},
            ),
        ],
        "--version": [Bad(("--version=x",), 2, "--version")],
        "--help": [Bad(("--help=x",), 2, "--help")],
    },
    DEMO: {
        "--keep": [
            Bad(("--keep=x",), 2, "--keep"),
            Bad(("--keep", "--stop", "{root}"), 2, "not allowed with"),
        ],
        "--stop": [
            Bad(("--stop", "{root}/no-lab"), 1, "not a pgtop lab directory"),
            Bad(("--stop", "{root}", "--duration", "5"), 2, "takes no other option"),
            Bad(("--stop", "{root}", "--theme", "dark", "--clients", "2"), 2, "--clients"),
        ],
        "--duration": _ranges("--duration", *SECONDS, "86401", prefix=("--keep",)),
        "--clients": _ranges("--clients", "0", "-1", "201", "2.5", "abc", "", prefix=("--keep",)),
        "--refresh": _ranges("--refresh", *SECONDS, "61", prefix=("--keep",)),
        "--theme": [
            Bad(("--keep", "--theme", "no-such-theme"), 2, "pgtop-light"),
            Bad(("--theme", "no-such-theme"), 2, "unknown theme"),
            Bad(("--keep",), 2, "PGTOP_THEME", env={"PGTOP_THEME": "no-such-theme"}),
        ],
        "--config": [Bad(("--keep", "--config", "{root}/missing.toml"), 2, "missing.toml")],
        "--help": [Bad(("--help=x",), 2, "--help")],
    },
    SNAPSHOT: {
        "dsn": [Bad(("host=h port=99999", "-o", OUT), 2, "port")],
        "--pgbouncer": [
            Bad(("{dsn}", "-o", OUT, "--pgbouncer", "host=h dbname=app"), 2, "console"),
            Bad(("{dsn}", "-o", OUT, "--pgbouncer", "host=h port=x"), 2, "port"),
        ],
        "--replica": [
            Bad(("{dsn}", "-o", OUT, "--replica", "{dsn}"), 2, "same server"),
            Bad(("{dsn}", "-o", OUT, "--replica", "port=2", "--replica", "port=2"), 2, "twice"),
        ],
        "--duration": [
            *_ranges("--duration", *SECONDS, "0.5", "86401", prefix=("{dsn}", "-o", OUT)),
            Bad(("{dsn}", "-o", OUT, "--duration", "2", "--interval", "5"), 2, "longer than"),
            Bad(
                ("{dsn}", "-o", OUT, "--interval", "60"),
                2,
                "duration_s",
                files={CONFIG_TOML: "[snapshot]\nduration_s = 10\n"},
            ),
        ],
        "--interval": _ranges("--interval", *SECONDS, "0.4", "61", prefix=("{dsn}", "-o", OUT)),
        "--format": [
            Bad(("{dsn}", "-o", OUT, "--format", "xml"), 2, "--format"),
            Bad(("{dsn}", "-o", "-", "--format", "html"), 2, "--format"),
        ],
        "--output": [
            Bad(("{dsn}", "-o", "{root}/no-folder/snap.json"), 1, "no-folder"),
            Bad(("{dsn}", "-o", "{unwritable}/snap.json"), 1, "cannot write"),
            Bad(("{dsn}", "-o", "{keep}/existing.json/snap.json"), 1, "is not a folder"),
            Bad(("{dsn}", "-o", "{keep}/existing.json"), 2, "--force"),
            Bad(("{dsn}", "-o", "{out}"), 2, "is a folder"),
            Bad(("{dsn}", "-o", "{out}", "--force"), 2, "is a folder"),
            Bad(("{dsn}", "-o", ""), 2, "file"),
        ],
        "--force": [
            Bad(("{dsn}", "--force"), 2, "-o"),
            Bad(("{dsn}", "-o", OUT, "--force=x"), 2, "--force"),
        ],
        "--redact": [Bad(("{dsn}", "-o", OUT, "--redact=yes"), 2, "--redact")],
        "--config": [Bad(("{dsn}", "-o", OUT, "--config", "{root}/missing.toml"), 2, "missing")],
        "--help": [Bad(("--help=x",), 2, "--help")],
    },
    BASELINE: {
        "action": [Bad((), 2, "ACTION"), Bad(("frob",), 2, "frob")],
        "--help": [Bad(("--help=x",), 2, "--help")],
    },
    BASELINE_DIFF: {
        "old": [
            Bad(("{root}/missing-old.md", "{root}/new.md"), 1, "missing-old.md"),
            Bad(
                ("{root}/notes.md", "{root}/notes.md"),
                1,
                "not a pgtop baseline",
                files={"notes.md": "# my notes\n"},
            ),
        ],
        "new": [Bad(("{root}/old.md",), 2, "NEW")],
        "--fail-on": [Bad(("{root}/a.md", "{root}/b.md", "--fail-on", "info"), 2, "--fail-on")],
        "--config": [
            Bad(("{root}/a.md", "{root}/b.md", "--config", "{root}/missing.toml"), 2, "missing")
        ],
        "--help": [Bad(("--help=x",), 2, "--help")],
    },
}


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser of the CLI by its prog, sub-parsers included (argparse lists its actions
    and sub-parsers only through these private names)."""
    found: dict[str, argparse.ArgumentParser] = {}
    todo = [cli.monitor_parser(), cli.demo_parser(), cli.snapshot_parser(), cli.baseline_parser()]
    while todo:
        parser = todo.pop()
        found[parser.prog] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
    return found


def _key(action: argparse.Action) -> str:
    return max(action.option_strings, key=len) if action.option_strings else action.dest


def test_every_option_has_a_bad_value_case() -> None:
    parsers = _parsers()
    assert set(parsers) == set(TABLE), "a command without cases, or cases for no command"
    for prog, parser in parsers.items():
        options = {_key(action) for action in parser._actions}
        missing = options - set(TABLE[prog])
        assert not missing, f"{prog}: no bad-value case for {sorted(missing)}"
        stale = set(TABLE[prog]) - options
        assert not stale, f"{prog}: cases for options it does not have: {sorted(stale)}"
        assert all(TABLE[prog].values()), f"{prog}: an option with an empty list of cases"


# --------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class World:
    root: Path
    dsn: str
    """A loopback port nobody listens on: reaching the connection would fail differently."""
    out: Path
    keep: Path
    unwritable: Path

    def fill(self, text: str) -> str:
        return text.format(
            root=self.root, dsn=self.dsn, out=self.out, keep=self.keep, unwritable=self.unwritable
        )

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.root / "home"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_STATE_HOME": str(self.root / "state"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "TMPDIR": str(self.root / "tmp"),
        }

    def pgtop(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The real CLI in a child process, in this world (no PG* variable but ``env``)."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return subprocess.run(
            [sys.executable, "-m", "pgtop", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**inherited, **self.env(), **env},
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def written(self) -> dict[str, bytes]:
        """Every file where a case could write, with its contents."""
        return {
            str(p): p.read_bytes()
            for folder in (self.out, self.keep, self.root / "tmp")
            for p in folder.rglob("*")
            if p.is_file()
        }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for folder in ("home", "config", "state", "cache", "tmp", "out", "keep"):
        (tmp_path / folder).mkdir()
    (tmp_path / "keep" / "existing.json").write_text("keep me")
    unwritable = tmp_path / "unwritable"
    unwritable.mkdir()
    if os.geteuid() == 0:  # root writes anywhere it has a folder: use one no one can create in
        unwritable = Path("/sys")
    else:
        unwritable.chmod(0o555)
    w = World(
        root=tmp_path,
        dsn=f"host=127.0.0.1 port={_closed_port()} dbname=app connect_timeout=2",
        out=tmp_path / "out",
        keep=tmp_path / "keep",
        unwritable=unwritable,
    )
    for name in list(os.environ):
        if name.startswith(("PG", "PGTOP_")):
            monkeypatch.delenv(name)
    for name, value in w.env().items():
        monkeypatch.setenv(name, value)
    yield w
    (tmp_path / "unwritable").chmod(0o755)


class _Started(BaseException):
    """Something started that a refused option must never start (main() does not catch it)."""


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Connecting (the preflight) and a lab fail the test; so does a process left behind."""
    started: list[str] = []

    def refuse(what: str) -> object:
        def start(*_args: object, **_kwargs: object) -> None:
            started.append(what)
            raise _Started(what)

        return start

    monkeypatch.setattr(monitor, "preflight", refuse("monitor connect"))
    monkeypatch.setattr(snapshot, "preflight", refuse("snapshot connect"))
    monkeypatch.setattr(demo, "Lab", refuse("demo lab"))
    monkeypatch.setattr(demo, "run_ui", refuse("demo monitor"))
    children = set(child_pids(os.getpid()))
    yield started
    assert started == []
    assert set(child_pids(os.getpid())) <= children, "a process was left behind"


def _cases() -> Iterator[object]:
    for prog, options in TABLE.items():
        for option, cases in options.items():
            for n, case in enumerate(cases):
                yield pytest.param(prog, case, id=f"{prog[6:] or 'monitor'} {option} {n}")


def _check_line(err: str, case: Bad, world: World) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("pgtop: ")
    assert "Traceback" not in err
    assert world.fill(case.says) in line
    assert "cannot connect" not in line
    assert "unexpected error" not in line
    return line


@pytest.mark.parametrize(("prog", "case"), list(_cases()))
def test_a_bad_value_is_refused_before_anything_starts(
    prog: str,
    case: Bad,
    world: World,
    nothing_starts: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    for name, text in case.files.items():
        (world.root / name).parent.mkdir(parents=True, exist_ok=True)
        (world.root / name).write_text(text)
    before = world.written()
    code = cli.main([*ARGV[prog], *(world.fill(a) for a in case.args)])
    out, err = capsys.readouterr()
    assert (code, out) == (case.code, ""), err
    _check_line(err, case, world)
    assert world.written() == before, "a file was written"


# --------------------------------------------------------------------------- the real exit path

REAL = [
    pytest.param(MONITOR, Bad(("{dsn}", "--baseline", "{root}/x.md"), 1, "x.md"), id="baseline"),
    pytest.param(MONITOR, Bad(("{dsn}", "--theme", "no-such-theme"), 2, "no-such"), id="theme"),
    pytest.param(SNAPSHOT, Bad(("{dsn}", "-o", OUT, "--redact=x"), 2, "--redact"), id="redact"),
    pytest.param(
        SNAPSHOT, Bad(("{dsn}", "-o", OUT, "--duration", "-5"), 2, "--duration"), id="duration"
    ),
    pytest.param(
        SNAPSHOT,
        Bad(("{dsn}", "-o", "{unwritable}/snap.json"), 1, "{unwritable}/snap.json"),
        id="unwritable-output",
    ),
    pytest.param(DEMO, Bad(("--clients", "0"), 2, "--clients"), id="demo-clients"),
    pytest.param(BASELINE_DIFF, Bad(("a.md", "b.md"), 1, "a.md: no such file"), id="baseline-diff"),
]


@pytest.mark.parametrize(("prog", "case"), REAL)
def test_the_real_cli_exits_with_one_line(prog: str, case: Bad, world: World) -> None:
    before = world.written()
    result = world.pgtop(*ARGV[prog], *(world.fill(a) for a in case.args))
    assert (result.returncode, result.stdout) == (case.code, ""), result.stderr
    _check_line(result.stderr, case, world)
    assert world.written() == before
    assert list((world.root / "tmp").iterdir()) == [], "a lab or a temp file was left"


def test_without_a_dsn_the_failure_says_where_the_primary_came_from(world: World) -> None:
    """``pgtop --pgbouncer DSN`` alone still watches a primary: libpq's defaults choose it, as
    for psql, and a failure to reach it says so instead of naming a server never given."""
    port = world.dsn.split("port=")[1].split()[0]
    bouncer = "host=127.0.0.1 port=1 dbname=pgbouncer"  # never reached: the primary fails first
    result = world.pgtop("--pgbouncer", bouncer, PGHOST="127.0.0.1", PGPORT=port)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("pgtop: no DSN given, so PG* variables"), result.stderr
    assert f"127.0.0.1:{port}" in result.stderr


# --------------------------------------------------------------------------- themes


@pytest.mark.parametrize(
    "name",
    ["dark", "DARK", "pgtop-light", "high-contrast", "nord", "textual-dark", "mine", "broken", "x"],
)
def test_the_check_and_the_app_agree_on_every_theme(
    name: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A theme refused before starting is exactly one the app would have replaced."""
    from pgtop.ui.app import make_app

    themes = world.root / "config" / "pgtop" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#336699"\n')
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "blue"\n')
    monkeypatch.setenv("PGTOP_THEME", name)
    config = load_config()
    assert config.origin("monitor.theme") is Source.ENV
    app = make_app(config, RecordedFeed(()), state_path=world.root / "state.toml")
    kept = app.theme == resolve_theme_name(name, app.available_themes)
    if kept:
        assert monitor.check_theme(config) is None
    else:
        with pytest.raises(UsageError, match="available: .*pgtop-dark"):
            monitor.check_theme(config)


def test_a_remembered_theme_that_is_gone_is_logged_not_refused(world: World) -> None:
    state = world.root / "config" / "pgtop" / "state.toml"
    state.parent.mkdir(parents=True)
    state.write_text('theme = "deleted-theme"\n')
    note = monitor.check_theme(load_config())
    assert note is not None
    assert "deleted-theme" in note
    assert str(state) in note
    # the user's own choice wins over the remembered one: nothing to say then
    assert monitor.check_theme(load_config(overrides={"monitor.theme": "light"})) is None


def test_a_remembered_theme_that_is_gone_still_starts(world: World) -> None:
    """The real CLI goes on to connect (and fails there: no server), exit 1, not 2."""
    state = world.root / "config" / "pgtop" / "state.toml"
    state.parent.mkdir(parents=True)
    state.write_text('theme = "deleted-theme"\n')
    result = world.pgtop(world.dsn)
    assert result.returncode == 1, result.stderr
    assert "cannot connect" in result.stderr


def test_the_monitor_starts_with_the_remembered_theme(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """state.toml's theme (picked in the app) is used at the next start; --theme wins over it."""
    from pgtop.ui.app import PgtopApp

    state = world.root / "config" / "pgtop" / "state.toml"
    state.parent.mkdir(parents=True)
    state.write_text('theme = "light"\n')
    started: list[str] = []
    monkeypatch.setattr(PgtopApp, "run", lambda app, *_a, **_k: started.append(app.theme))
    monkeypatch.setattr(logs, "configure", lambda *_a, **_k: world.root / "pgtop.log")
    targets = Targets(world.dsn, (), None)
    monitor.run_ui(load_config(), targets)
    monitor.run_ui(load_config(overrides={"monitor.theme": "high-contrast"}), targets)
    assert started == ["pgtop-light", "pgtop-high-contrast"]


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("key", "bounds", "step"),
    [
        ("monitor.refresh", cli.REFRESH_S, 0.01),
        ("snapshot.duration_s", cli.SNAPSHOT_S, 1),
    ],
)
def test_the_options_accept_what_the_config_accepts(
    key: str, bounds: tuple[float, float], step: float, world: World
) -> None:
    """--refresh/--interval and snapshot --duration keep to the range of their setting."""
    low, high = bounds
    as_type = float if isinstance(step, float) else int
    for good in (low, high):
        load_config(env={}, overrides={key: as_type(good)})
    for bad in (low - step, high + step):
        with pytest.raises(ConfigError):
            load_config(env={}, overrides={key: as_type(bad)})
