"""Health statuses raised by real conditions on the lab, and cleared when the condition goes.

Each test creates the condition on the real servers, polls with the real collector (as the
pg_monitor role), judges the sample with health.evaluate, then removes the condition and checks
the status returns to OK.
"""

from __future__ import annotations

import dataclasses

from pgtop.config import Threshold, Thresholds
from pgtop.health import evaluate
from pgtop.lab import Lab
from pgtop.model import Level, Sample, Status
from pgtop.workload import idle_in_transaction
from tests.collect_fixtures import connected, failing_archiver, inactive_slot, poll_until, su

# Small thresholds so the conditions cross them within a test's patience.
THRESHOLDS = dataclasses.replace(
    Thresholds(),
    idle_in_xact_s=Threshold(1, 3600),
    slot_retained_wal_bytes=Threshold(1, 1 << 40),
)


def status(sample: Sample, metric: str) -> Status | None:
    return next((s for s in evaluate(sample, [], THRESHOLDS) if s.metric == metric), None)


def level(sample: Sample, metric: str) -> Level:
    found = status(sample, metric)
    return found.level if found is not None else Level.OK


async def test_idle_in_transaction_raises_and_clears(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with idle_in_transaction(lab.app_dsn(), bound_s=60) as pid:
            sample = await poll_until(
                source, lambda s: level(s, "idle_in_xact") >= Level.WARN, what="idle_in_xact"
            )
            raised = status(sample, "idle_in_xact")
            assert raised is not None
            assert str(pid) in raised.message
            assert "warn" in raised.message
        await poll_until(
            source, lambda s: level(s, "idle_in_xact") == Level.OK, what="idle_in_xact cleared"
        )


async def test_inactive_slot_retaining_wal_raises_and_clears(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with su(lab) as conn, inactive_slot(conn, "pgtop_health_slot"):
            sample = await poll_until(
                source, lambda s: level(s, "slot_retention") >= Level.WARN, what="slot_retention"
            )
            raised = status(sample, "slot_retention")
            assert raised is not None
            assert "pgtop_health_slot" in raised.message
        await poll_until(
            source, lambda s: level(s, "slot_retention") == Level.OK, what="slot cleared"
        )


async def test_failing_archiver_raises_and_clears(lab: Lab) -> None:
    async with connected(lab.monitor_dsn()) as source:
        with su(lab) as conn, failing_archiver(conn):
            sample = await poll_until(
                source,
                lambda s: level(s, "archiver") == Level.CRIT,
                what="archiver failing",
                timeout_s=30,
            )
            raised = status(sample, "archiver")
            assert raised is not None
            assert "fail" in raised.message
        await poll_until(
            source,
            lambda s: level(s, "archiver") == Level.OK,
            what="archiver recovered",
            timeout_s=90,
            every_s=0.5,
        )


async def test_paused_replay_raises_replication_lag_and_clears(lab: Lab) -> None:
    async with connected(lab.replica_dsn(), name="replica") as standby:
        with su(lab, "postgres", replica=True) as replica_su, su(lab) as writer:
            replica_su.execute("SELECT pg_wal_replay_pause()")
            try:
                writer.execute("CREATE TEMP TABLE IF NOT EXISTS t_lag (v int)")

                def lagging(sample: Sample) -> bool:
                    writer.execute("INSERT INTO t_lag SELECT generate_series(1, 100)")
                    return level(sample, "replication_lag") >= Level.WARN

                sample = await poll_until(
                    standby, lagging, what="replication_lag", timeout_s=30, every_s=0.3
                )
                raised = status(sample, "replication_lag")
                assert raised is not None
                assert "lag" in raised.message
            finally:
                replica_su.execute("SELECT pg_wal_replay_resume()")
        await poll_until(
            standby,
            lambda s: level(s, "replication_lag") == Level.OK,
            what="replication lag cleared",
            timeout_s=30,
        )
