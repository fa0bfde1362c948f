"""health.py: thresholds → Status per metric. Pure maths over constructed model records, plus one
integration test per lab major when the PostgreSQL collector exists."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pgtop.config import Threshold, Thresholds
from pgtop.health import (
    CULPRIT_MAX,
    LABEL_MAX,
    LOCK_WAIT_MIN_S,
    TPS_MIN_SAMPLES,
    TPS_WINDOW,
    Counters,
    HealthMemory,
    StatementRegressions,
    evaluate,
    evaluate_bouncer,
    mixture_before_ms,
    regression,
    slot_level,
    worst,
    worst_first,
)
from pgtop.lab import Lab
from pgtop.model import (
    Archiver,
    Backend,
    BouncerSample,
    Level,
    LockNode,
    Pool,
    Progress,
    Replica,
    Replication,
    Role,
    Sample,
    ServerStats,
    Slot,
    StandbyStatus,
    Statement,
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


FREEZE = ": VACUUM (FREEZE) the oldest database"
XID_CASES = [
    (150_000_000, Level.OK, "150,000,000 (oldest database) < warn 200,000,000", "xid 150M"),
    (200_000_000, Level.WARN, "200,000,000 (oldest database) ≥ warn 200,000,000" + FREEZE,
     "xid 200M"),
    (1_200_000_000, Level.CRIT, "1,200,000,000 (oldest database) ≥ crit 1,000,000,000" + FREEZE,
     "xid 1.2B"),
]  # fmt: skip


@pytest.mark.parametrize(("age", "level", "message", "label"), XID_CASES)
def test_xid_age(age: int, level: Level, message: str, label: str) -> None:
    status = only(evaluate(sample(stats=stats(oldest_xid_age=age)), [], TH), "xid_age")
    assert (status.level, status.message, status.label) == (level, f"xid age {message}", label)
    assert status.culprit == ("" if level is Level.OK else "vacuum freeze")


def test_xid_age_names_the_session_holding_the_oldest_snapshot() -> None:
    holder = dataclasses.replace(
        backend(91, "report", state="active", xact_s=9000, state_s=9000), xmin_age=250_000_000
    )
    current = sample(stats=stats(oldest_xid_age=260_000_000), activity=(holder,))
    status = only(evaluate(current, [], TH), "xid_age")
    assert status.level is Level.WARN
    assert status.culprit == "pid 91 report"
    assert status.message.endswith(
        ': the oldest snapshot (pid 91, "report") is 250,000,000 xids old'
    )


# --------------------------------------------------------------------------- slots, archiver


def slot(name: str, *, active: bool, retained: int | None, wal_status: str = "reserved") -> Slot:
    return Slot(name, "physical", active, 1 if active else None, None, retained, wal_status)


MIB = 1024**2


@pytest.mark.parametrize(
    ("retained", "active", "wal_status", "level", "message", "label"),
    [
        (0, False, "reserved", Level.OK,
         "replication slots: 1 slot, none inactive, none lost, none retaining ≥ 1 GiB",
         "slots ok"),
        # any inactive slot retaining WAL warns (postgres_exporter's rule), however little
        (MIB, False, "reserved", Level.WARN,
         'replication slot "s1" (physical) inactive, retaining 1 MiB of WAL '
         "> 0 B while inactive → warn", "slot 1M"),
        (GIB, False, "reserved", Level.WARN,
         'replication slot "s1" (physical) inactive, retaining 1 GiB of WAL ≥ warn 1 GiB',
         "slot 1G"),
        (10 * GIB, False, "extended", Level.CRIT,
         'replication slot "s1" (physical) inactive, retaining 10 GiB of WAL ≥ crit 10 GiB',
         "slot 10G"),
        # an active slot is judged by the levels: a consumer that keeps up retains little
        (MIB, True, "reserved", Level.OK,
         "replication slots: 1 slot, none inactive, none lost, none retaining ≥ 1 GiB",
         "slots ok"),
        (50 * GIB, True, "extended", Level.CRIT,
         'replication slot "s1" (physical) active, retaining 50 GiB of WAL ≥ crit 10 GiB',
         "slot 50G"),
        (300 * MIB, False, "unreserved", Level.CRIT,
         'replication slot "s1" (physical) retains 300 MiB of WAL past max_slot_wal_keep_size '
         "(wal_status unreserved): it is removed at the next checkpoint and the consumer breaks",
         "slot unresv"),
    ],
)  # fmt: skip
def test_slot_retention(
    retained: int, active: bool, wal_status: str, level: Level, message: str, label: str
) -> None:
    the_slot = slot("s1", active=active, retained=retained, wal_status=wal_status)
    rep = Replication(Role.PRIMARY, slots=(the_slot,))
    status = only(evaluate(sample(replication=rep), [], TH), "slot_retention")
    assert (status.level, status.message, status.label) == (level, message, label)
    assert status.culprit == ("" if level is Level.OK else "s1")
    assert slot_level(the_slot, TH.slot_retained_wal_bytes) is level


def test_slot_retention_names_the_worst_and_counts_the_rest() -> None:
    rep = Replication(
        Role.PRIMARY,
        slots=(
            slot("small", active=False, retained=MIB),
            slot("replica", active=True, retained=MIB),
            slot("big", active=False, retained=12 * GIB),
            slot("medium", active=False, retained=300 * MIB),
        ),
    )
    status = only(evaluate(sample(replication=rep), [], TH), "slot_retention")
    assert status.level is Level.CRIT
    assert status.culprit == "big"
    assert status.message.endswith("≥ crit 10 GiB (+2 more slots flagged)")


def test_lost_slot_is_crit_even_when_small() -> None:
    rep = Replication(
        Role.PRIMARY,
        slots=(slot("ok", active=True, retained=0), slot("gone", active=False, retained=None,
                                                          wal_status="lost")),
    )  # fmt: skip
    status = only(evaluate(sample(replication=rep), [], TH), "slot_retention")
    assert status.level is Level.CRIT
    assert status.culprit == "gone"
    assert status.label == "slot lost"
    assert status.message.startswith(
        'replication slot "gone" (physical) has lost required WAL (wal_status lost)'
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
        # a quiet server fills no segment: an old last archive is no backlog
        (archiver(last_archived_age_s=7200, pending_segments=0), Level.OK, "no complete segment"),
        (archiver(last_archived_age_s=3700, pending_segments=3), Level.CRIT, "3 segments waiting"),
        (archiver(last_archived_age_s=700, pending_segments=1), Level.WARN, "1 segment waiting"),
    ],
)
def test_archiver(arch: Archiver, level: Level, needle: str) -> None:
    rep = Replication(Role.PRIMARY, archiver=arch)
    status = only(evaluate(sample(replication=rep), [], TH), "archiver")
    assert status.level is level
    assert needle in status.message


def test_archiver_chip_still_while_nothing_waits() -> None:
    def label(age: float, pending: int) -> str:
        arch = archiver(last_archived_age_s=age, pending_segments=pending)
        return only(
            evaluate(sample(replication=Replication(Role.PRIMARY, archiver=arch)), [], TH),
            "archiver",
        ).label

    assert label(70, 0) == label(71, 0) == "arch ok"
    assert label(70, 1) == "arch 1m10s"


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


# --------------------------------------------------------------------------- lock waits


def lock_node(pid: int, app: str, *, children: tuple[LockNode, ...] = (), **wait: Any) -> LockNode:
    return LockNode(
        pid=pid,
        user="app",
        database="app",
        application=app,
        state="idle in transaction" if not wait else "active",
        query="UPDATE lab_lock SET v = v + 1 WHERE id = 1",
        xact_s=185.0,
        children=children,
        **wait,
    )


def waiter(pid: int, waited_s: float | None, *, children: tuple[LockNode, ...] = (),
           mode: str = "ShareLock", relation: str | None = None) -> LockNode:  # fmt: skip
    return lock_node(
        pid,
        f"waiter-{pid}",
        children=children,
        mode=mode,
        locktype="relation" if relation else "transactionid",
        relation=relation,
        waited_s=waited_s,
    )


def chain(*waits: float) -> LockNode:
    """A root blocker (pid 4201) with a chain of waiters below it, one per wait."""
    below: tuple[LockNode, ...] = ()
    for i, waited in reversed(list(enumerate(waits))):
        below = (waiter(4202 + i, waited, children=below),)
    return lock_node(4201, "lab-blocker", children=below)


@pytest.mark.parametrize(
    ("waits", "level", "verdict", "label"),
    [
        ((0.02, 0.01), Level.OK, "< warn 5 s", "locks 2 20ms"),
        ((4.9,), Level.OK, "< warn 5 s", "locks 1 4.9s"),
        ((5.0, 1.0), Level.WARN, "≥ warn 5 s", "locks 2 5.0s"),
        ((42.0, 30.0, 12.0), Level.CRIT, "≥ crit 30 s", "locks 3 42s"),
        # by count: five sessions waiting ≥ 1 s each, none for long
        ((2.0,) * 5, Level.WARN, "(5 sessions waiting ≥ 1 s ≥ warn 5)", "locks 5 2.0s"),
        ((2.0,) * 20, Level.CRIT, "(20 sessions waiting ≥ 1 s ≥ crit 20)", "locks 20 2.0s"),
        ((0.5,) * 20, Level.OK, "< warn 5 s", "locks 20 500ms"),  # short waits are traffic
    ],
)
def test_lock_waits(waits: tuple[float, ...], level: Level, verdict: str, label: str) -> None:
    status = only(evaluate(sample(stats=stats(), locks=(chain(*waits),)), [], TH), "lock_waits")
    assert (status.level, status.label) == (level, label)
    assert status.value == max(waits)
    assert f'{verdict}: root blocker pid 4201 "lab-blocker"' in status.message
    assert status.message.endswith(f"(idle in transaction, transaction 185 s) blocks {len(waits)}")
    assert status.culprit == "pid 4201 lab-blocker"


def test_lock_waits_message_names_the_longest_waiter_and_what_it_waits_for() -> None:
    tree = lock_node(
        4201,
        "lab-blocker",
        children=(
            waiter(4202, 95.2, children=(
                waiter(4203, 42.0, mode="AccessExclusiveLock", relation="public.lab_items",
                       children=(waiter(4204, 41.0, mode="AccessShareLock",
                                        relation="public.lab_items"),)),
            )),
        ),
    )  # fmt: skip
    status = only(evaluate(sample(stats=stats(), locks=(tree,)), [], TH), "lock_waits")
    assert status.message == (
        "3 sessions waiting for locks, longest 95.2 s (pid 4202 for ShareLock on transactionid) "
        '≥ crit 30 s: root blocker pid 4201 "lab-blocker" (idle in transaction, transaction '
        "185 s) blocks 3"
    )


def test_lock_waits_name_the_root_of_the_worst_tree() -> None:
    busy = lock_node(10, "pgbench", children=tuple(waiter(11 + i, 0.01) for i in range(6)))
    stuck = lock_node(20, "migration", children=(waiter(21, 40.0),))
    current = sample(stats=stats(), locks=(busy, stuck))
    status = only(evaluate(current, [], TH), "lock_waits")
    assert status.level is Level.CRIT
    assert status.culprit == "pid 20 migration"
    assert status.label == "locks 7 40s"
    assert status.message.endswith("blocks 1 (+1 more blocking tree)")


def test_lock_waits_behind_a_prepared_transaction() -> None:
    root = LockNode(0, None, None, "prepared transaction", None, "", None,
                    children=(waiter(31, 60.0),))  # fmt: skip
    status = only(evaluate(sample(stats=stats(), locks=(root,)), [], TH), "lock_waits")
    assert status.culprit == "prepared xact"
    assert "root blocker a prepared transaction blocks 1" in status.message


def test_no_lock_waits_is_ok_and_unknown_is_skipped() -> None:
    status = only(evaluate(sample(stats=stats()), [], TH), "lock_waits")
    assert (status.level, status.label, status.culprit) == (Level.OK, "locks 0", "")
    assert status.message == "no session waiting for a lock < warn 5 s"
    assert "lock_waits" not in metrics(evaluate(sample(), [], TH))
    assert LOCK_WAIT_MIN_S == 1.0


def test_lock_wait_thresholds_come_from_the_config() -> None:
    strict = dataclasses.replace(TH, lock_wait_s=Threshold(0.5, 1), lock_waiters=Threshold(1, 2))
    status = only(evaluate(sample(stats=stats(), locks=(chain(0.8),)), [], strict), "lock_waits")
    assert status.level is Level.WARN
    assert "≥ warn 0.5 s" in status.message


# --------------------------------------------------------------------------- connections by owner


def leak(n: int, app: str, state: str = "idle in transaction", **fields: Any) -> list[Backend]:
    return [
        dataclasses.replace(
            backend(1000 + i, app, state=state, xact_s=60.0, state_s=60.0), **fields
        )
        for i in range(n)
    ]


def test_connections_past_their_threshold_name_the_application_holding_most() -> None:
    activity = (
        *leak(266, "leaky-app"),
        *leak(2, "leaky-app", "active"),
        *leak(3, "web", "active", client="10.0.0.9"),
    )
    current = sample(stats=stats(client_connections=272), activity=tuple(activity))
    status = only(evaluate(current, [], TH), "connections")
    assert status.level is Level.CRIT
    assert status.culprit == "leaky-app ×268"
    assert status.message == (
        'connections 272/300 (91%) ≥ crit 85%: application "leaky-app" holds the most: 268 '
        '(266 idle in transaction, 2 active); top user "app" 271, top client 127.0.0.1 268'
    )


def test_connections_owner_without_application_names_is_the_user() -> None:
    current = sample(stats=stats(client_connections=215), activity=tuple(leak(214, "")))
    status = only(evaluate(current, [], TH), "connections")
    assert status.level is Level.WARN
    assert status.culprit == "user app ×214"
    assert status.message.endswith(': top user "app" 214, top client 127.0.0.1 214')


def test_connections_below_their_threshold_name_nobody() -> None:
    current = sample(stats=stats(client_connections=12), activity=tuple(leak(11, "leaky-app")))
    status = only(evaluate(current, [], TH), "connections")
    assert (status.level, status.culprit) == (Level.OK, "")
    assert "held" not in status.message


# --------------------------------------------------------------------------- progress


def progress(command: str, relation: str | None, phase: str | None, done: int | None,
             total: int | None, pid: int = 4501) -> Progress:  # fmt: skip
    return Progress(pid, command, "app", relation, phase, done, total)


@pytest.mark.parametrize(
    ("running", "label", "culprit", "message"),
    [
        ((progress("CREATE INDEX CONCURRENTLY", "public.orders", "building index: scanning "
                   "table", 420, 1000),),
         "idx 42%", "orders",
         "CREATE INDEX CONCURRENTLY on public.orders: building index: scanning table 42% "
         "(420 of 1,000) (pid 4501, database app)"),
        ((progress("CREATE INDEX CONCURRENTLY", "orders", "waiting for old snapshots", None,
                   None),),
         "idx waiting", "orders",
         "CREATE INDEX CONCURRENTLY on orders: waiting for old snapshots (pid 4501, database app)"),
        ((progress("BASE BACKUP", None, "streaming database files", 999, 1000, pid=77),),
         "backup 99.9%", "pid 77",
         "BASE BACKUP: streaming database files 99.9% (999 of 1,000) (pid 77, database app)"),
        # the heaviest first: an index build before an autovacuum, the others listed
        ((progress("VACUUM", "pgbench_accounts", "scanning heap", 10, 100, pid=5),
          progress("ANALYZE", "t", "acquiring sample rows", 1, 4, pid=6),
          progress("CLUSTER", "events", "seq scanning heap", 3, 4, pid=7)),
         "cluster 75%", "events",
         "CLUSTER on events: seq scanning heap 75% (3 of 4) (pid 7, database app); also VACUUM "
         "pgbench_accounts, ANALYZE t"),
    ],
)  # fmt: skip
def test_progress_is_an_info_status(
    running: tuple[Progress, ...], label: str, culprit: str, message: str
) -> None:
    status = only(evaluate(sample(progress=running), [], TH), "progress")
    assert status.level is Level.OK
    assert (status.label, status.culprit, status.message) == (label, culprit, message)


def test_no_progress_no_status() -> None:
    assert "progress" not in metrics(evaluate(sample(), [], TH))


# --------------------------------------------------------------------------- statement regression


class Calls:
    """One statement's calls as pg_stat_statements counts them (cumulative, population
    stddev), for synthetic series."""

    def __init__(self, queryid: int = 42, text: str = "SELECT * FROM orders WHERE id = $1") -> None:
        self.queryid, self.text = queryid, text
        self.n, self.total, self.sq, self.low, self.high = 0, 0.0, 0.0, math.inf, 0.0

    def run(self, times: list[float]) -> Calls:
        for t in times:
            self.n += 1
            self.total += t
            self.sq += t * t
            self.low, self.high = min(self.low, t), max(self.high, t)
        return self

    def counters(self, at: float) -> Counters:
        return Counters(at, self.n, self.total, self.sq)

    def statement(self) -> Statement:
        mean = self.total / self.n
        stddev = math.sqrt(max(0.0, self.sq / self.n - mean * mean))
        return Statement(
            queryid=self.queryid, user="app", database="app", query=self.text,
            calls_per_s=None, exec_ms_per_s=None, mean_ms_interval=None, rows_per_s=None,
            shared_hit_per_s=None, shared_read_per_s=None, temp_blks_per_s=None,
            io_ms_per_s=None, calls=self.n, total_exec_ms=self.total, mean_ms=mean,
            stddev_ms=stddev, min_ms=self.low, max_ms=self.high, rows=self.n, shared_hit=0,
            shared_read=0,
        )  # fmt: skip


def around(rng: random.Random, mean: float, spread: float, n: int) -> list[float]:
    """``n`` call times around ``mean`` (± ``spread``, never below a tenth of the mean)."""
    return [max(mean / 10, rng.gauss(mean, spread)) for _ in range(n)]


def test_counters_rebuild_the_sum_of_squares_from_the_population_stddev() -> None:
    calls = Calls().run([1.0, 2.0, 3.0, 10.0])
    counters = Counters.of(calls.statement(), 5.0)
    assert counters == Counters(5.0, 4, 16.0, pytest.approx(114.0))


def test_mixture_recovers_the_fast_mean_from_mixed_counters() -> None:
    rng = random.Random(1)
    mixed = Calls().run(around(rng, 0.2, 0.05, 10_000)).run(around(rng, 45.0, 3.0, 15_000))
    before = mixed.counters(0.0)
    assert before.total_ms / before.calls > 25  # the counted mean: most calls are slow already
    estimate = mixture_before_ms(before, 45.0, 3.0, mixed.low, min_calls=20)
    assert estimate == pytest.approx(0.2, rel=0.25)


def test_mixture_finds_no_faster_behaviour_in_one_behaviour() -> None:
    """A steady statement whose last calls read a little slow, with a little less spread than
    all of them: the variance leaves no room for a much faster earlier behaviour."""
    rng = random.Random(2)
    one = Calls().run(around(rng, 45.0, 3.0, 20_000))
    counted = one.total / one.n
    estimate = mixture_before_ms(one.counters(0.0), 45.8, 2.6, one.low, min_calls=20)
    assert estimate is not None
    assert estimate > 0.85 * counted
    # not slower than what was counted, or no more spread than now: nothing to estimate
    assert mixture_before_ms(one.counters(0.0), 44.0, 2.6, one.low, min_calls=20) is None
    assert mixture_before_ms(one.counters(0.0), 46.0, 4.0, one.low, min_calls=20) is None


def test_regression_with_pgtop_running_before_the_change() -> None:
    rng = random.Random(3)
    calls = Calls().run(around(rng, 0.2, 0.05, 10_000))
    start = calls.counters(0.0)
    now = calls.run(around(rng, 45.0, 3.0, 40)).counters(2.0)
    found = regression(start, now, calls.low, min_calls=20)
    assert found is not None
    assert found.counted_mean_ms == pytest.approx(0.2, rel=0.05)
    assert found.ratio(found.counted_mean_ms) == pytest.approx(225, rel=0.1)
    assert (found.recent_calls, found.window_s) == (40, 2.0)


@pytest.mark.parametrize(("slow_share", "at_least"), [(0.2, 100), (0.6, 20), (0.95, 5)])
def test_regression_with_pgtop_started_after_the_change(slow_share: float, at_least: float) -> None:
    """The counters already hold slow calls when pgtop first reads them: the counted mean is
    far above the fast one (the direct ratio reads as 1.05x at 95 % slow calls); the mixture
    estimate finds a fast mean again (roughly: the more slow calls, the rougher)."""
    rng = random.Random(4)
    fast = round(20_000 * (1 - slow_share))
    calls = Calls().run(around(rng, 0.2, 0.05, fast)).run(around(rng, 45.0, 3.0, 20_000 - fast))
    start = calls.counters(0.0)
    now = calls.run(around(rng, 45.0, 3.0, 40)).counters(2.0)
    found = regression(start, now, calls.low, min_calls=20)
    assert found is not None
    assert found.ratio(found.counted_mean_ms) < 5
    assert found.estimated_mean_ms is not None
    assert found.ratio(found.estimated_mean_ms) > at_least


def test_regression_needs_calls_on_both_sides() -> None:
    rng = random.Random(5)
    calls = Calls().run(around(rng, 0.2, 0.05, 19))
    start = calls.counters(0.0)
    now = calls.run(around(rng, 45.0, 3.0, 40)).counters(2.0)
    assert regression(start, now, calls.low, min_calls=20) is None  # 19 before
    calls = Calls().run(around(rng, 0.2, 0.05, 1000))
    start = calls.counters(0.0)
    now = calls.run(around(rng, 45.0, 3.0, 19)).counters(2.0)
    assert regression(start, now, calls.low, min_calls=20) is None  # 19 recent


def feed_reads(
    reads: list[list[float]], *, calls: Calls | None = None, thresholds: Thresholds = TH,
    memory: HealthMemory | None = None, step_s: float = 2.0,
) -> list[Status | None]:  # fmt: skip
    """Each read's statement_regression status, the reads ``step_s`` apart."""
    calls = calls or Calls()
    memory = memory or HealthMemory()
    out: list[Status | None] = []
    for i, times in enumerate(reads):
        calls.run(times)
        current = sample(
            at=T0 + timedelta(seconds=step_s * i),
            statements=(calls.statement(),),
            statements_status=StatementsStatus(available=True),
        )
        found = [s for s in evaluate(current, [], thresholds, memory) if s.metric == (
            "statement_regression")]  # fmt: skip
        out.append(found[0] if found else None)
    return out


