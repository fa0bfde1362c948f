"""Issue 13 on a real server: statements carrying passwords are run for real (pg_stat_statements
keeps them as written), and two are left running (pg_stat_activity shows their whole text, one
of them cut inside the password by track_activity_query_size). Then the secrets are looked for
everywhere pgtop shows text: the collected Sample, ``pgtop snapshot``'s JSON and its log file,
the running app's panes and detail screen, and the app's log file. The statements must still
be there, with only the secrets masked.

Forms needing a contrib extension (dblink, postgres_fdw) are skipped, with the reason, where the
installation lacks it. Every role, server, user mapping, subscription and extension made here is
dropped again, and the statements are removed from pg_stat_statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pgtop import logs
from pgtop.collect.sampler import Sampler
from pgtop.commands.targets import Targets, make_sources
from pgtop.config import load_config
from pgtop.lab import Lab
from pgtop.model import Sample
from pgtop.redact import MASK as M
from pgtop.ui.app import PgtopApp, make_app
from tests.collect_fixtures import connected, poll_until, running, su, until

pytestmark = pytest.mark.lab

WAIT_S = 20.0
EXTENSIONS = ("dblink", "postgres_fdw")


@dataclass(frozen=True)
class Form:
    """Statements to run, what pg_stat_statements must then show through pgtop (``expected``,
    secrets masked) and the secrets that must appear nowhere (``needles``)."""

    name: str
    run: tuple[str, ...]
    expected: tuple[str, ...]
    needles: tuple[str, ...]
    needs: str | None = None  # a contrib extension


def forms(port: int, t: str) -> list[Form]:
    """Every form, in the order they run (role B's password changes along the way)."""
    at = f"127.0.0.1:{port}"
    srv = "pgtop_redact_srv"
    return [
        Form(
            "create role, doubled quote",
            (f"CREATE ROLE pgtop_redact_a LOGIN PASSWORD 'pgtopA1{t}''q'",),
            (f"CREATE ROLE pgtop_redact_a LOGIN PASSWORD '{M}'",),
            (f"pgtopA1{t}",),
        ),
        Form(
            "alter role, E'' escapes",
            (f"ALTER ROLE pgtop_redact_a WITH ENCRYPTED PASSWORD E'pgtopA2{t}\\'q'",),
            (f"ALTER ROLE pgtop_redact_a WITH ENCRYPTED PASSWORD E'{M}'",),
            (f"pgtopA2{t}",),
        ),
        Form(
            "create user, dollar quotes",
            (f"CREATE USER pgtop_redact_b PASSWORD $$pgtopB1{t}$$",),
            (f"CREATE USER pgtop_redact_b PASSWORD $${M}$$",),
            (f"pgtopB1{t}",),
        ),
        Form(
            "alter user, tagged dollar quotes, comment and newline",
            (f"ALTER USER pgtop_redact_b\n\tPASSWORD /* new */ $pw$pgtopB2{t}$pw$",),
            (f"ALTER USER pgtop_redact_b\n\tPASSWORD /* new */ $pw${M}$pw$",),
            (f"pgtopB2{t}",),
        ),
        Form(
            "dblink conninfo in a DO body",
            (
                "DO $$BEGIN PERFORM dblink_connect('pgtop_redact', 'host=127.0.0.1 "
                f"port={port} dbname=app user=pgtop_redact_b password=pgtopB2{t}');"
                " PERFORM dblink_disconnect('pgtop_redact'); END$$",
            ),
            (
                "DO $$BEGIN PERFORM dblink_connect('pgtop_redact', 'host=127.0.0.1 "
                f"port={port} dbname=app user=pgtop_redact_b password={M}');"
                " PERFORM dblink_disconnect('pgtop_redact'); END$$",
            ),
            (f"pgtopB2{t}",),
            needs="dblink",
        ),
        Form(
            "dblink_exec: a URI, and ALTER ROLE … PASSWORD run on the other side",
            (
                "DO $$BEGIN PERFORM dblink_exec("
                f"'postgresql://pgtop_redact_b:pgtopB2{t}@{at}/app',"
                f" 'ALTER ROLE pgtop_redact_b PASSWORD ''pgtopB3{t}'''); END$$",
            ),
            (
                "DO $$BEGIN PERFORM dblink_exec("
                f"'postgresql://pgtop_redact_b:{M}@{at}/app',"
                f" 'ALTER ROLE pgtop_redact_b PASSWORD ''{M}'''); END$$",
                f"ALTER ROLE pgtop_redact_b PASSWORD '{M}'",
            ),
            (f"pgtopB2{t}", f"pgtopB3{t}"),
            needs="dblink",
        ),
        Form(
            "dblink URI ?password= parameter",
            (
                "DO $$BEGIN PERFORM dblink_connect('pgtop_redact', "
                f"'postgres://pgtop_redact_b@{at}/app?password=pgtopB3{t}&application_name=x');"
                " PERFORM dblink_disconnect('pgtop_redact'); END$$",
            ),
            (
                "DO $$BEGIN PERFORM dblink_connect('pgtop_redact', "
                f"'postgres://pgtop_redact_b@{at}/app?password={M}&application_name=x');"
                " PERFORM dblink_disconnect('pgtop_redact'); END$$",
            ),
            (f"pgtopB3{t}",),
            needs="dblink",
        ),
        Form(
            "postgres_fdw user mapping",
            (
                f"CREATE SERVER {srv} FOREIGN DATA WRAPPER postgres_fdw"
                f" OPTIONS (host '127.0.0.1', port '{port}', dbname 'app')",
                f"CREATE USER MAPPING FOR pgtop_redact_b SERVER {srv}"
                f" OPTIONS (user 'pgtop_redact_b', password 'pgtopF1{t}')",
                f"ALTER USER MAPPING FOR pgtop_redact_b SERVER {srv}"
                f" OPTIONS (SET password E'pgtopF2{t}')",
                f"ALTER USER MAPPING FOR pgtop_redact_b SERVER {srv} OPTIONS (DROP password)",
                f"ALTER USER MAPPING FOR pgtop_redact_b SERVER {srv}"
                f' OPTIONS (ADD "password" $$pgtopF3{t}$$)',
            ),
            (
                f"CREATE USER MAPPING FOR pgtop_redact_b SERVER {srv}"
                f" OPTIONS (user 'pgtop_redact_b', password '{M}')",
                f"ALTER USER MAPPING FOR pgtop_redact_b SERVER {srv} OPTIONS (SET password E'{M}')",
                f"ALTER USER MAPPING FOR pgtop_redact_b SERVER {srv}"
                f' OPTIONS (ADD "password" $${M}$$)',
            ),
            (f"pgtopF1{t}", f"pgtopF2{t}", f"pgtopF3{t}"),
            needs="postgres_fdw",
        ),
        Form(
            "server options",
            (
                "CREATE FOREIGN DATA WRAPPER pgtop_redact_fdw",  # no validator: any option
                "CREATE SERVER pgtop_redact_raw FOREIGN DATA WRAPPER pgtop_redact_fdw"
                f" OPTIONS (host 'h', password 'pgtopG1{t}')",
                f"ALTER SERVER pgtop_redact_raw OPTIONS (SET password 'pgtopG2{t}')",
            ),
            (
                "CREATE SERVER pgtop_redact_raw FOREIGN DATA WRAPPER pgtop_redact_fdw"
                f" OPTIONS (host 'h', password '{M}')",
                f"ALTER SERVER pgtop_redact_raw OPTIONS (SET password '{M}')",
            ),
            (f"pgtopG1{t}", f"pgtopG2{t}"),
        ),
        Form(
            "subscription conninfo, URI and quoted value",
            (
                "CREATE SUBSCRIPTION pgtop_redact_sub CONNECTION 'host=127.0.0.1"
                f" port={port} dbname=app user=pgtop_redact_b password=pgtopH1{t}'"
                " PUBLICATION pgtop_redact_pub"
                " WITH (connect = false, slot_name = NONE, enabled = false)",
                "ALTER SUBSCRIPTION pgtop_redact_sub CONNECTION"
                f" 'postgresql://pgtop_redact_b:pgtopH2{t}@{at}/app'",
                "ALTER SUBSCRIPTION pgtop_redact_sub CONNECTION"
                f" 'host=127.0.0.1 password=''pgtop H3{t}'''",
            ),
            (
                "CREATE SUBSCRIPTION pgtop_redact_sub CONNECTION 'host=127.0.0.1"
                f" port={port} dbname=app user=pgtop_redact_b password={M}'"
                " PUBLICATION pgtop_redact_pub"
                " WITH (connect = false, slot_name = NONE, enabled = false)",
                "ALTER SUBSCRIPTION pgtop_redact_sub CONNECTION"
                f" 'postgresql://pgtop_redact_b:{M}@{at}/app'",
                f"ALTER SUBSCRIPTION pgtop_redact_sub CONNECTION 'host=127.0.0.1 password=''{M}'''",
            ),
            (f"pgtopH1{t}", f"pgtopH2{t}", f"H3{t}"),
        ),
    ]


FORM_NAMES = [form.name for form in forms(0, "")]


def sleeper_text(t: str) -> tuple[str, str, tuple[str, ...]]:
    """A multi-statement message whose first statement sleeps: pg_stat_activity shows all of it
    while the sleep runs (nothing after it runs: the sleep is cancelled)."""
    text = (
        "SELECT pg_sleep(60) /* pgtop-redact-sleeper */;\n"
        "CREATE ROLE pgtop_redact_never LOGIN PASSWORD '{R1}';\n"
        "ALTER USER MAPPING FOR pgtop_redact_never SERVER pgtop_redact_srv"
        " OPTIONS (ADD password E'{R2}');\n"
        "ALTER SUBSCRIPTION pgtop_redact_never CONNECTION 'host=h password={R3}';\n"
        "SELECT dblink_connect('postgresql://u:{R4}@h/db')"
    )
    values = {f"R{i}": f"pgtopR{i}{t}" for i in range(1, 5)}
    return text.format(**values), text.format(**dict.fromkeys(values, M)), tuple(values.values())


CUT_HEAD = "SELECT pg_sleep(60) /* pgtop-redact-cut */; CREATE ROLE pgtop_redact_never PASSWORD '"


@dataclass
class Arranged:
    forms: list[Form]
    missing: dict[str, str]  # form name -> why skipped
    sleeper_pid: int
    sleeper_expected: str
    cut_pid: int
    needles: list[str] = field(default_factory=list)

    def form(self, name: str) -> Form:
        return next(f for f in self.forms if f.name == name)

    def present(self) -> list[Form]:
        return [f for f in self.forms if f.name not in self.missing]

    def expected(self) -> list[str]:
        return [text for form in self.present() for text in form.expected]


def _cleanup(lab: Lab, created_extensions: list[str]) -> None:
    with su(lab) as conn:
        for statement in (
            "DROP SUBSCRIPTION IF EXISTS pgtop_redact_sub",
            "DROP SERVER IF EXISTS pgtop_redact_raw CASCADE",
            "DROP FOREIGN DATA WRAPPER IF EXISTS pgtop_redact_fdw CASCADE",
            "DROP SERVER IF EXISTS pgtop_redact_srv CASCADE",  # and its user mapping
            *(f"DROP EXTENSION IF EXISTS {name}" for name in created_extensions),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename IN ('pgtop_redact_a', 'pgtop_redact_b')",
            "DROP ROLE IF EXISTS pgtop_redact_a",
            "DROP ROLE IF EXISTS pgtop_redact_b",
            "SELECT pg_stat_statements_reset(s.userid, s.dbid, s.queryid)"
            " FROM pg_stat_statements AS s WHERE s.query LIKE '%pgtop_redact%'",
        ):
            conn.execute(statement)


@pytest.fixture(scope="module")
def arranged(lab: Lab) -> Iterator[Arranged]:
    t = secrets.token_hex(6)
    all_forms = forms(lab.primary.port, t)
    with su(lab) as conn:
        available = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)", (list(EXTENSIONS),)
            )
        }
        installed = {
            name
            for (name,) in conn.execute(
                "SELECT extname FROM pg_extension WHERE extname = ANY(%s)", (list(EXTENSIONS),)
            )
        }
    created = [name for name in EXTENSIONS if name in available and name not in installed]
    _cleanup(lab, [])
    missing = {
        form.name: f"the {form.needs} extension is not available on this installation"
        for form in all_forms
        if form.needs is not None and form.needs not in available
    }
    try:
        with su(lab) as conn:
            for name in created:
                conn.execute(f"CREATE EXTENSION {name}")
            for form in all_forms:
                if form.name not in missing:
                    for statement in form.run:
                        conn.execute(statement)
        text, expected, sleeper_needles = sleeper_text(t)
        cut_secret = f"pgtopT1{t}" + "z" * 5000  # past track_activity_query_size (4 kB)
        with (
            running(lab.superuser_dsn(), text) as sleeper,
            running(lab.superuser_dsn(), CUT_HEAD + cut_secret + "'") as cut,
        ):
            needles = [n for f in all_forms for n in f.needles]
            needles += [*sleeper_needles, cut_secret[:20], "zzzzzzzz"]
            yield Arranged(all_forms, missing, sleeper, expected, cut, needles)
    finally:
        _cleanup(lab, created)


