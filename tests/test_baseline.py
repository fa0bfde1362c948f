"""pgtop.baseline: build from synthetic samples, render, parse back, diff. Pure and fast.

The window: a primary sampled every 10 s for ten minutes under a steady load, with three
statements in pg_stat_statements, a streaming standby with its slot, the archiver, and a
PgBouncer pool; model records built by hand, fixed times, no clock.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgtop.baseline import (
    Baseline,
    BaselineError,
    build,
    default_name,
    diff,
    load,
    parse,
    render,
    render_diff,
)
from pgtop.baseline.build import first_keyword, thin
from pgtop.model import (
    AnySample,
    Archiver,
    BouncerSample,
    Level,
    Pool,
    Replica,
    Replication,
    Role,
    Sample,
    ServerStats,
    Slot,
    Statement,
    StatementsStatus,
    Status,
    TableScan,
    UnusedIndex,
)
from tests.ui_samples import PRIMARY_INFO

# --------------------------------------------------------------------------- the window

T0 = datetime(2025, 11, 24, 9, 30, 0, tzinfo=UTC)
STEP_S = 10.0
TICKS = 61  # ten minutes

INFO = replace(
    PRIMARY_INFO,
    host="db.example",
    port=5432,
    user="pgtop",
    is_superuser=False,
    has_pg_monitor=True,
    settings={
        "shared_buffers": "128MB",
        "effective_cache_size": "4GB",
        "work_mem": "4MB",
        "maintenance_work_mem": "64MB",
        "max_connections": "100",
        "statement_timeout": "0ms",
        "idle_in_transaction_session_timeout": "60000ms",
        "track_io_timing": "off",
    },
)

LOOKUP = "SELECT * FROM users WHERE id = $1"
SEARCH = "SELECT * FROM users WHERE name ILIKE $1 ORDER BY name LIMIT $2"
REPORT = "/* nightly */ WITH t AS (SELECT sum(amount) FROM orders) SELECT * FROM t"


def statement(
    queryid: int,
    query: str,
    calls: int,
    mean_ms: float,
    *,
    stddev_ms: float = 0.5,
    max_ms: float | None = None,
    rows_per_call: int = 1,
    user: str | None = "app",
    database: str | None = "app",
    mean_ms_interval: float | None = None,
) -> Statement:
    """An entry whose cumulative figures are ``calls`` calls of ``mean_ms`` each."""
    return Statement(
        queryid=queryid,
        user=user,
        database=database,
        query=query,
        calls_per_s=None,
        exec_ms_per_s=None,
        mean_ms_interval=mean_ms_interval,
        rows_per_s=None,
        shared_hit_per_s=None,
        shared_read_per_s=None,
        temp_blks_per_s=None,
        io_ms_per_s=None,
        calls=calls,
        total_exec_ms=calls * mean_ms,
        mean_ms=mean_ms,
        stddev_ms=stddev_ms,
        min_ms=mean_ms / 10,
        max_ms=max_ms if max_ms is not None else mean_ms * 10,
        rows=calls * rows_per_call,
        shared_hit=calls * 10,
        shared_read=calls,
    )


def stats(tick: int) -> ServerStats:
    return ServerStats(
        uptime_s=86_400.0 + tick * STEP_S,
        connections=30 + tick % 5,
        client_connections=25 + tick % 5,
        max_connections=100,
        active=4 + tick % 3,
        idle_in_transaction=tick % 2,
        waiting_on_locks=0,
        tps=None if tick == 0 else 100.0 + tick,
        commits_per_s=None if tick == 0 else 99.0 + tick,
        rollbacks_per_s=None if tick == 0 else 1.0,
        cache_hit_ratio=None if tick == 0 else 0.99 - (tick % 4) * 0.01,
        deadlocks_total=2 + tick // 30,
        deadlocks_per_s=None if tick == 0 else 0.0,
        temp_files_per_s=None if tick == 0 else 0.1,
        temp_bytes_per_s=None if tick == 0 else 1024.0 * 100,
        oldest_xid_age=1_000_000 + tick * 100,
        longest_transaction_s=1.5 + tick % 7,
        longest_idle_in_transaction_s=None,
    )


def statements_at(tick: int, slow_factor: float = 1.0) -> tuple[Statement, ...]:
    """Cumulative entries after ``tick`` ticks: lookup 50/s at 0.2 ms, search 5/s at 8 ms, the
    report once a minute at 900 ms (times ``slow_factor``, applied to the whole history)."""
    before = 10_000  # calls before the window started
    interval = None if tick == 0 else 0.2 * slow_factor
    return (
        statement(
            101,
            LOOKUP,
            before + tick * 500,
            0.2 * slow_factor,
            stddev_ms=0.05,
            mean_ms_interval=interval,
        ),
        statement(102, SEARCH, 1_000 + tick * 50, 8.0 * slow_factor, stddev_ms=2.0),
        statement(
            103, REPORT, 20 + tick // 6, 900.0 * slow_factor, stddev_ms=150.0, rows_per_call=0
        ),
    )


def replication(tick: int) -> Replication:
    return Replication(
        role=Role.PRIMARY,
        replicas=(
            Replica(
                pid=300,
                application="standby1",
                client="10.0.0.2",
                state="streaming",
                sync_state="async",
                sent_lag_bytes=0,
                write_lag_bytes=0,
                flush_lag_bytes=0,
                replay_lag_bytes=1024 * (tick % 3),
                write_lag_s=0.001,
                flush_lag_s=0.002,
                replay_lag_s=0.01 * (tick % 3),
                reply_age_s=0.5,
            ),
        ),
        slots=(
            Slot(
                name="standby1_slot",
                slot_type="physical",
                active=True,
                active_pid=300,
                database=None,
                retained_wal_bytes=16 * 1024**2 + tick * 1024,
                wal_status="reserved",
            ),
        ),
        archiver=Archiver(
            archive_mode="on",
            archived_count=100 + tick // 6,
            failed_count=0,
            last_archived_wal="00000001000000000000000A",
            last_archived_age_s=30.0,
            last_failed_wal=None,
            last_failed_age_s=None,
        ),
    )


def primary(tick: int, *, slow_factor: float = 1.0, full: bool = True) -> Sample:
    health = (
        Status("connections", "conn 29%", Level.OK, 29.0, "connections 29/100 (29%) < warn 70%"),
        Status("cache_hit", "hit 96%", Level.WARN, 96.0, "cache hit 96% ≤ warn 95%"),
    )
    return Sample(
        source="primary",
        taken_at=T0 + timedelta(seconds=tick * STEP_S),
        connected=True,
        info=INFO,
        interval_s=None if tick == 0 else STEP_S,
        stats=stats(tick),
        replication=replication(tick),
        statements=statements_at(tick, slow_factor) if full else (),
        statements_status=StatementsStatus(available=True, stats_reset=T0 - timedelta(days=2)),
        health=tuple(replace(s, source="primary") for s in health),
    )


def bouncer(tick: int) -> BouncerSample:
    return BouncerSample(
        source="pgbouncer",
        taken_at=T0 + timedelta(seconds=tick * STEP_S),
        connected=True,
        interval_s=None if tick == 0 else STEP_S,
        pools=(
            Pool(
                database="app",
                user="app",
                pool_mode="transaction",
                cl_active=10 + tick % 4,
                cl_waiting=tick % 3,
                sv_active=5 + tick % 4,
                sv_idle=5,
                sv_used=0,
                sv_tested=0,
                sv_login=0,
                maxwait_s=0.1 * (tick % 3),
                pool_size=20,
            ),
        ),
    )


def window(*, slow_factor: float = 1.0, with_bouncer: bool = True) -> list[AnySample]:
    out: list[AnySample] = []
    for tick in range(TICKS):
        out.append(primary(tick, slow_factor=slow_factor))
        if with_bouncer:
            out.append(bouncer(tick))
    return out


ADVICE = (
    (TableScan("public", "orders", 1200, 9_000_000, 3, 12),),
    (UnusedIndex("public", "orders", "orders_note_idx", 0, 48 * 1024**2),),
)


# C0 but the newline, DEL, C1, bidi embeddings/overrides/isolates: never raw in a document
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    return build(window(), redact=False, index_advice=ADVICE)


def front_matter(text: str) -> str:
    lines = text.split("\n")
    assert lines[0] == "+++"
    end = lines.index("+++", 1)
    return "\n".join(lines[1:end])


def section(text: str, title: str) -> list[str]:
    """The lines of the Markdown section headed ``## title`` (up to the next ``## ``)."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {title}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), None)
    return lines[start:end]