def level_of(status: Status | None) -> Level | None:
    return None if status is None else status.level


def test_a_statement_that_got_slow_is_named_on_the_first_read_after() -> None:
    rng = random.Random(6)
    reads = [around(rng, 0.2, 0.05, 3000) for _ in range(5)] + [around(rng, 45.0, 3.0, 40)]
    statuses = feed_reads(reads)
    assert [level_of(s) for s in statuses[:5]] == [Level.OK] * 5
    last = statuses[-1]
    assert last is not None
    assert last.level is Level.CRIT
    assert last.label.startswith("slow ")
    assert last.label.endswith("×")
    assert last.culprit == "SELECT * FROM orders WHERE id = $1"
    assert last.message.startswith("statement ")
    assert "over its last 40 calls (2.0 s) vs 0.20 ms before (the mean of its 15,000 calls" in (
        last.message
    )
    assert last.message.endswith(
        '≥ crit 5×: "SELECT * FROM orders WHERE id = $1" (queryid 42, user app, database app)'
    )


def test_a_statement_slow_before_pgtop_started_is_named_on_its_second_read() -> None:
    rng = random.Random(7)
    calls = Calls().run(around(rng, 0.2, 0.05, 6000)).run(around(rng, 45.0, 3.0, 9000))
    statuses = feed_reads([[], around(rng, 45.0, 3.0, 40)], calls=calls)
    first, second = statuses
    assert first is not None
    assert first.level is Level.OK
    assert first.message.startswith("no statement slower than before (none judged yet")
    assert second is not None
    assert second.level is Level.WARN  # an estimate says warn at most
    assert second.culprit == "SELECT * FROM orders WHERE id = $1"
    assert "estimated from its min, mean and stddev: its 15,000 calls counted at" in (
        second.message
    )