def _skip_if_missing(arranged: Arranged, form: Form) -> None:
    if form.name in arranged.missing:
        pytest.skip(arranged.missing[form.name])


def _statement_texts(sample: Sample) -> set[str]:
    return {s.query for s in sample.statements}


def _all_seen(sample: Sample, a: Arranged) -> bool:
    """Both running statements and every statement run, masked or not (the tests judge)."""
    pids = {b.pid for b in sample.activity}
    texts = _statement_texts(sample)
    return {a.sleeper_pid, a.cut_pid} <= pids and all(
        any(text.startswith(e.split(M)[0]) for text in texts) for e in a.expected()
    )


@pytest.fixture(scope="module")
def sample(lab: Lab, arranged: Arranged) -> Sample:
    async def poll() -> Sample:
        async with connected(lab.monitor_dsn()) as source:
            return await poll_until(
                source, lambda s: _all_seen(s, arranged), what="every form", timeout_s=WAIT_S
            )

    return asyncio.run(poll())


@dataclass
class Snapshot:
    raw: str
    document: dict[str, Any]
    log: str


@pytest.fixture(scope="module")
def snapshot(lab: Lab, arranged: Arranged, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    state = tmp_path_factory.mktemp("redact-snapshot")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["XDG_STATE_HOME"] = str(state)  # where pgtop's log goes (platformdirs)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgtop",
            "snapshot",
            lab.monitor_dsn(),
            "--duration",
            "1",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    log = "".join(p.read_text(errors="replace") for p in state.rglob("*.log*"))
    return Snapshot(result.stdout + result.stderr, json.loads(result.stdout), log)


def _assert_nowhere(text: str, a: Arranged, where: str) -> None:
    found = [needle for needle in a.needles if needle in text]
    assert found == [], f"secrets {found} in {where}"


# --------------------------------------------------------------------------- statements


@pytest.mark.parametrize("name", FORM_NAMES)
def test_each_form_reaches_the_sample_masked(arranged: Arranged, sample: Sample, name: str) -> None:
    form = arranged.form(name)
    _skip_if_missing(arranged, form)
    texts = _statement_texts(sample)
    for expected in form.expected:
        assert expected in texts
    blob = repr(sample)
    for needle in form.needles:
        assert needle not in blob


@pytest.mark.parametrize("name", FORM_NAMES)
def test_each_form_reaches_the_snapshot_masked(
    arranged: Arranged, snapshot: Snapshot, name: str
) -> None:
    form = arranged.form(name)
    _skip_if_missing(arranged, form)
    for needle in form.needles:
        assert needle not in snapshot.raw
        assert needle not in snapshot.log
    texts = {s["query"] for s in snapshot.document["statements"]["latest_interval"]}
    for expected in form.expected:
        assert expected in texts


# --------------------------------------------------------------------------- activity


def test_a_running_multi_statement_text_is_masked(arranged: Arranged, sample: Sample) -> None:
    sleeper = next(b for b in sample.activity if b.pid == arranged.sleeper_pid)
    assert sleeper.query == arranged.sleeper_expected
    _assert_nowhere(repr(sample.activity), arranged, "the activity rows")


def test_a_text_cut_inside_the_password_is_masked_to_its_end(
    arranged: Arranged, sample: Sample
) -> None:
    cut = next(b for b in sample.activity if b.pid == arranged.cut_pid)
    assert cut.query == CUT_HEAD + M  # the server cut the text; pgtop masked the open literal


def test_the_snapshot_activity_is_masked(arranged: Arranged, snapshot: Snapshot) -> None:
    rows = {row["pid"]: row["query"] for row in snapshot.document["activity"]}
    assert rows[arranged.sleeper_pid] == arranged.sleeper_expected
    assert rows[arranged.cut_pid] == CUT_HEAD + M
    _assert_nowhere(snapshot.raw, arranged, "the snapshot")
    _assert_nowhere(snapshot.log, arranged, "the snapshot's log")


# --------------------------------------------------------------------------- the running app


def _cells(app: PgtopApp, pane: str) -> dict[str, str]:
    table = app.panes[pane].table
    return {key: " ".join(c.plain for c in table.get_row(key)) for key in table.shown_keys}


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    logs.configure(path, level=logging.DEBUG)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "baseFilename", None) == str(path.resolve()):
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