def first_table(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


# --------------------------------------------------------------------------- build


def test_statement_figures_over_the_window(baseline: Baseline) -> None:
    s = baseline.statements
    assert (s.basis, s.period_s, s.seen, s.redacted) == ("window", 600.0, 3, False)
    search, report, lookup = s.items  # by execution time in the window
    assert (search.queryid, search.text, search.keyword) == (102, SEARCH, "SELECT")
    assert (search.calls, search.total_ms, search.mean_ms) == (3000, 24_000.0, 8.0)
    assert search.calls_per_day == pytest.approx(3000 / 600 * 86_400)
    assert search.rows_per_call == 1.0
    assert search.cumulative_calls == 4000
    assert (search.min_ms, search.max_ms) == (0.8, 80.0)  # since reset, as pgss keeps them
    assert report.keyword == "WITH"  # after the comment
    assert lookup.stddev_ms == pytest.approx(0.05)
    assert s.total_ms == 39_000.0
    assert s.top_share_pct == 100.0
    assert sum(i.share_pct or 0 for i in s.items) == pytest.approx(100.0)
    assert search.toplevel is None  # the model does not carry it


def test_top_n_reports_the_share_it_covers() -> None:
    b = build(window(), redact=False, top=1)
    assert len(b.statements.items) == 1
    assert b.statements.top_share_pct == pytest.approx(24_000 / 39_000 * 100)
    text = render(b)
    assert "Top 1 of 3 statements" in text
    assert "61.5% of all execution time" in text


def test_window_stddev_is_derived_from_both_ends() -> None:
    # calls of 1 and 3 ms before the window (mean 2, population stddev 1), then 10 and 20 ms:
    # over all four the mean is 8.5 and the variance 55.25; in the window 15 and 5.
    first = replace(primary(0), statements=(replace(statement(7, LOOKUP, 2, 2.0, stddev_ms=1.0)),))
    last = replace(
        primary(1),
        statements=(
            replace(statement(7, LOOKUP, 4, 8.5, stddev_ms=math.sqrt(55.25)), total_exec_ms=34.0),
        ),
    )
    (item,) = build([first, last], redact=False).statements.items
    assert (item.calls, item.mean_ms) == (2, 15.0)
    assert item.stddev_ms == pytest.approx(5.0)


def test_one_read_gives_cumulative_figures_since_the_reset() -> None:
    """The monitor's case: slim history plus the latest full sample."""
    slim = [primary(tick, full=False) for tick in range(TICKS)]
    latest = primary(TICKS - 1)
    b = build(slim, redact=False, statements_to=latest)
    s = b.statements
    assert s.basis == "since reset"
    assert s.period_s == (latest.taken_at - (T0 - timedelta(days=2))).total_seconds()
    lookup = next(i for i in s.items if i.queryid == 101)
    assert lookup.calls == lookup.cumulative_calls == 10_000 + 60 * 500
    assert "cumulative since reset" in (s.note or "")
    assert b.resources.tps_avg is not None  # the time series still came from the slim samples
    assert "since pg_stat_statements was last reset" in render(b)


def test_a_reset_inside_the_window_is_said() -> None:
    samples = window(with_bouncer=False)
    reset_at = T0 + timedelta(minutes=5)
    last = samples[-1]
    assert isinstance(last, Sample)
    samples[-1] = replace(
        last, statements_status=StatementsStatus(available=True, stats_reset=reset_at)
    )
    s = build(samples, redact=False).statements
    assert s.basis == "since reset"
    assert s.period_s == 300.0
    assert "reset at 2025-11-24 09:35:00 UTC" in (s.note or "")


def test_an_entry_reset_in_the_window_counts_from_zero() -> None:
    first = replace(primary(0), statements=(statement(9, LOOKUP, 1000, 1.0),))
    last = replace(primary(6), statements=(statement(9, LOOKUP, 40, 2.0),))
    b = build([first, last], redact=False)
    (item,) = b.statements.items
    assert (item.calls, item.mean_ms, item.reset) == (40, 2.0, True)
    assert b.statements.entries_reset == 1


def test_resources_over_the_window(baseline: Baseline) -> None:
    r = baseline.resources
    assert r.connections_peak == 29
    assert r.max_connections == 100
    assert r.tps_avg == pytest.approx(130.5)  # ticks 1..60: 101..160
    assert r.tps_peak == 160.0
    assert r.cache_hit_min_pct == pytest.approx(96.0)
    assert r.temp_files == 60  # 0.1/s for 600 s
    assert r.temp_bytes == 100 * 1024 * 600
    assert r.deadlocks == 2
    assert r.database_size_bytes is None  # not collected: never invented
    assert "Database size (end) |   | not collected" in render(baseline)


def test_replication_pools_and_index_advice(baseline: Baseline) -> None:
    (standby,) = baseline.replication.standbys
    assert (standby.name, standby.samples, standby.replay_lag_max_s) == ("standby1", 61, 0.02)
    (slot,) = baseline.replication.slots
    assert slot.retained_wal_peak_bytes == 16 * 1024**2 + 60 * 1024
    assert baseline.replication.archiver is not None
    assert baseline.replication.archiver.archived == 10
    (pool,) = baseline.pools.pools
    assert (pool.waiting_peak, pool.utilisation_peak_pct, pool.pool_size) == (2, 40.0, 20)
    assert baseline.index_advice.unused[0].index == "orders_note_idx"
    assert baseline.index_advice.database == "app"


def test_health_is_worst_first(baseline: Baseline) -> None:
    assert [h.level for h in baseline.health] == ["warn", "ok"]
    assert section(render(baseline), "Health")[4].startswith("| WARN | primary |")


def test_settings_advice_from_the_playbook(baseline: Baseline) -> None:
    by_name = {s.name: s for s in baseline.settings.items}
    assert by_name["work_mem"].level == "warn"  # temp files written with 4MB
    assert "temp files" in (by_name["work_mem"].advice or "")
    assert by_name["statement_timeout"].level == "warn"
    assert by_name["idle_in_transaction_session_timeout"].advice is None
    assert by_name["tcp_keepalives_idle"].value is None  # not collected, and said so
    assert "tcp_keepalives_idle" in (baseline.settings.note or "")
    assert by_name["track_io_timing"].value == "off"


def test_why_empty_notes() -> None:
    samples = [
        replace(
            s,
            statements=(),
            statements_status=StatementsStatus(
                available=False,
                reason='pg_stat_statements is not installed in "app": run CREATE EXTENSION',
            ),
        )
        for s in window(with_bouncer=False)
        if isinstance(s, Sample)
    ]
    b = build(samples, redact=False)
    assert b.statements.basis is None
    assert "not installed" in (b.statements.note or "")
    assert b.pools.note == "no PgBouncer watched"
    assert b.index_advice.note == "index advice was not collected"
    text = render(b)
    assert "> pg\\_stat\\_statements is not installed" in text
    assert "> no PgBouncer watched" in text
    assert parse(text) == b


def test_collector_notes_go_to_their_section() -> None:
    samples = window(with_bouncer=False)
    last = samples[-1]
    assert isinstance(last, Sample)
    samples[-1] = replace(
        last,
        messages=(
            "replication: standby positions and lags are hidden: GRANT pg_monitor TO x",
            "activity: other roles' queries are hidden: GRANT pg_monitor TO x",
        ),
    )
    b = build(samples, redact=False)
    assert "GRANT pg_monitor" in (b.replication.note or "")
    assert b.notes == ("activity: other roles' queries are hidden: GRANT pg_monitor TO x",)


def test_nothing_connected_is_an_error() -> None:
    down = Sample(source="primary", taken_at=T0, connected=False, error="refused")
    with pytest.raises(BaselineError, match="no connected sample of primary"):
        build([down], redact=False)


def test_first_keyword() -> None:
    assert first_keyword("  -- hi\n/* x */ (select 1)") == "SELECT"
    assert first_keyword("<insufficient privilege>") == "?"
    assert first_keyword("") == "?"


def test_charts_are_thinned() -> None:
    points = [(float(t), float(t)) for t in range(3600)]
    series = thin(points, 3600.0, "tps", "transactions/s", 60)
    assert len(series.v) == 60
    assert series.step_s == 60.0
    assert series.v[0] == pytest.approx(29.5)
    assert thin(points[:10], 10.0, "x", "", 60).v == tuple(float(t) for t in range(10))


# --------------------------------------------------------------------------- render / parse


def test_render_parse_round_trip(baseline: Baseline) -> None:
    text = render(baseline)
    assert parse(text) == baseline
    assert render(parse(text)) == text


def test_front_matter_is_valid_toml(baseline: Baseline) -> None:
    data = tomllib.loads(front_matter(render(baseline)))
    assert data["document"] == "pgtop baseline"
    assert data["schema"] == 1
    assert data["statements"]["items"][0]["calls"] == 3000


def test_parse_reads_only_the_front_matter(baseline: Baseline) -> None:
    text = render(baseline)
    fm = front_matter(text)
    edited = f"+++\n{fm}\n+++\n\n# My own title\n\nEverything below was rewritten by hand.\n"
    assert parse(edited) == baseline


def test_parse_survives_a_windows_checkout(baseline: Baseline) -> None:
    text = "\ufeff" + render(baseline).replace("\n", "\r\n")
    assert parse(text) == baseline


def test_layout(baseline: Baseline) -> None:
    text = render(baseline)
    assert "\n# Performance Baseline: db.example:5432/app 2025-11-24\n" in text
    titles = [line for line in text.split("\n") if line.startswith("## ")]
    assert titles == [
        "## Health at the end of the window",
        "## Query Performance",
        "## Resource Utilization",
        "## Replication",
        "## Connection Pools (PgBouncer): pgbouncer",
        "## Index Advice (database app)",
        "## Settings",
    ]
    query = section(text, "Query Performance")
    assert "| # | Query pattern | Calls/day | Mean ms | Stddev ms | Mean + 2σ ms |" in "\n".join(
        query
    )
    assert any("no P99" in line for line in query)
    assert text.count("```mermaid") == 4  # TPS, connections, cache hit, statement #3
    assert "| Connections (client) | 27.0 | 29 |" in text


def test_default_name(baseline: Baseline) -> None:
    assert default_name(baseline) == "db.example-5432-app-20251124T094000Z.md"


HOSTILE = [
    "SELECT 1\n+++\nschema = 99\n+++",
    "SELECT a | b || c FROM t WHERE x = '|'",
    "SELECT `x` FROM ```t```",
    "SELECT '\x1b]0;pwned\x07' AS title",
    "SELECT '\u202eevil\u202c' -- bidi",
    "<script>alert(1)</script> SELECT 1",
    "SELECT '*bold* _it_ [link](http://x) ![img](y) # h' AS md",
    'SELECT "\\" AS q, $1 AS $$ $x$ ~~strike~~ &amp; &#x202e;',
    "SELECT 1\r\n-- \t tab\x85nel\u2028sep\ufeffbom\x9b31m",
]


def hostile_window(texts: list[str], name: str = "evil|db\x1b[2J\n+++") -> list[Sample]:
    def at(tick: int) -> Sample:
        base = primary(tick)
        return replace(
            base,
            statements=tuple(
                statement(1000 + n, text, 100 + tick * 10 * (n + 1), 1.0 + n, user=name)
                for n, text in enumerate(texts)
            ),
            health=(replace(base.health[0], message=f"hostile {name}"),),
            messages=(f"statements: texts of {name} are hidden",),
        )

    return [at(0), at(6)]


def assert_well_formed(text: str, items: int) -> None:
    assert text.split("\n").count("+++") == 2  # only the fences
    tomllib.loads(front_matter(text))
    assert RAW_CONTROL.search(text) is None
    assert "<script>" not in text
    body = text.split("\n+++\n", 1)[1].replace("```mermaid", "").replace("```", "")
    assert re.search(r"(?<!\\)`", body) is None  # no code span opened by server text
    table = first_table(section(text, "Query Performance"))
    assert len(table) == items + 2
    assert len({unescaped_pipes(line) for line in table}) == 1
    for line in text.split("\n"):
        if line.startswith("|"):
            assert line.endswith("|")


def test_hostile_text_leaves_the_document_well_formed() -> None:
    b = build(hostile_window(HOSTILE), redact=False, server="host\x1b]0;x\x07:5432/db")
    text = render(b)
    assert_well_formed(text, len(HOSTILE))
    assert parse(text) == b
    assert r"\\x1b\]0;pwned\\x07" in text  # visible (and Markdown-escaped), not interpreted
    assert r"\\u202e" in text


def test_redacted_documents_hold_no_query_text() -> None:
    b = build(window(), redact=True)
    text = render(b)
    for fragment in ("users", "ILIKE", "nightly", "amount", "$1"):
        assert fragment not in text
    assert [(i.keyword, i.text) for i in b.statements.items] == [
        ("SELECT", None),
        ("WITH", None),
        ("SELECT", None),
    ]
    assert "| SELECT … (text redacted) |" in text
    assert "| 102 |" in text  # the queryid stays
    assert parse(text) == b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=4),
    name=st.text(max_size=20),
)
def test_any_statement_text_round_trips(texts: list[str], name: str) -> None:
    b = build(hostile_window(texts, name=name), redact=False)
    text = render(b)
    assert parse(text) == b
    assert_well_formed(text, len(texts))


