"""health.py: thresholds → Status per metric. Pure maths over constructed model records, plus one
integration test per lab major when the PostgreSQL collector exists."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pgtop.config import Threshold, Thresholds
from pgtop.health import (
    LABEL_MAX,
    TPS_MIN_SAMPLES,
    TPS_WINDOW,
    evaluate,
    evaluate_bouncer,
    worst,
    worst_first,
)
from pgtop.lab import Lab
from pgtop.model import (
    Archiver,
    Backend,
    BouncerSample,
    Level,
    Pool,
    Replica,
    Replication,
    Role,
    Sample,
    ServerStats,
    Slot,
    StandbyStatus,
    StatementsStatus,
    Status,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
TH = Thresholds()
GIB = 1024**3


def stats(**overrides: Any) -> ServerStats:
    base: dict[str, Any] = {
        "uptime_s": 3600.0,
        "connections": 10,
        "client_connections": 5,
        "max_connections": 300,
        "active": 1,
        "idle_in_transaction": 0,
        "waiting_on_locks": 0,
        "tps": None,
        "commits_per_s": None,
        "rollbacks_per_s": None,
        "cache_hit_ratio": None,
        "deadlocks_total": 0,
        "deadlocks_per_s": None,
        "temp_files_per_s": None,
        "temp_bytes_per_s": None,
        "oldest_xid_age": None,
        "longest_transaction_s": None,
        "longest_idle_in_transaction_s": None,
    }
    base.update(overrides)
    return ServerStats(**base)


def sample(*, at: datetime = T0, **fields: Any) -> Sample:
    return Sample(source="primary", taken_at=at, connected=True, **fields)


def replica(name: str, lag_s: float | None, lag_bytes: int | None = 0) -> Replica:
    return Replica(
        pid=100,
        application=name,
        client="127.0.0.1",
        state="streaming",
        sync_state="async",
        sent_lag_bytes=0,
        write_lag_bytes=0,
        flush_lag_bytes=0,
        replay_lag_bytes=lag_bytes,
        write_lag_s=lag_s,
        flush_lag_s=lag_s,
        replay_lag_s=lag_s,
        reply_age_s=0.1,
    )


def backend(pid: int, app: str, *, state: str, xact_s: float, state_s: float) -> Backend:
    return Backend(
        pid=pid,
        database="app",
        user="app",
        application=app,
        client="127.0.0.1",
        backend_type="client backend",
        state=state,
        wait_event_type=None,
        wait_event=None,
        backend_start=None,
        xact_start=None,
        query_start=None,
        state_change=None,
        query_s=None,
        xact_s=xact_s,
        state_s=state_s,
        xid_age=None,
        xmin_age=None,
        leader_pid=None,
        query="SELECT 1",
    )


def only(statuses: tuple[Status, ...], metric: str) -> Status:
    found = [s for s in statuses if s.metric == metric]
    assert len(found) == 1, f"expected one {metric} status in {statuses}"
    return found[0]


def metrics(statuses: tuple[Status, ...]) -> set[str]:
    return {s.metric for s in statuses}


# --------------------------------------------------------------------------- connections


@pytest.mark.parametrize(
    ("used", "level", "message"),
    [
        (12, Level.OK, "connections 12/300 (4%) < warn 70%"),
        (209, Level.OK, "connections 209/300 (69.7%) < warn 70%"),  # not "(70%) < warn 70%"
        (210, Level.WARN, "connections 210/300 (70%) ≥ warn 70%"),
        (254, Level.WARN, "connections 254/300 (84.7%) ≥ warn 70%"),  # not "(85%)": not crit
        (255, Level.CRIT, "connections 255/300 (85%) ≥ crit 85%"),
        (264, Level.CRIT, "connections 264/300 (88%) ≥ crit 85%"),
    ],
)
def test_connections(used: int, level: Level, message: str) -> None:
    status = only(evaluate(sample(stats=stats(client_connections=used)), [], TH), "connections")
    assert status.level is level
    assert status.message == message
    assert status.source == "primary"
    assert status.label.startswith("conn ")


def test_rounding_never_reads_as_the_threshold() -> None:
    status = only(evaluate(sample(stats=stats(client_connections=254)), [], TH), "connections")
    assert status.message == "connections 254/300 (84.7%) ≥ warn 70%"
    assert status.label == "conn 84.7%"


def test_connections_need_max_connections() -> None:
    assert "connections" not in metrics(evaluate(sample(stats=stats(max_connections=None)), [], TH))


# --------------------------------------------------------------------------- replication lag


@pytest.mark.parametrize(
    ("lag_s", "level", "verdict"),
    [
        (0.2, Level.OK, "< warn 1 s"),
        (1.0, Level.WARN, "≥ warn 1 s"),
        (12.3, Level.CRIT, "≥ crit 10 s"),
    ],
)
def test_replication_lag_on_primary(lag_s: float, level: Level, verdict: str) -> None:
    rep = Replication(Role.PRIMARY, replicas=(replica("pgtop-lab-replica", lag_s, 4096),))
    status = only(evaluate(sample(replication=rep), [], TH), "replication_lag")
    assert status.level is level
    assert status.value == lag_s
    assert status.message == (
        f'replication lag {lag_s:.1f} s (replica "pgtop-lab-replica") {verdict}'
    )


def test_replication_lag_names_the_worst_replica() -> None:
    rep = Replication(
        Role.PRIMARY, replicas=(replica("r-fast", 0.1), replica("r-slow", 12.3), replica("r-2", 2))
    )
    status = only(evaluate(sample(replication=rep), [], TH), "replication_lag")
    assert status.level is Level.CRIT
    assert status.message == 'replication lag 12.3 s (replica "r-slow", worst of 3) ≥ crit 10 s'
    assert status.label == "lag 12s"


def test_replication_lag_in_bytes_when_no_time_is_reported() -> None:
    rep = Replication(Role.PRIMARY, replicas=(replica("r1", None, 16 * 1024 * 1024),))
    status = only(evaluate(sample(replication=rep), [], TH), "replication_lag")
    assert status.level is Level.WARN
    assert status.message == (
        'replication lag 16 MiB of WAL (replica "r1", in bytes) '
        "> 0 B with no replay time reported → warn"
    )
    assert status.label == "lag 16M"


def test_replica_without_times_and_no_bytes_is_caught_up() -> None:
    rep = Replication(Role.PRIMARY, replicas=(replica("r1", None, 0),))
    status = only(evaluate(sample(replication=rep), [], TH), "replication_lag")
    assert status.level is Level.OK
    assert status.value == 0.0


def test_seconds_crit_beats_bytes_warn() -> None:
    rep = Replication(Role.PRIMARY, replicas=(replica("a", None, 10**6), replica("b", 11.0)))
    status = only(evaluate(sample(replication=rep), [], TH), "replication_lag")
    assert status.level is Level.CRIT
    assert '"b"' in status.message


def test_no_replicas_no_replication_lag_status() -> None:
    rep = Replication(Role.PRIMARY)
    assert "replication_lag" not in metrics(evaluate(sample(replication=rep), [], TH))
    assert "replication_lag" not in metrics(evaluate(sample(), [], TH))


@pytest.mark.parametrize(("lag_s", "level"), [(0.0, Level.OK), (3.0, Level.WARN), (10, Level.CRIT)])
def test_replication_lag_on_standby(lag_s: float, level: Level) -> None:
    standby = StandbyStatus(
        receive_lsn="0/3000000",
        replay_lsn="0/3000000",
        replay_lag_s=lag_s,
        receive_replay_lag_bytes=0,
        replay_paused=False,
        wal_receiver_status="streaming",
        upstream="127.0.0.1:5432",
    )
    rep = Replication(Role.STANDBY, standby=standby)
    status = only(evaluate(sample(replication=rep), [], TH), "replication_lag")
    assert status.level is level
    assert "this standby, upstream 127.0.0.1:5432" in status.message
    assert f"{lag_s:.1f} s" in status.message


# --------------------------------------------------------------------------- cache hit


@pytest.mark.parametrize(
    ("ratio", "level", "message", "label"),
    [
        (0.999, Level.OK, "cache hit 99.9% > warn 95%", "hit 100%"),
        (0.951, Level.OK, "cache hit 95.1% > warn 95%", "hit 95.1%"),
        (0.95, Level.WARN, "cache hit 95.0% ≤ warn 95%", "hit 95%"),
        (0.912, Level.WARN, "cache hit 91.2% ≤ warn 95%", "hit 91%"),
        (0.90, Level.CRIT, "cache hit 90.0% ≤ crit 90%", "hit 90%"),
        (0.5, Level.CRIT, "cache hit 50.0% ≤ crit 90%", "hit 50%"),
    ],
)
def test_cache_hit_lower_is_worse(ratio: float, level: Level, message: str, label: str) -> None:
    status = only(evaluate(sample(stats=stats(cache_hit_ratio=ratio)), [], TH), "cache_hit")
    assert (status.level, status.message, status.label) == (level, message, label)
    assert status.value == pytest.approx(100 * ratio)


def test_cache_hit_unknown_is_skipped() -> None:
    assert "cache_hit" not in metrics(evaluate(sample(stats=stats()), [], TH))


# --------------------------------------------------------------------------- tps drop


def history(tps_values: list[float]) -> list[Sample]:
    return [
        sample(at=T0 - timedelta(seconds=2 * (len(tps_values) - i)), stats=stats(tps=v))
        for i, v in enumerate(tps_values)
    ]


@pytest.mark.parametrize(
    ("now", "level", "drop"),
    [(100.0, Level.OK, 0.0), (60.0, Level.OK, 40.0), (50.0, Level.WARN, 50.0),
     (25.0, Level.WARN, 75.0), (20.0, Level.CRIT, 80.0), (0.0, Level.CRIT, 100.0)],
)  # fmt: skip
def test_tps_drop_against_recent_mean(now: float, level: Level, drop: float) -> None:
    current = sample(stats=stats(tps=now))
    status = only(evaluate(current, history([100.0] * 30), TH), "tps_drop")
    assert status.level is level
    assert status.value == pytest.approx(drop)
    assert "the recent mean 100.0/s (30 samples)" in status.message
    if level is not Level.OK:
        assert status.message == (
            f"TPS {now:.1f}/s is {drop:.0f}% below the recent mean 100.0/s (30 samples) "
            f"≥ {'crit 80' if level is Level.CRIT else 'warn 50'}%"
        )
        assert status.label == f"tps -{drop:.0f}%"


def test_tps_drop_uses_only_the_last_window() -> None:
    # 30 old samples at 1000 tps, then the window of TPS_WINDOW samples at 100: no drop at 100.
    current = sample(stats=stats(tps=100.0))
    status = only(evaluate(current, history([1000.0] * 30 + [100.0] * TPS_WINDOW), TH), "tps_drop")
    assert status.level is Level.OK


@pytest.mark.parametrize(
    "tps_history",
    [
        [100.0] * (TPS_MIN_SAMPLES - 1),  # not enough samples
        [4.9] * 30,  # mean below 5 tps: an idle server's noise
        [],
    ],
)
def test_tps_drop_guard(tps_history: list[float]) -> None:
    current = sample(stats=stats(tps=0.0))
    assert "tps_drop" not in metrics(evaluate(current, history(tps_history), TH))


def test_tps_drop_ignores_the_current_sample_and_other_sources() -> None:
    current = sample(stats=stats(tps=0.0))
    others = [dataclasses.replace(s, source="replica") for s in history([100.0] * 30)]
    assert "tps_drop" not in metrics(evaluate(current, [*others, current], TH))


# --------------------------------------------------------------------------- transactions


@pytest.mark.parametrize(
    ("seconds", "level", "verdict"),
    [(59.9, Level.OK, "< warn 60 s"), (60, Level.WARN, "≥ warn 60 s"),
     (299, Level.WARN, "≥ warn 60 s"), (312, Level.CRIT, "≥ crit 300 s")],
)  # fmt: skip
def test_longest_xact(seconds: float, level: Level, verdict: str) -> None:
    culprit = backend(4242, "batch-job", state="active", xact_s=seconds, state_s=1)
    current = sample(stats=stats(longest_transaction_s=seconds), activity=(culprit,))
    status = only(evaluate(current, [], TH), "longest_xact")
    assert status.level is level
    assert status.message.startswith("longest transaction ")
    assert '(pid 4242, "batch-job")' in status.message
    assert status.message.endswith(verdict)


def test_longest_xact_message_exact() -> None:
    current = sample(stats=stats(longest_transaction_s=312.4))
    status = only(evaluate(current, [], TH), "longest_xact")
    assert status.message == "longest transaction 312 s ≥ crit 300 s"
    assert status.label == "xact 5m12s"


@pytest.mark.parametrize(
    ("seconds", "level", "shown"),
    [
        (29.0, Level.OK, "29.0 s (pid 77"),
        (30.0, Level.WARN, "30.0 s (pid 77"),
        (119.9, Level.WARN, "119.9 s (pid 77"),  # not "120 s": that would read as the crit level
        (120, Level.CRIT, "120 s (pid 77"),
    ],
)
def test_idle_in_xact(seconds: float, level: Level, shown: str) -> None:
    idle = backend(77, "lab-idle-in-xact", state="idle in transaction", xact_s=500, state_s=seconds)
    current = sample(
        stats=stats(longest_idle_in_transaction_s=seconds, idle_in_transaction=1), activity=(idle,)
    )
    status = only(evaluate(current, [], TH), "idle_in_xact")
    assert status.level is level
    assert status.value == seconds
    assert '(pid 77, "lab-idle-in-xact")' in status.message
    assert status.message.startswith(f"idle in transaction {shown}")


def test_no_idle_in_xact_is_ok_and_unknown_is_skipped() -> None:
    status = only(evaluate(sample(stats=stats(idle_in_transaction=0)), [], TH), "idle_in_xact")
    assert status.level is Level.OK
    unknown = sample(stats=stats(idle_in_transaction=2, longest_idle_in_transaction_s=None))
    assert "idle_in_xact" not in metrics(evaluate(unknown, [], TH))


XID_CASES = [
    (150_000_000, Level.OK, "150,000,000 (oldest database) < warn 200,000,000", "xid 150M"),
    (200_000_000, Level.WARN, "200,000,000 (oldest database) ≥ warn 200,000,000", "xid 200M"),
    (1_200_000_000, Level.CRIT, "1,200,000,000 (oldest database) ≥ crit 1,000,000,000", "xid 1.2B"),
]


@pytest.mark.parametrize(("age", "level", "message", "label"), XID_CASES)
def test_xid_age(age: int, level: Level, message: str, label: str) -> None:
    status = only(evaluate(sample(stats=stats(oldest_xid_age=age)), [], TH), "xid_age")
    assert (status.level, status.message, status.label) == (level, f"xid age {message}", label)


# --------------------------------------------------------------------------- slots, archiver


def slot(name: str, *, active: bool, retained: int | None, wal_status: str = "reserved") -> Slot:
    return Slot(name, "physical", active, 1 if active else None, None, retained, wal_status)


@pytest.mark.parametrize(
    ("retained", "active", "level"),
    [
        (GIB - 1, False, Level.OK),
        (GIB, False, Level.WARN),
        (10 * GIB, False, Level.CRIT),
        (50 * GIB, True, Level.OK),  # an active slot's retention is replication lag, not this
    ],
)
def test_slot_retention(retained: int, active: bool, level: Level) -> None:
    rep = Replication(Role.PRIMARY, slots=(slot("s1", active=active, retained=retained),))
    status = only(evaluate(sample(replication=rep), [], TH), "slot_retention")
    assert status.level is level
    if level is Level.WARN:
        assert (
            status.message == 'replication slot "s1" inactive, retaining 1 GiB of WAL ≥ warn 1 GiB'
        )
        assert status.label == "slot 1G"
    if level is Level.CRIT:
        assert status.message.endswith("retaining 10 GiB of WAL ≥ crit 10 GiB")


def test_lost_slot_is_crit_even_when_small() -> None:
    rep = Replication(
        Role.PRIMARY,
        slots=(slot("ok", active=True, retained=0), slot("gone", active=False, retained=None,
                                                          wal_status="lost")),
    )  # fmt: skip
    status = only(evaluate(sample(replication=rep), [], TH), "slot_retention")
    assert status.level is Level.CRIT
    assert status.message.startswith(
        'replication slot "gone" has lost required WAL (wal_status lost)'
    )


def test_no_slots_no_status() -> None:
    assert "slot_retention" not in metrics(
        evaluate(sample(replication=Replication(Role.PRIMARY)), [], TH)
    )


def archiver(**overrides: Any) -> Archiver:
    base: dict[str, Any] = {
        "archive_mode": "on",
        "archived_count": 10,
        "failed_count": 0,
        "last_archived_wal": "000000010000000000000009",
        "last_archived_age_s": 5.0,
        "last_failed_wal": None,
        "last_failed_age_s": None,
    }
    base.update(overrides)
    return Archiver(**base)


FAILING = archiver(failed_count=3, last_failed_wal="00000001000000000000000A", last_failed_age_s=2)
NOTHING_YET = archiver(archived_count=0, last_archived_age_s=None, last_archived_wal=None)


@pytest.mark.parametrize(
    ("arch", "level", "needle"),
    [
        (archiver(), Level.OK, "archived 5.0 s ago (000000010000000000000009) < warn 600 s"),
        (archiver(last_archived_age_s=600), Level.WARN, "≥ warn 600 s"),
        (archiver(last_archived_age_s=3700), Level.CRIT, "3700 s ago"),
        (FAILING, Level.CRIT, "archiving failing since WAL 00000001000000000000000A (3 failures"),
        (NOTHING_YET, Level.OK, "no WAL archived yet"),
    ],
)
def test_archiver(arch: Archiver, level: Level, needle: str) -> None:
    rep = Replication(Role.PRIMARY, archiver=arch)
    status = only(evaluate(sample(replication=rep), [], TH), "archiver")
    assert status.level is level
    assert needle in status.message


def test_archiver_failure_older_than_success_is_not_failing() -> None:
    arch = archiver(failed_count=1, last_failed_wal="X", last_failed_age_s=100.0)
    status = only(
        evaluate(sample(replication=Replication(Role.PRIMARY, archiver=arch)), [], TH), "archiver"
    )
    assert status.level is Level.OK


def test_archive_mode_off_no_status() -> None:
    rep = Replication(Role.PRIMARY, archiver=archiver(archive_mode="off"))
    assert "archiver" not in metrics(evaluate(sample(replication=rep), [], TH))


# --------------------------------------------------------------------------- statements


def test_statements_unavailable_warns_with_the_reason() -> None:
    reason = 'pg_stat_statements is not installed in "app": run CREATE EXTENSION pg_stat_statements'
    current = sample(statements_status=StatementsStatus(available=False, reason=reason))
    status = only(evaluate(current, [], TH), "statements")
    assert status.level is Level.WARN
    assert status.message == f"pg_stat_statements unavailable: {reason}"
    ok = sample(statements_status=StatementsStatus(available=True))
    assert only(evaluate(ok, [], TH), "statements").level is Level.OK


# --------------------------------------------------------------------------- disconnected


@pytest.mark.parametrize("kind", ["postgres", "pgbouncer"])
def test_disconnected(kind: str) -> None:
    since = datetime(2025, 3, 1, 11, 58, 30, tzinfo=UTC)
    fields: dict[str, Any] = {
        "source": "primary",
        "taken_at": T0,
        "connected": False,
        "error": "cannot connect to app@127.0.0.1:5432/app: connection refused",
        "disconnected_since": since,
        "retries": 3,
    }
    statuses = (
        evaluate(Sample(**fields), [], TH)
        if kind == "postgres"
        else evaluate_bouncer(BouncerSample(**fields), TH)
    )
    assert len(statuses) == 1
    (status,) = statuses
    assert status.metric == "disconnected"
    assert status.level is Level.CRIT
    assert status.message == (
        "disconnected since 11:58:30 UTC (3 retries): "
        "cannot connect to app@127.0.0.1:5432/app: connection refused"
    )
    assert status.label == "down 1m30s"
    assert status.source == "primary"


# --------------------------------------------------------------------------- PgBouncer


def pool(db: str, user: str, *, waiting: int = 0, active: int = 0, idle: int = 0,
         size: int | None = 5, maxwait: float = 0.0) -> Pool:  # fmt: skip
    return Pool(db, user, "transaction", 3, waiting, active, idle, 0, 0, 0, maxwait, size)


def bouncer(*pools: Pool) -> BouncerSample:
    return BouncerSample(source="pgbouncer", taken_at=T0, connected=True, pools=pools)


@pytest.mark.parametrize(
    ("waiting", "level"), [(0, Level.OK), (1, Level.WARN), (9, Level.WARN), (10, Level.CRIT)]
)
def test_pool_waiting(waiting: int, level: Level) -> None:
    sample_ = bouncer(pool("postgres", "app"), pool("app", "app", waiting=waiting, maxwait=1.5))
    status = only(evaluate_bouncer(sample_, TH), "pool_waiting")
    assert status.level is level
    assert status.value == waiting
    assert status.source == "pgbouncer"
    if waiting:
        verdict = "≥ crit 10" if level is Level.CRIT else "≥ warn 1"
        noun = "client" if waiting == 1 else "clients"
        assert status.message == (
            f"pool app/app: {waiting} {noun} waiting, max wait 1.5 s {verdict}"
        )
    else:
        assert status.message == "no clients waiting in 2 pools < warn 1"


def test_pool_waiting_names_the_worst_and_counts_the_rest() -> None:
    sample_ = bouncer(
        pool("a", "u", waiting=2), pool("b", "u", waiting=12), pool("c", "u", waiting=1)
    )
    status = only(evaluate_bouncer(sample_, TH), "pool_waiting")
    assert status.level is Level.CRIT
    assert status.message.startswith("pool b/u: 12 clients waiting")
    assert status.message.endswith("(+2 more pools with waiting clients)")


@pytest.mark.parametrize(
    ("in_use", "level", "verdict"),
    [(4, Level.OK, "(80%) < warn 90%"), (5, Level.CRIT, "(100%) ≥ crit 100%")],
)
def test_pool_utilisation(in_use: int, level: Level, verdict: str) -> None:
    status = only(
        evaluate_bouncer(bouncer(pool("app", "app", active=in_use)), TH), "pool_utilisation"
    )
    assert status.level is level
    assert status.message == f"pool app/app: {in_use}/5 server connections {verdict}"
    assert status.label == f"pool {in_use * 20}%"


def test_pool_utilisation_warn_and_unknown_size() -> None:
    p = pool("app", "app", active=19, size=20)  # 95 %
    assert only(evaluate_bouncer(bouncer(p), TH), "pool_utilisation").level is Level.WARN
    unsized = bouncer(pool("app", "app", active=3, size=None))
    assert "pool_utilisation" not in metrics(evaluate_bouncer(unsized, TH))
    assert evaluate_bouncer(bouncer(), TH) == ()


# --------------------------------------------------------------------------- ordering, labels


def test_worst_and_worst_first() -> None:
    current = sample(
        stats=stats(client_connections=264, cache_hit_ratio=0.999, longest_transaction_s=70.0)
    )
    statuses = evaluate(current, [], TH)
    assert [s.metric for s in statuses] == [
        "connections",
        "cache_hit",
        "longest_xact",
        "idle_in_xact",
    ]
    ordered = worst_first(statuses)
    assert [s.level for s in ordered] == [Level.CRIT, Level.WARN, Level.OK, Level.OK]
    assert [s.metric for s in ordered] == [
        "connections",
        "longest_xact",
        "cache_hit",
        "idle_in_xact",
    ]
    assert worst(statuses) is Level.CRIT
    assert worst(s for s in statuses if s.level < Level.CRIT) is Level.WARN
    assert worst(()) is Level.OK


def test_custom_thresholds_are_used() -> None:
    strict = dataclasses.replace(TH, connections_pct=Threshold(1, 2))
    status = only(evaluate(sample(stats=stats(client_connections=12)), [], strict), "connections")
    assert status.level is Level.CRIT
    assert status.message == "connections 12/300 (4%) ≥ crit 2%"


def test_labels_are_short() -> None:
    rep = Replication(
        Role.PRIMARY,
        replicas=(replica("r", None, 999 * GIB),),
        slots=(slot("s", active=False, retained=999 * GIB),),
        archiver=archiver(last_archived_age_s=10 * 86400.0),
    )
    busy = sample(
        stats=stats(
            client_connections=299, tps=1.0, cache_hit_ratio=0.123456, oldest_xid_age=2_000_000_000,
            longest_transaction_s=30 * 86400.0, longest_idle_in_transaction_s=30 * 86400.0,
        ),
        replication=rep,
        statements_status=StatementsStatus(available=False, reason="no"),
    )  # fmt: skip
    statuses = evaluate(busy, history([100.0] * 30), TH)
    assert len(statuses) == 10
    bouncer_statuses = evaluate_bouncer(
        bouncer(pool("a" * 40, "b" * 40, waiting=12345, active=999)), TH
    )
    for status in (*statuses, *bouncer_statuses):
        assert 0 < len(status.label) <= LABEL_MAX, status.label
        assert "\n" not in status.message


# --------------------------------------------------------------------------- integration


async def test_health_of_a_live_lab_sample(lab: Lab) -> None:
    """The PostgreSQL collector's real sample: connections OK, and an idle-in-transaction
    session held past a 1 s warn level shows as WARN naming its pid."""
    from pgtop.collect.postgres import PostgresSource
    from pgtop.workload import idle_in_transaction

    thresholds = dataclasses.replace(TH, idle_in_xact_s=Threshold(1, 3600))
    source = PostgresSource(lab.monitor_dsn())
    await source.connect()
    try:
        with idle_in_transaction(lab.app_dsn(), bound_s=60) as pid:
            await asyncio.sleep(1.5)
            live = await source.poll()
    finally:
        await source.close()
    assert live.connected, live.error
    statuses = evaluate(live, [], thresholds)
    connections = only(statuses, "connections")
    assert connections.level is Level.OK
    assert connections.source == live.source
    idle = only(statuses, "idle_in_xact")
    assert idle.level is Level.WARN
    assert idle.value is not None
    assert idle.value >= 1.0
    assert f"(pid {pid}, " in idle.message
    assert idle.message.endswith("≥ warn 1 s")