@pytest.mark.parametrize("seed", range(8))
def test_noise_never_flags(seed: int) -> None:
    """A heavy-tailed statement (log-normal times, stddev > mean) with no change, read 100
    times, 30 calls a read: no WARN, whatever its recent window looks like."""
    rng = random.Random(seed)
    reads = [[rng.lognormvariate(math.log(5.0), 1.0) for _ in range(30)] for _ in range(100)]
    assert {level_of(s) for s in feed_reads(reads)} == {Level.OK}


def test_a_rise_below_the_floor_in_ms_never_flags() -> None:
    rng = random.Random(9)
    reads = [around(rng, 0.05, 0.01, 3000) for _ in range(3)] + [around(rng, 0.6, 0.05, 100)]
    assert level_of(feed_reads(reads)[-1]) is Level.OK  # 12x, but 0.55 ms
    relaxed = dataclasses.replace(TH, regression_min_ms=0.1)
    assert level_of(feed_reads(reads, thresholds=relaxed)[-1]) is Level.CRIT


@pytest.mark.parametrize(("slow_ms", "level"), [(0.3, Level.OK), (2.0, Level.OK),
                                                (5.0, Level.WARN), (15.0, Level.CRIT)])  # fmt: skip
def test_regression_levels(slow_ms: float, level: Level) -> None:
    rng = random.Random(10)
    reads = [around(rng, 2.0, 0.2, 1000) for _ in range(3)] + [around(rng, slow_ms, 0.2, 50)]
    status = feed_reads(reads)[-1]
    assert status is not None
    assert status.level is level
    assert status.culprit == ("" if level is Level.OK else "SELECT * FROM orders WHERE id = $1")