async def _open_details(app: PgtopApp, pilot: Any, pane: str, key: str) -> str:
    """The screen with the row's details open: its SVG text (closed again afterwards)."""
    main = app.screen
    assert app.panes[pane].table.select_key(key)
    await pilot.press("enter")
    await until(lambda: app.screen is not main, f"the details of {pane} row {key}", WAIT_S)
    await pilot.pause()
    screen = app.export_screenshot()
    await pilot.press("escape")
    await until(lambda: app.screen is main, "the details to close", WAIT_S)
    return screen


async def test_the_app_shows_the_texts_masked(
    lab: Lab, arranged: Arranged, sample: Sample, tmp_path: Path
) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    config = load_config(config_file, env={}, overrides={})
    sampler = Sampler(make_sources(Targets(lab.monitor_dsn(), (), None), config), interval=0.5)
    app = make_app(config, sampler, read_only=True, state_path=tmp_path / "state.toml")
    log_file = tmp_path / "pgtop.log"
    screens: list[str] = []
    with _log_to(log_file):
        async with app.run_test(size=(200, 50)) as pilot:
            sleeper, cut = str(arranged.sleeper_pid), str(arranged.cut_pid)
            activity = await until(
                lambda: (c := _cells(app, "activity")) and sleeper in c and cut in c and c,
                "the running statements in the activity pane",
                WAIT_S,
            )
            assert "CREATE ROLE pgtop_redact_never LOGIN PASSWORD '•••'" in activity[sleeper]
            screens.append(app.export_screenshot())
            details = await _open_details(app, pilot, "activity", sleeper)
            assert "•••" in details
            screens.append(details)
            screens.append(await _open_details(app, pilot, "activity", cut))

            await pilot.press("5")
            expected = arranged.expected()
            statements = await until(
                lambda: (
                    (c := _cells(app, "statements"))
                    and sum(1 for v in c.values() if "pgtop_redact" in v) >= len(expected)
                    and c
                ),
                "the statements in the statements pane",
                WAIT_S,
            )
            screens.append(app.export_screenshot())
            ours = [key for key, cells in statements.items() if "pgtop_redact_a" in cells]
            assert ours
            details = await _open_details(app, pilot, "statements", ours[0])
            assert "PASSWORD" in details
            assert "•••" in details
            screens.append(details)
            shown = " ".join(statements.values()) + " ".join(activity.values())
        assert app._exception is None  # noqa: SLF001
    _assert_nowhere(shown, arranged, "the table cells")
    for number, screen in enumerate(screens):
        _assert_nowhere(screen, arranged, f"screen {number}")
    _assert_nowhere(log_file.read_text(errors="replace"), arranged, "the app's log file")
