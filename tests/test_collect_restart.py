"""A restart of the lab primary under a connected PostgresSource (own module: it disturbs the
lab, so it runs apart from the other collector tests and leaves the lab healthy)."""

from __future__ import annotations

import asyncio

import pytest

from pgtop.collect.postgres import PostgresSource
from pgtop.collect.source import ConnectionLostError
from pgtop.lab import Lab
from tests.collect_fixtures import connected, poll_until


async def test_restart_loses_the_connection_then_reconnects(lab: Lab) -> None:
    source = PostgresSource(lab.monitor_dsn())
    before = await source.connect()
    try:
        await source.poll()
        await asyncio.sleep(0.3)
        assert (await source.poll()).stats is not None
        lab.restart_primary()
        with pytest.raises(ConnectionLostError) as caught:
            await source.poll()
        assert "\n" not in str(caught.value)
        after = await source.connect()
        assert after.backend_pid != before.backend_pid
        assert after.started_at is not None
        assert before.started_at is not None
        assert after.started_at > before.started_at
        first = await source.poll()
        assert first.error is None
        assert first.stats is not None
        assert first.stats.tps is None  # no interval spans the restart
        assert first.stats.uptime_s is not None
        assert first.stats.uptime_s < 60
        await asyncio.sleep(0.5)
        second = await source.poll()
        assert second.stats is not None
        assert second.stats.tps is not None
        assert 0 <= second.stats.tps < 100_000
        for s in second.statements:
            assert s.calls_per_s is None or 0 <= s.calls_per_s < 100_000
    finally:
        await source.close()
    async with connected(lab.monitor_dsn()) as primary:  # the replica comes back by itself
        await poll_until(
            primary,
            lambda s: (
                s.replication is not None
                and any(r.state == "streaming" for r in s.replication.replicas)
            ),
            timeout_s=30,
            what="the replica to stream again",
        )