def test_a_few_calls_are_summed_over_the_reads_until_the_floor() -> None:
    rng = random.Random(11)
    reads = [around(rng, 1.0, 0.1, 500)] + [around(rng, 20.0, 1.0, 5) for _ in range(5)]
    levels = [level_of(s) for s in feed_reads(reads)]
    # 5 calls a read: judged once 20 have come (the fifth slow read), over the last four reads
    assert levels == [Level.OK] * 4 + [Level.CRIT] * 2


def test_no_flapping_when_a_tick_has_no_statements() -> None:
    rng = random.Random(12)
    calls = Calls().run(around(rng, 0.2, 0.05, 5000))
    memory = HealthMemory()
    feed_reads([[]], calls=calls, memory=memory)
    (status,) = feed_reads([around(rng, 45.0, 3.0, 40)], calls=calls, memory=memory)
    assert status is not None
    assert status.level is Level.CRIT
    for i in range(3):  # ticks between reads: no statements at all
        bare = sample(at=T0 + timedelta(seconds=10 + i), statements_status=None)
        kept = only(evaluate(bare, [], TH, memory), "statement_regression")
        assert kept == status
    gone = sample(statements_status=StatementsStatus(available=False, reason="dropped"))
    assert "statement_regression" not in metrics(evaluate(gone, [], TH, memory))


