"""Baselines against the lab's real servers: `pgtop snapshot` writes a Markdown document that
parses back exactly, `baseline diff` reports a regression staged for real (an index dropped
under a steady lookup workload) and gates on it, `--baseline` flags it live, and nothing is
lost or leaked on the way."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.types.numeric import Int4

from pgtop.baseline import load, parse, render
from pgtop.baseline.live import LiveBaseline
from pgtop.cli import GATE_EXIT
from pgtop.collect.postgres import PostgresSource
from pgtop.collect.sampler import Sampler
from pgtop.config import BaselineSettings
from pgtop.lab import Lab
from pgtop.model import Level, Sample
from tests.collect_fixtures import su
from tests.test_cli import assert_one_line_error, pgtop

pytestmark = [pytest.mark.lab, pytest.mark.one_major]

TABLE = "pgtop_baseline_lookup"
LOOKUP = f"SELECT v FROM {TABLE} WHERE id = %s"


@pytest.fixture
def lookup_table(lab: Lab) -> Iterator[str]:
    with a_lookup_table(lab) as name:
        yield name


@contextlib.contextmanager
def a_lookup_table(lab: Lab) -> Iterator[str]:
    """60,000 rows looked up by primary key (the app role may read them); dropped after."""
    with su(lab) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, v text)")
        conn.execute(f"INSERT INTO {TABLE} SELECT g, md5(g::text) FROM generate_series(1, 60000) g")
        conn.execute(f"ANALYZE {TABLE}")
        conn.execute(f"GRANT SELECT ON {TABLE} TO app")
    try:
        yield TABLE
    finally:
        with su(lab) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


@contextlib.contextmanager
def steady_lookups(lab: Lab) -> Iterator[None]:
    """One client looking rows up by primary key as fast as it can, until the block ends."""
    stop = threading.Event()

    def run() -> None:
        with psycopg.connect(lab.app_dsn(), autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                n = n % 60000 + 1
                # always int4: psycopg sends a small int as int2, and "id = $1::int2" is
                # another statement (another queryid) than "id = $1::int4"
                conn.execute(LOOKUP, (Int4(n),))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # its first calls are in pg_stat_statements
        yield
    finally:
        stop.set()
        thread.join(timeout=15)


def snapshot(
    lab: Lab, out: Path, *extra: str, duration: int = 4
) -> subprocess.CompletedProcess[str]:
    return pgtop(
        "snapshot", lab.monitor_dsn(), "--duration", str(duration), "-o", str(out), *extra,
        timeout=120,
    )  # fmt: skip


def test_snapshot_writes_a_document_that_parses_back(lab: Lab, tmp_path: Path) -> None:
    """As the monitoring role (pg_monitor, not a superuser): the front matter is TOML holding
    every figure, parse(render(parse(text))) is the same record, and sections say why they are
    empty."""
    out = tmp_path / "base.md"
    result = snapshot(lab, out, duration=2)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"pgtop snapshot: wrote {out}"
    text = out.read_text()
    front = text.split("+++\n")[1]
    data = tomllib.loads(front)
    assert data["document"] == "pgtop baseline"
    assert data["schema"] == 1
    baseline = parse(text)
    assert render(baseline) == text
    assert parse(render(baseline)) == baseline
    assert baseline.samples >= 2
    assert baseline.statements.items, "the lab's workload is in pg_stat_statements"
    assert baseline.resources.tps_avg is not None
    assert "# Performance Baseline: " in text
    assert "## Query Performance" in text
    assert "## Resource Utilization" in text
    assert "not collected" in text  # what pgtop cannot know says so
    assert "P99" in text


def test_default_path_is_the_snapshots_folder(lab: Lab, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pgtop", "snapshot", lab.monitor_dsn(), "--duration", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
    )
    assert result.returncode == 0, result.stderr
    (written,) = (tmp_path / "snapshots").iterdir()
    assert written.name.startswith("127.0.0.1-")
    assert written.name.endswith("Z.md")
    load(written)


def test_nothing_overwritten_and_nothing_half_written(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "base.md"
    out.write_text("the previous document\n")
    refused = snapshot(lab, out, duration=1)
    assert_one_line_error(refused, 2)
    assert out.read_text() == "the previous document\n"
    # killed while it samples: the previous file is intact, no temp file is left
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    cmd = [sys.executable, "-m", "pgtop", "snapshot", lab.monitor_dsn(), "--duration", "30"]
    proc = subprocess.Popen(
        [*cmd, "-o", str(out), "--force"], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert out.read_text() == "the previous document\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.md"]
    replaced = snapshot(lab, out, "--force", duration=1)
    assert replaced.returncode == 0, replaced.stderr
    load(out)


def test_redact_and_passwords(lab: Lab, lookup_table: str, tmp_path: Path) -> None:
    """--redact leaves every query text out; no document carries a password, not even one a
    statement text carried."""
    secret = "Baseline-Secret-42"
    with su(lab) as conn:
        conn.execute("DROP ROLE IF EXISTS pgtop_baseline_pw")
        conn.execute(f"CREATE ROLE pgtop_baseline_pw LOGIN PASSWORD '{secret}'")
        conn.execute(f"ALTER ROLE pgtop_baseline_pw PASSWORD '{secret}'")
    stop = threading.Event()

    def alter_again() -> None:  # the statement is called inside the window
        with psycopg.connect(lab.superuser_dsn(), autocommit=True) as conn:
            while not stop.wait(0.2):
                conn.execute(f"ALTER ROLE pgtop_baseline_pw PASSWORD '{secret}'")

    alter = threading.Thread(target=alter_again, daemon=True)
    alter.start()
    try:
        with steady_lookups(lab):
            plain = tmp_path / "plain.md"
            assert snapshot(lab, plain, duration=2).returncode == 0
            redacted = tmp_path / "redacted.md"
            assert snapshot(lab, redacted, "--redact", duration=2).returncode == 0
            json_out = pgtop(
                "snapshot", lab.monitor_dsn(), "--duration", "1", "--format", "json", "--redact"
            )
    finally:
        stop.set()
        alter.join(timeout=10)
        with su(lab) as conn:
            conn.execute("DROP ROLE IF EXISTS pgtop_baseline_pw")
    for text in (plain.read_text(), redacted.read_text(), json_out.stdout):
        assert secret not in text
    assert f"SELECT v FROM {TABLE.replace('_', chr(92) + '_')} WHERE id" in plain.read_text()
    for text in (redacted.read_text(), json_out.stdout):
        assert "SELECT v FROM" not in text
        assert "PASSWORD" not in text
    assert all(item.text is None for item in load(redacted).statements.items)


def test_an_index_dropped_is_a_crit_regression_and_gates(
    lab: Lab, lookup_table: str, tmp_path: Path
) -> None:
    before, same, after = tmp_path / "before.md", tmp_path / "same.md", tmp_path / "after.md"
    with steady_lookups(lab):
        assert snapshot(lab, before).returncode == 0
        assert snapshot(lab, same).returncode == 0
        with su(lab) as conn:
            conn.execute(f"ALTER TABLE {lookup_table} DROP CONSTRAINT {lookup_table}_pkey")
        time.sleep(1.0)
        assert snapshot(lab, after).returncode == 0
    # the same workload twice: the lookup is not reported slower (on a loaded 2-core machine
    # TPS or a tiny statement's mean may still move: those are judged by their own rules)
    unchanged = pgtop("baseline", "diff", str(before), str(same))
    assert unchanged.returncode == 0, unchanged.stdout
    slower_before = (
        unchanged.stdout.split("## Slower")[1].split("\n## ")[0]
        if ("## Slower" in unchanged.stdout)
        else ""
    )
    assert "pgtop\\_baseline\\_lookup" not in slower_before
    gated = pgtop("baseline", "diff", str(before), str(after), "--fail-on", "crit")
    assert gated.returncode == GATE_EXIT, gated.stdout + gated.stderr
    assert "**Verdict:** CRIT" in gated.stdout
    slower = gated.stdout.split("## Slower")[1].split("\n## ")[0]
    assert "SELECT v FROM pgtop\\_baseline\\_lookup WHERE id = \\$1" in slower
    assert "CRIT" in slower
    report_only = pgtop("baseline", "diff", str(before), str(after))
    assert report_only.returncode == 0


async def test_baseline_flags_the_statement_live(
    lab: Lab, lookup_table: str, tmp_path: Path
) -> None:
    """--baseline: with the index dropped the statement is flagged (crit, named) within a few
    refreshes of the monitor's sampler."""
    doc = tmp_path / "before.md"
    with steady_lookups(lab):
        assert snapshot(lab, doc, duration=3).returncode == 0
        # a 3 s window of a 0.01 ms lookup holds ~100 ms in all: the floor is lowered to match
        live = LiveBaseline(load(doc), doc.name, BaselineSettings(min_total_ms=10.0))
        with su(lab) as conn:
            conn.execute(f"ALTER TABLE {lookup_table} DROP CONSTRAINT {lookup_table}_pkey")
        sampler = Sampler(
            [PostgresSource(lab.monitor_dsn(), name="primary")], interval=1.0,
            also_judge=live.judge,
        )  # fmt: skip
        samples = await sampler.collect(6.0)
    judged = [
        status
        for sample in samples
        if isinstance(sample, Sample)
        for status in sample.health
        if status.metric == "baseline"
    ]
    assert judged, "the baseline is judged on every tick that read the statements"
    flagged = [s for s in judged if s.level is Level.CRIT]
    assert flagged, [s.message for s in judged]
    assert f"SELECT v FROM {TABLE} WHERE id = $1" in flagged[-1].message
    assert flagged[-1].label.startswith("base ")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such file"),
        (b"just some notes\n", "not a pgtop baseline"),
        (b"+++\ndocument = 'pgtop baseline'\nschema = [\n+++\n", "front matter"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_a_bad_baseline_is_one_line_before_anything_starts(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    path = tmp_path / "base.md"
    if content is not None:
        path.write_bytes(content)
    # a closed port: had pgtop tried to connect, the message would be about the server
    monitor = pgtop("host=127.0.0.1 port=1 dbname=x", "--baseline", str(path))
    line = assert_one_line_error(monitor, 1)
    assert str(path) in line or path.name in line
    assert why in line.lower()
    diff = pgtop("baseline", "diff", str(path), str(path))
    assert_one_line_error(diff, 1)


def test_the_example_document_still_parses() -> None:
    examples = sorted((Path(__file__).resolve().parents[1] / "snapshots").glob("example*.md"))
    assert examples, "snapshots/ holds an example document"
    for example in examples:
        baseline = load(example)
        assert render(baseline) == example.read_text()
