"""BouncerSource against the lab's real PgBouncer (transaction pooling, default_pool_size 5), and
the pure row mapping / rate maths it relies on."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from pgtop.collect.pgbouncer import BouncerSource
from pgtop.collect.pgbouncer_rows import (
    StatsTotals,
    parse_version,
    pools_from_rows,
    records,
    stats_rates,
    to_int,
    totals_from_rows,
)
from pgtop.collect.source import ConnectionLostError
from pgtop.config import Thresholds
from pgtop.health import evaluate_bouncer
from pgtop.lab import (
    APP_DATABASE,
    APP_ROLE,
    BOUNCER_ADMIN,
    BOUNCER_POOL_SIZE,
    MONITOR_ROLE,
    Endpoint,
    Lab,
    free_port,
)
from pgtop.model import BouncerSample, Level, Pool, Role
from pgtop.workload import PGBENCH_BOUNCER_APP, pgbench

APP_POOL = (APP_DATABASE, APP_ROLE)


@pytest.fixture
def bouncer(lab: Lab) -> Endpoint:
    if lab.pgbouncer is None:
        pytest.skip(lab.bouncer_missing_reason or "the lab has no PgBouncer")
    return lab.pgbouncer


def pools_by_key(sample: BouncerSample) -> dict[tuple[str, str], Pool]:
    return {(p.database, p.user): p for p in sample.pools}


def touch_app_pool(lab: Lab) -> None:
    """One transaction through PgBouncer, so that the ("app", "app") pool exists."""
    with psycopg.connect(lab.bouncer_app_dsn(), autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SELECT 1")


# --------------------------------------------------------------------------- live


async def test_connect_reports_pgbouncer_version(lab: Lab, bouncer: Endpoint) -> None:
    source = BouncerSource(lab.bouncer_admin_dsn(), name="pool")
    try:
        info = await source.connect()
    finally:
        await source.close()
    assert info.role is Role.PGBOUNCER
    assert info.name == "pool"
    assert re.fullmatch(r"\d+\.\d+\.\d+", info.version)
    major, minor, patch = (int(part) for part in info.version.split("."))
    assert info.version_num == major * 10_000 + minor * 100 + patch >= 11_800
    assert (info.host, info.port, info.dbname, info.user) == (
        "127.0.0.1",
        bouncer.port,
        "pgbouncer",
        MONITOR_ROLE,
    )
    assert info.settings["pool_mode"] == "transaction"
    assert info.settings["default_pool_size"] == str(BOUNCER_POOL_SIZE)


async def test_application_name_is_accepted_and_shown(lab: Lab, bouncer: Endpoint) -> None:
    source = BouncerSource(lab.bouncer_admin_dsn())
    await source.connect()
    try:
        with psycopg.connect(
            lab.bouncer_admin_dsn(BOUNCER_ADMIN),
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as admin:
            cur = admin.execute("SHOW CLIENTS")
            columns = [c.name for c in cur.description or ()]
            clients = records(columns, cur.fetchall())
    finally:
        await source.close()
    ours = [c for c in clients if c.get("user") == MONITOR_ROLE]
    assert ours, clients
    if "application_name" in columns:  # tracked by PgBouncer since 1.12
        assert [c["application_name"] for c in ours] == ["pgtop"]


async def test_pgbench_pool_and_rates(lab: Lab, bouncer: Endpoint) -> None:
    source = BouncerSource(lab.bouncer_admin_dsn())
    await source.connect()
    proc = pgbench(
        lab.install.tool("pgbench"),
        host="127.0.0.1",
        port=bouncer.port,
        passfile=lab.primary.passfile,
        clients=4,
        duration_s=5,
        application_name=PGBENCH_BOUNCER_APP,
    )
    try:
        deadline = time.monotonic() + 10
        first = await source.poll()
        while APP_POOL not in pools_by_key(first) or not any(
            p.cl_active for p in first.pools
        ):  # wait until pgbench is connected and running
            assert time.monotonic() < deadline, "pgbench never showed up in SHOW POOLS"
            await asyncio.sleep(0.2)
            first = await source.poll()
        await asyncio.sleep(1.5)
        second = await source.poll()
    finally:
        _, stderr = proc.communicate(timeout=30)
        await source.close()
    assert proc.returncode == 0, stderr.decode(errors="replace")

    assert second.connected
    assert second.interval_s is not None
    assert second.interval_s >= 1.4
    assert second.poll_ms is not None
    assert second.poll_ms > 0
    pool = pools_by_key(second)[APP_POOL]
    assert pool.pool_mode == "transaction"
    assert pool.pool_size == BOUNCER_POOL_SIZE
    assert pool.servers_in_use <= BOUNCER_POOL_SIZE
    assert "pgbouncer" not in {p.database for p in second.pools}  # the admin pseudo-database

    stats = {s.database: s for s in second.stats}
    assert "pgbouncer" not in stats
    app = stats[APP_DATABASE]
    assert app.xact_per_s is not None
    assert app.xact_per_s > 0
    assert app.query_per_s is not None
    assert app.query_per_s >= app.xact_per_s  # TPC-B: 7 statements per transaction
    assert app.avg_xact_ms is not None
    assert app.avg_xact_ms > 0
    assert app.avg_wait_ms is not None
    assert app.avg_wait_ms >= 0
    assert app.bytes_in_per_s is not None
    assert app.bytes_in_per_s > 0
    assert second.clients is not None
    assert second.clients >= 1
    assert second.servers is not None
    assert second.servers >= 1
    assert second.health == ()  # the sampler attaches health


class _Sleeper(threading.Thread):
    """A client through PgBouncer that runs one `pg_sleep` when the barrier opens."""

    def __init__(self, dsn: str, barrier: threading.Barrier, seconds: float) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.barrier = barrier
        self.seconds = seconds
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None) as conn:
                self.barrier.wait(timeout=20)
                conn.execute("SELECT pg_sleep(%s)", (self.seconds,))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.barrier.abort()


@pytest.fixture
def sleepers(lab: Lab, bouncer: Endpoint) -> Iterator[list[_Sleeper]]:
    """12 clients (> pool_size 5) each running pg_sleep(2) at the same moment."""
    count = 12
    barrier = threading.Barrier(count + 1)
    threads = [_Sleeper(lab.bouncer_app_dsn(), barrier, 2.0) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(timeout=20)
        yield threads
    finally:
        for thread in threads:
            thread.join(timeout=30)
    assert [t for t in threads if t.is_alive()] == []
    assert [t.error for t in threads if t.error] == []


async def test_clients_wait_when_the_pool_is_full(
    lab: Lab, bouncer: Endpoint, sleepers: list[_Sleeper]
) -> None:
    source = BouncerSource(lab.bouncer_admin_dsn())
    await source.connect()
    try:
        deadline = time.monotonic() + 3
        sample = await source.poll()
        while pools_by_key(sample).get(APP_POOL, None) is None or (
            pools_by_key(sample)[APP_POOL].cl_waiting == 0
        ):
            assert time.monotonic() < deadline, f"no waiting clients seen: {sample.pools}"
            await asyncio.sleep(0.05)
            sample = await source.poll()
    finally:
        await source.close()
    pool = pools_by_key(sample)[APP_POOL]
    assert pool.cl_waiting > 0
    assert pool.cl_waiting + pool.cl_active >= len(sleepers)
    assert pool.servers_in_use == BOUNCER_POOL_SIZE
    assert pool.utilisation_pct == 100.0

    statuses = {s.metric: s for s in evaluate_bouncer(sample, Thresholds())}
    waiting = statuses["pool_waiting"]
    assert waiting.level >= Level.WARN
    assert waiting.message.startswith(f"pool app/app: {pool.cl_waiting} clients waiting")
    assert statuses["pool_utilisation"].level is Level.CRIT
    assert "5/5 server connections (100%) ≥ crit 100%" in statuses["pool_utilisation"].message


@pytest.mark.parametrize("user", [MONITOR_ROLE, BOUNCER_ADMIN])
async def test_stats_and_admin_users_can_poll(lab: Lab, bouncer: Endpoint, user: str) -> None:
    touch_app_pool(lab)
    source = BouncerSource(lab.bouncer_admin_dsn(user))
    await source.connect()
    try:
        sample = await source.poll()
    finally:
        await source.close()
    assert sample.connected
    assert sample.info is not None
    assert sample.info.user == user
    assert APP_POOL in pools_by_key(sample)
    assert sample.interval_s is None  # first poll: no rates yet
    assert all(s.xact_per_s is None for s in sample.stats)


async def test_user_not_in_stats_users_gets_one_clear_line(lab: Lab, bouncer: Endpoint) -> None:
    source = BouncerSource(bouncer.dsn(APP_ROLE, "pgbouncer"))
    with pytest.raises(ConnectionLostError) as caught:
        await source.connect()
    message = str(caught.value)
    assert "\n" not in message
    assert "stats_users" in message
    assert "pgbouncer.ini" in message
    assert f'"{APP_ROLE}"' in message
    with pytest.raises(ConnectionLostError, match="not connected"):
        await source.poll()


async def test_a_regular_database_is_not_the_admin_console(lab: Lab, bouncer: Endpoint) -> None:
    source = BouncerSource(lab.bouncer_app_dsn())
    with pytest.raises(ConnectionLostError) as caught:
        await source.connect()
    assert 'admin console database "pgbouncer"' in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_pgbouncer_down_is_one_line_without_password() -> None:
    secret = "Sup3r-Secret-Pw"
    port = free_port()
    source = BouncerSource(
        f"host=127.0.0.1 port={port} dbname=pgbouncer user={MONITOR_ROLE} password={secret}",
        connect_timeout_s=2,
    )
    with pytest.raises(ConnectionLostError) as caught:
        await source.connect()
    message = str(caught.value)
    assert "\n" not in message
    assert secret not in message
    assert "connection refused" in message
    assert f"127.0.0.1:{port}" in message
    assert caught.value.__context__ is None  # libpq's raw text is not chained


async def test_poll_after_close_is_connection_lost(lab: Lab, bouncer: Endpoint) -> None:
    source = BouncerSource(lab.bouncer_admin_dsn())
    await source.connect()
    await source.poll()
    await source.close()
    with pytest.raises(ConnectionLostError):
        await source.poll()
    await source.connect()  # and it comes back
    try:
        assert (await source.poll()).connected
    finally:
        await source.close()


# --------------------------------------------------------------------------- mapping


def _capture(lab: Lab, command: str) -> tuple[list[str], list[tuple[object, ...]]]:
    with psycopg.connect(
        lab.bouncer_admin_dsn(), autocommit=True, cursor_factory=psycopg.ClientCursor
    ) as conn:
        cur = conn.execute(command)
        return [c.name for c in cur.description or ()], cur.fetchall()


def _reshape(
    columns: list[str], rows: list[tuple[object, ...]], *, drop: str | None = None
) -> tuple[list[str], list[tuple[object, ...]]]:
    """Reverse the column order, add a column PgBouncer might add one day, optionally drop one."""
    keep = [i for i, name in enumerate(columns) if name != drop][::-1]
    new_columns = ["zz_added_in_2030", *(columns[i] for i in keep)]
    new_rows = [("surprise", *(row[i] for i in keep)) for row in rows]
    return new_columns, new_rows


def test_mapping_tolerates_reordered_added_and_removed_columns(lab: Lab, bouncer: Endpoint) -> None:
    touch_app_pool(lab)
    pool_cols, pool_rows = _capture(lab, "SHOW POOLS")
    db_cols, db_rows = _capture(lab, "SHOW DATABASES")
    stat_cols, stat_rows = _capture(lab, "SHOW STATS")

    pools = pools_from_rows(records(pool_cols, pool_rows), records(db_cols, db_rows))
    app = {(p.database, p.user): p for p in pools}[APP_POOL]
    assert app.pool_mode == "transaction"
    assert app.pool_size == BOUNCER_POOL_SIZE
    totals = totals_from_rows(records(stat_cols, stat_rows))
    assert totals[APP_DATABASE].xact_count > 0
    assert "pgbouncer" not in totals

    reshaped = pools_from_rows(
        records(*_reshape(pool_cols, pool_rows)), records(*_reshape(db_cols, db_rows))
    )
    assert reshaped == pools
    assert totals_from_rows(records(*_reshape(stat_cols, stat_rows))) == totals

    # numbers as text (some forks and poolers speaking the same console)
    as_text = [tuple(str(v) if isinstance(v, int | Decimal) else v for v in r) for r in pool_rows]
    assert pools_from_rows(records(pool_cols, as_text), records(db_cols, db_rows)) == pools

    # an older release without maxwait_us: maxwait alone
    older = pools_from_rows(
        records(*_reshape(pool_cols, pool_rows, drop="maxwait_us")), records(db_cols, db_rows)
    )
    assert [p.maxwait_s for p in older] == [float(int(p.maxwait_s)) for p in pools]

    # no pool_size column at all: size unknown, never a guess
    unsized = pools_from_rows(
        records(pool_cols, pool_rows), records(*_reshape(db_cols, db_rows, drop="pool_size"))
    )
    assert {p.pool_size for p in unsized} == {None}

    with_admin = pools_from_rows(
        records(pool_cols, pool_rows), records(db_cols, db_rows), include_admin=True
    )
    assert "pgbouncer" in {p.database for p in with_admin}


# --------------------------------------------------------------------------- pure maths


def totals(xacts: int, *, scale: int = 1, assignments: int | None = None) -> StatsTotals:
    return StatsTotals(
        database="app",
        xact_count=xacts,
        query_count=7 * xacts,
        received=100 * xacts * scale,
        sent=200 * xacts * scale,
        xact_time_us=2_000 * xacts,
        query_time_us=1_000 * 7 * xacts,
        wait_time_us=300 * xacts,
        server_assignment_count=assignments,
    )


def test_rates_over_the_interval() -> None:
    rates = stats_rates(totals(1000), totals(1200), 2.0)
    assert rates.database == "app"
    assert rates.xact_per_s == 100.0
    assert rates.query_per_s == 700.0
    assert rates.avg_xact_ms == 2.0
    assert rates.avg_query_ms == 1.0
    assert rates.avg_wait_ms == pytest.approx(0.3)
    assert rates.bytes_in_per_s == 10_000.0
    assert rates.bytes_out_per_s == 20_000.0


def test_wait_is_averaged_per_server_assignment_when_reported() -> None:
    before = totals(1000, assignments=100)
    after = totals(1200, assignments=110)  # 60 ms of waiting over 10 assignments
    assert stats_rates(before, after, 2.0).avg_wait_ms == pytest.approx(6.0)


def test_idle_interval_has_rates_but_no_averages() -> None:
    rates = stats_rates(totals(1000), totals(1000), 2.0)
    assert rates.xact_per_s == 0.0
    assert rates.avg_xact_ms is None
    assert rates.avg_query_ms is None
    assert rates.avg_wait_ms is None


@pytest.mark.parametrize(
    ("previous", "current", "interval_s"),
    [
        (None, totals(1000), 2.0),  # first poll
        (totals(1000), totals(1200), None),  # interval unknown
        (totals(1000), totals(1200), 0.0),
        (totals(1000), totals(10), 2.0),  # PgBouncer restarted: counters went backwards
        (totals(1000, scale=2), totals(1001), 2.0),  # only some counters went backwards
        (totals(1000, assignments=50), totals(1200, assignments=3), 2.0),
    ],
)
def test_rates_are_none_never_negative(
    previous: StatsTotals | None, current: StatsTotals, interval_s: float | None
) -> None:
    rates = stats_rates(previous, current, interval_s)
    assert rates.database == "app"
    assert (
        rates.xact_per_s,
        rates.query_per_s,
        rates.avg_xact_ms,
        rates.avg_query_ms,
        rates.avg_wait_ms,
        rates.bytes_in_per_s,
        rates.bytes_out_per_s,
    ) == (None,) * 7


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), (Decimal("123456789012"), 123456789012), ("42", 42), (" 5 ", 5), ("1.9", 1),
     (2.5, 2), (None, 0), ("n/a", 0), (b"12", 12), (True, 0), (Decimal("NaN"), 0)],
)  # fmt: skip
def test_to_int(value: object, expected: int) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PgBouncer 1.18.0", ("1.18.0", 11800)),
        ("PgBouncer 1.25.1", ("1.25.1", 12501)),
        ("PgBouncer 1.9", ("1.9.0", 10900)),
        ("PgBouncer 1.21.0 (git abc)", ("1.21.0", 12100)),
        ("something else", ("something else", 0)),
    ],
)
def test_parse_version(text: str, expected: tuple[str, int]) -> None:
    assert parse_version(text) == expected