def test_the_same_read_again_is_not_judged_again() -> None:
    rng = random.Random(13)
    calls = Calls().run(around(rng, 0.2, 0.05, 5000))
    memory = HealthMemory()
    statements = (calls.statement(),)
    first = evaluate(sample(statements=statements), [], TH, memory)
    again = evaluate(sample(at=T0 + timedelta(seconds=2), statements=statements), [], TH, memory)
    assert only(first, "statement_regression") == only(again, "statement_regression")


def test_a_reset_forgets_what_came_before() -> None:
    rng = random.Random(14)
    memory = HealthMemory()
    feed_reads([around(rng, 0.2, 0.05, 5000)], memory=memory)
    # pg_stat_statements_reset(), then only slow calls: a fresh entry, nothing before it
    reset = StatementsStatus(available=True, reset_detected=True)
    fresh = Calls().run(around(rng, 45.0, 3.0, 40))
    current = sample(at=T0 + timedelta(seconds=2), statements=(fresh.statement(),),
                     statements_status=reset)  # fmt: skip
    status = only(evaluate(current, [], TH, memory), "statement_regression")
    assert status.level is Level.OK


def test_the_tracker_keeps_few_reads_per_statement() -> None:
    tracker = StatementRegressions()
    rng = random.Random(15)
    calls = Calls()
    for i in range(100):
        calls.run(around(rng, 1.0, 0.1, 100))
        tracker.observe([calls.statement()], 2.0 * i, window_s=60, min_calls=20)
    assert len(tracker) == 1
    assert len(tracker._points[(42, "app", "app")]) == 2  # the window's start and now


