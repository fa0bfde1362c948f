"""Issue 5: a client hostname from a real reverse lookup is data, never terminal instructions.

PostgreSQL fills ``pg_stat_activity.client_hostname`` (with ``log_hostname = on``) from a reverse
lookup of the client's address, so whoever controls that DNS controls the text. The fault is real:
a lab's primary runs in a private mount namespace whose ``/etc/hosts`` names 127.0.0.1 with ESC,
C1 CSI, a bidi override, BEL and Rich markup; the backends it reports over TCP carry that name.
The rest of the machine keeps its own ``/etc/hosts``. Needs root (for the namespace), as the
suite's CI machine has.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgtop.config import Config
from pgtop.feed import RecordedFeed
from pgtop.lab import Lab, PgInstall
from pgtop.model import Sample
from pgtop.text import one_line, visible
from pgtop.ui.app import make_app
from pgtop.ui.format import cell
from tests.collect_fixtures import assert_safe, connected, poll_until, running

HOSTNAME = "ev\x1b[2Jil\x9b31m\u202e[bold]x\x07.host"  # no whitespace: one /etc/hosts field
HOSTNAME_SHOWN = "ev\\x1b[2Jil\\x9b31m\\u202e[bold]x\\x07.host"
VICTIM = "hostname-victim"


def _namespace_tools() -> str | None:
    if os.geteuid() != 0:
        return "a private mount namespace needs root"
    missing = [tool for tool in ("unshare", "setpriv") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (util-linux)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "true"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if probe.returncode != 0:
        return f"no private mount namespace here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def hostile_dns_lab(pg_install: PgInstall) -> Iterator[Lab]:
    """A lab whose primary resolves 127.0.0.1 to HOSTNAME: stopped, then started again by
    pg_ctl inside ``unshare --mount`` after /etc/hosts is bind-mounted over there (the
    postmaster and its backends stay in that namespace)."""
    if (why := _namespace_tools()) is not None:
        pytest.skip(why)
    with Lab(pg_install, replica=False, pgbouncer=False, settings={"log_hostname": "on"}) as lab:
        data = lab.data_dir()
        hosts = lab.directory / "hosts"
        hosts.write_text(f"127.0.0.1\t{HOSTNAME}\n", encoding="utf-8")
        hosts.chmod(0o644)
        pg_ctl = lab.install.tool("pg_ctl")
        env = {**os.environ, "LC_ALL": "C"}
        subprocess.run(
            [pg_ctl, "stop", "-D", str(data), "-m", "fast", "-w"],
            check=True,
            capture_output=True,
            env=env,
            **lab.run_as.popen_kwargs(),
        )
        script = (
            'mount --bind "$1" /etc/hosts && exec setpriv --reuid="$2" --regid="$3" '
            '--clear-groups -- "$4" start -D "$5" -l "$6" -w'
        )
        args = [str(hosts), str(lab.run_as.uid), str(lab.run_as.gid), pg_ctl, str(data)]
        args.append(str(data.parent / "postgres.log"))
        started = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"]
            + args,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        lab.adopt_primary()
        assert started.returncode == 0, started.stderr
        yield lab


@pytest.fixture(scope="module")
def hostile_sample(hostile_dns_lab: Lab) -> Iterator[tuple[Sample, int]]:
    """A session over TCP (its client_hostname is HOSTNAME) running pg_sleep, as polled."""
    dsn = psycopg.conninfo.make_conninfo(hostile_dns_lab.app_dsn(), application_name=VICTIM)
    with running(dsn, "SELECT pg_sleep(300)") as pid:

        async def poll() -> Sample:
            async with connected(hostile_dns_lab.monitor_dsn()) as source:
                return await poll_until(
                    source,
                    lambda s: any(b.pid == pid and "pg_sleep" in b.query for b in s.activity),
                    what="the session from the hostile hostname",
                )

        yield asyncio.run(poll()), pid


def test_the_model_keeps_the_reverse_lookup_verbatim(hostile_sample: tuple[Sample, int]) -> None:
    sample, pid = hostile_sample
    victim = next(b for b in sample.activity if b.pid == pid)
    assert victim.client == HOSTNAME  # the server's reverse lookup, unchanged by pgtop


def test_cells_neutralise_the_hostname(hostile_sample: tuple[Sample, int]) -> None:
    sample, pid = hostile_sample
    client = next(b for b in sample.activity if b.pid == pid).client
    assert client is not None
    for shown in (cell(client).plain, one_line(client), visible(client)):
        assert_safe(shown)
    assert one_line(client) == HOSTNAME_SHOWN
    assert cell(client).spans == []  # "[bold]" is text, not a style


async def test_the_activity_pane_shows_the_hostname_literally(
    hostile_sample: tuple[Sample, int], tmp_path: Path
) -> None:
    sample, pid = hostile_sample
    app = make_app(Config(), RecordedFeed([sample]), state_path=tmp_path / "state.toml")
    async with app.run_test(size=(260, 60)) as pilot:
        await pilot.pause()
        table = app.panes["activity"].table
        row = [c.plain for c in table.get_row(str(pid))]
        screen = app.export_screenshot()
    assert HOSTNAME_SHOWN in row
    for text in row:
        assert_safe(text)
    assert_safe(screen.replace("\n", " "))
    assert "\\x1b[2Jil" in screen  # on screen, as visible escapes


def test_snapshot_json_is_ascii_and_round_trips_the_hostname(
    hostile_dns_lab: Lab, hostile_sample: tuple[Sample, int]
) -> None:
    _, pid = hostile_sample
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgtop",
            "snapshot",
            hostile_dns_lab.monitor_dsn(),
            "--duration",
            "1",
            "--format",
            "json",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.isascii()
    document = json.loads(result.stdout)
    victim = next(b for b in document["activity"] if b["pid"] == pid)
    assert victim["client"] == HOSTNAME