# --------------------------------------------------------------------------- errors


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("# Notes\n\nJust a Markdown file.\n", "not a pgtop baseline (no +++ front matter"),
        ('+++\ntitle = "blog"\n+++\n# Post\n', "not a pgtop baseline (its front matter has no"),
        ('+++\ndocument = "pgtop baseline"\nschema = 1\n', "front matter has no closing +++"),
        ('+++\ndocument = "pgtop baseline"\nschema = [\n+++\n', "front matter is not TOML"),
        ('+++\ndocument = "pgtop baseline"\nschema = 99\n+++\n', "written by a newer pgtop"),
        ('+++\ndocument = "pgtop baseline"\nschema = "1"\n+++\n', "schema is not a version"),
        ('+++\ndocument = "pgtop baseline"\nschema = 1\n+++\n', "missing required field"),
    ],
)
def test_unreadable_documents_are_one_line_errors(
    tmp_path: Path, content: str, message: str
) -> None:
    path = write(tmp_path, "doc.md", content)
    with pytest.raises(BaselineError) as caught:
        load(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_a_wrong_figure_names_its_place(tmp_path: Path, baseline: Baseline) -> None:
    text = render(baseline).replace("calls = 3000\n", 'calls = "many"\n', 1)
    with pytest.raises(BaselineError, match=r"statements\.items\[0\]\.calls"):
        load(write(tmp_path, "doc.md", text))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.md", "no such file"),
        (lambda p: p, "a folder"),
        (lambda p: write(p, "x.png", b"\x89PNG\r\n\x1a\n\x00\x00"), "a binary file"),
        (lambda p: write(p, "x.md", b"+++\n\xff\xfe\n+++\n"), "not UTF-8 text"),
    ],
)
def test_files_that_are_not_documents(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(BaselineError, match=message) as caught:
        load(path)
    assert str(caught.value).startswith(str(path))


def test_load_reads_what_render_wrote(tmp_path: Path, baseline: Baseline) -> None:
    path = write(tmp_path, default_name(baseline), render(baseline))
    assert load(path) == baseline


# --------------------------------------------------------------------------- diff


def test_identical_documents_report_nothing(baseline: Baseline) -> None:
    d = diff(baseline, parse(render(baseline)))
    assert (d.statements, d.resources, d.notes, d.worst) == ((), (), (), "ok")
    assert "No change beyond the noise floor" in render_diff(d)


@pytest.mark.parametrize(("factor", "level"), [(3.0, "warn"), (6.0, "crit"), (1.5, None)])
def test_slower_statements(baseline: Baseline, factor: float, level: str | None) -> None:
    slower = tuple(
        replace(i, mean_ms=i.mean_ms * factor, total_ms=i.total_ms * factor)
        if i.queryid == 102
        else i
        for i in baseline.statements.items
    )
    new = replace(baseline, statements=replace(baseline.statements, items=slower))
    d = diff(baseline, new)
    if level is None:
        assert d.statements == ()
        return
    (change,) = d.statements
    assert (change.kind, change.level, change.matched_by) == ("slower", level, "queryid")
    assert change.ratio == pytest.approx(factor)
    assert d.worst == level
    out = render_diff(d)
    assert f"| {level.upper()} | SELECT \\* FROM users WHERE name ILIKE" in out
    assert f"{factor:.1f}×" in out


def test_faster_is_reported_but_never_a_problem(baseline: Baseline) -> None:
    new = build(window(slow_factor=1 / 3), redact=False, index_advice=ADVICE)
    d = diff(baseline, new)
    assert {c.kind for c in d.statements} == {"faster"}
    assert d.worst == "ok"


def test_the_noise_floor_keeps_trivial_statements_quiet(baseline: Baseline) -> None:
    new = build(window(slow_factor=10.0), redact=False, index_advice=ADVICE)
    d = diff(baseline, new)
    flagged = {c.old.queryid for c in d.statements if c.old is not None}
    assert 103 not in flagged  # the report: 10 calls in the window, under min_calls
    assert flagged == {101, 102}
    assert d.below_floor == 1
    loose = diff(baseline, new, min_calls=1)
    assert 103 in {c.old.queryid for c in loose.statements if c.old is not None}
    strict = diff(baseline, new, min_total_ms=1e9)
    assert strict.statements == ()


def test_new_and_gone_statements(baseline: Baseline) -> None:
    search, report, lookup = baseline.statements.items
    fresh = replace(search, queryid=555, text="SELECT * FROM fresh WHERE x = $1")
    new = replace(baseline, statements=replace(baseline.statements, items=(fresh, report)))
    d = diff(baseline, new)
    kinds = sorted((c.kind, (c.new or c.old).queryid) for c in d.statements)  # type: ignore[union-attr]
    assert kinds == [("gone", 101), ("gone", 102), ("new", 555)]
    assert d.worst == "ok"
    out = render_diff(d)
    assert "## New statements (not in the old document's top 20)" in out
    assert "## Gone statements (not in the new document's top 20)" in out


def test_statements_match_by_text_when_queryids_differ(baseline: Baseline) -> None:
    moved = tuple(
        replace(i, queryid=i.queryid + 10_000, mean_ms=i.mean_ms * 3, total_ms=i.total_ms * 3)
        for i in baseline.statements.items
    )
    new = replace(
        baseline,
        server_version="17.2",
        statements=replace(baseline.statements, items=moved),
    )
    d = diff(baseline, new)
    assert {(c.kind, c.matched_by) for c in d.statements} == {("slower", "text")}
    assert any("queryids differ across major versions" in n for n in d.notes)
    assert "102 → 10102" in render_diff(d)


def test_redacted_documents_match_by_queryid_only() -> None:
    old = build(window(), redact=True)
    moved = tuple(replace(i, queryid=i.queryid + 1000) for i in old.statements.items)
    new = replace(old, statements=replace(old.statements, items=moved))
    d = diff(old, new)
    assert {c.kind for c in d.statements} == {"new", "gone"}
    assert any("redacted" in n for n in d.notes)


def test_toplevel_is_part_of_the_key_when_both_know_it(baseline: Baseline) -> None:
    def with_toplevel(b: Baseline, value: bool | None) -> Baseline:
        items = tuple(replace(i, toplevel=value) for i in b.statements.items)
        return replace(b, statements=replace(b.statements, items=items))

    assert diff(with_toplevel(baseline, True), with_toplevel(baseline, None)).statements == ()
    d = diff(with_toplevel(baseline, True), with_toplevel(baseline, False))
    # same text, other toplevel: the text fallback pairs them (nothing changed)
    assert d.statements == ()
    assert d.matched == 3


def test_resource_changes(baseline: Baseline) -> None:
    r = baseline.resources
    new = replace(
        baseline,
        resources=replace(r, cache_hit_avg_pct=91.0, deadlocks=9, tps_avg=r.tps_avg),
    )
    d = diff(baseline, new)
    found = {c.metric: c for c in d.resources}
    assert found["cache_hit_avg_pct"].level == "warn"
    assert found["deadlocks_per_hour"].level == "warn"  # ≥ 2× before
    assert found["deadlocks_per_hour"].new == 9 * 6  # per hour, over a 10-minute window
    assert "tps_avg" not in found
    assert d.worst == "warn"
    tps = diff(baseline, replace(baseline, resources=replace(r, tps_avg=10.0)))
    assert {c.metric: c.level for c in tps.resources}["tps_avg"] == "crit"  # a 92% drop
    assert "| Cache hit ratio (avg) | 97.5% | 91.0% |" in render_diff(d)


def test_diff_ratios_are_checked(baseline: Baseline) -> None:
    with pytest.raises(BaselineError, match="ratios"):
        diff(baseline, baseline, warn_ratio=5.0, crit_ratio=2.0)


def test_diff_of_hostile_documents_is_well_formed() -> None:
    old = build(hostile_window(HOSTILE), redact=False)
    slower = tuple(
        replace(i, mean_ms=i.mean_ms * 9, total_ms=i.total_ms * 9, queryid=i.queryid + 10**6)
        for i in old.statements.items
    )
    new = replace(old, statements=replace(old.statements, items=slower))
    d = diff(old, new, min_calls=1, min_total_ms=0)
    out = render_diff(d)
    assert RAW_CONTROL.search(out) is None
    assert "<script>" not in out
    rows = [line for line in out.split("\n") if line.startswith("| CRIT |")]
    assert len(rows) == len(HOSTILE)
    assert len({unescaped_pipes(line) for line in rows}) == 1


def test_bouncer_samples_alone_do_not_make_a_baseline() -> None:
    only = [BouncerSample(source="pgbouncer", taken_at=T0, connected=True)]
    with pytest.raises(BaselineError):
        build(only, redact=False)


def test_step_is_the_sampling_interval(baseline: Baseline) -> None:
    assert baseline.interval_s == STEP_S
    assert baseline.samples == baseline.samples_connected == TICKS