def test_toplevel_and_nested_entries_of_a_statement_are_summed() -> None:
    rng = random.Random(16)
    top, nested = Calls(), Calls()
    tracker = StatementRegressions()
    top.run(around(rng, 0.2, 0.05, 3000))
    nested.run(around(rng, 0.2, 0.05, 3000))
    tracker.observe([top.statement(), nested.statement()], 0.0, window_s=60, min_calls=20)
    top.run(around(rng, 45.0, 3.0, 15))  # 15 + 15: the floor of 20 is met by the sum only
    nested.run(around(rng, 45.0, 3.0, 15))
    ((_, found),) = tracker.observe(
        [top.statement(), nested.statement()], 2.0, window_s=60, min_calls=20
    )
    assert (found.recent_calls, found.before_calls) == (30, 6000)
    assert tracker.judged == 1


def test_counters_going_back_start_the_statement_again() -> None:
    rng = random.Random(17)
    tracker = StatementRegressions()
    calls = Calls().run(around(rng, 0.2, 0.05, 3000))
    tracker.observe([calls.statement()], 0.0, window_s=60, min_calls=20)
    evicted = Calls().run(around(rng, 45.0, 3.0, 40))  # re-added after an eviction
    assert tracker.observe([evicted.statement()], 2.0, window_s=60, min_calls=20) == []
    evicted.run(around(rng, 45.0, 3.0, 40))
    ((_, found),) = tracker.observe([evicted.statement()], 4.0, window_s=60, min_calls=20)
    assert found.before_calls == 40  # what came before the eviction is not "before"


def test_a_statement_not_called_keeps_its_verdict_within_the_window() -> None:
    rng = random.Random(18)
    tracker = StatementRegressions()
    calls = Calls().run(around(rng, 0.2, 0.05, 3000))
    tracker.observe([calls.statement()], 0.0, window_s=10, min_calls=20)
    calls.run(around(rng, 45.0, 3.0, 40))
    assert len(tracker.observe([calls.statement()], 2.0, window_s=10, min_calls=20)) == 1
    assert len(tracker.observe([calls.statement()], 8.0, window_s=10, min_calls=20)) == 1
    assert tracker.observe([calls.statement()], 13.0, window_s=10, min_calls=20) == []


def test_reads_further_apart_than_the_window_are_still_judged() -> None:
    """Statements read every 90 s (a hidden pane, a large pg_stat_statements): the interval
    since the previous read is the recent window, however long."""
    rng = random.Random(19)
    reads = [around(rng, 0.2, 0.05, 3000), around(rng, 45.0, 3.0, 40)]
    last = feed_reads(reads, step_s=90.0)[-1]
    assert last is not None
    assert last.level is Level.CRIT
    assert "over its last 40 calls (90.0 s)" in last.message


def test_evaluate_without_memory_has_no_regression_status() -> None:
    calls = Calls().run([1.0] * 100)
    current = sample(statements=(calls.statement(),), statements_status=StatementsStatus(True))
    assert "statement_regression" not in metrics(evaluate(current, [], TH))


# --------------------------------------------------------------------------- culprits


def test_every_alarm_names_its_culprit_in_its_message() -> None:
    """Each WARN/CRIT status carries a culprit, also in its message (what the bar shows
    short is in the details in full)."""
    idle = backend(77, "lab-idle", state="idle in transaction", xact_s=500, state_s=400)
    reader = dataclasses.replace(Calls().run([1.0] * 10).statement(), shared_read_per_s=900.0)
    rep = Replication(
        Role.PRIMARY,
        replicas=(replica("r-slow", 12.3),),
        slots=(slot("stale", active=False, retained=GIB),),
        archiver=FAILING,
    )
    current = sample(
        stats=stats(client_connections=280, cache_hit_ratio=0.5, tps=1.0,
                    longest_transaction_s=500.0, longest_idle_in_transaction_s=400.0,
                    idle_in_transaction=1),
        activity=(idle,),
        locks=(chain(40.0),),
        replication=rep,
        statements=(reader,),
        statements_status=StatementsStatus(available=False, reason="gone"),
    )  # fmt: skip
    statuses = evaluate(current, history([100.0] * 30), TH)
    alarms = [s for s in statuses if s.level is not Level.OK]
    assert {s.metric for s in alarms} == {
        "connections", "lock_waits", "replication_lag", "cache_hit", "tps_drop", "longest_xact",
        "idle_in_xact", "slot_retention", "archiver", "statements",
    }  # fmt: skip
    for status in alarms:
        assert status.culprit, status
        name = status.culprit.rstrip("…").split(" ×")[0]
        assert name in status.message.replace('"', "").replace(", ", " "), status
    pools = evaluate_bouncer(bouncer(pool("app", "app", waiting=3, active=5)), TH)
    for status in pools:
        assert status.culprit == "app/app"
        assert "app/app" in status.message


# --------------------------------------------------------------------------- ordering, labels


def test_worst_and_worst_first() -> None:
    current = sample(
        stats=stats(client_connections=264, cache_hit_ratio=0.999, longest_transaction_s=70.0)
    )
    statuses = evaluate(current, [], TH)
    assert [s.metric for s in statuses] == [
        "connections",
        "lock_waits",
        "cache_hit",
        "longest_xact",
        "idle_in_xact",
    ]
    ordered = worst_first(statuses)
    assert [s.level for s in ordered] == [Level.CRIT, Level.WARN, Level.OK, Level.OK, Level.OK]
    assert [s.metric for s in ordered] == [
        "connections",
        "longest_xact",
        "lock_waits",
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
        locks=(lock_node(4201, "x" * 60, children=(waiter(4202, 30 * 86400.0),)),),
        progress=(Progress(7, "REINDEX CONCURRENTLY", "app", "s" * 60, "p" * 60, 1, 3),),
    )  # fmt: skip
    statuses = evaluate(busy, history([100.0] * 30), TH)
    assert len(statuses) == 12
    bouncer_statuses = evaluate_bouncer(
        bouncer(pool("a" * 40, "b" * 40, waiting=12345, active=999)), TH
    )
    for status in (*statuses, *bouncer_statuses):
        assert 0 < len(status.label) <= LABEL_MAX, status.label
        assert len(status.culprit) <= CULPRIT_MAX, status.culprit
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
