"""Hand-built, frozen samples for the UI tests and snapshots (fixed timestamps, no clock).

A primary under pgbench with the lab's blocking chain (lab-blocker -> lab-waiter-1 ->
lab-waiter-2), an idle-in-transaction session, a streaming replica with its slot, the archiver,
pgbench UPDATE statements and a CREATE INDEX in progress; the replica's own view; PgBouncer with the
pgbench pool; a disconnected primary; and a hostile backend (markup + escape codes in
application_name, bidi override and a C1 CSI in its query).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pgtop.config import Thresholds
from pgtop.health import evaluate, evaluate_bouncer
from pgtop.model import (
    ActivitySummary,
    Archiver,
    Backend,
    BouncerSample,
    BouncerStats,
    LockCount,
    LockNode,
    Pool,
    Progress,
    Replica,
    Replication,
    Role,
    Sample,
    ServerInfo,
    ServerStats,
    Slot,
    StandbyStatus,
    Statement,
    StatementsStatus,
)

T0 = datetime(2025, 11, 24, 9, 30, 0, tzinfo=UTC)
HOSTILE_APP = "[bold red]x\x1b[2J"
HOSTILE_QUERY = "SELECT 1 /* \u202eevil */ \x9b31m"

PRIMARY_INFO = ServerInfo(
    name="primary",
    host="127.0.0.1",
    port=54321,
    dbname="app",
    user="postgres",
    version="16.4",
    version_num=160004,
    role=Role.PRIMARY,
    backend_pid=4000,
    is_superuser=True,
    pg_stat_statements="1.10",
    max_connections=100,
    started_at=T0 - timedelta(days=3, hours=4),
)
REPLICA_INFO = replace(
    PRIMARY_INFO, name="replica", port=54322, role=Role.STANDBY, backend_pid=5000
)
BOUNCER_INFO = ServerInfo(
    name="pgbouncer",
    host="127.0.0.1",
    port=6432,
    dbname="pgbouncer",
    user="postgres",
    version="1.18.0",
    version_num=11800,
    role=Role.PGBOUNCER,
)


def backend(
    pid: int,
    app: str,
    state: str | None,
    query: str,
    *,
    query_s: float | None = None,
    xact_s: float | None = None,
    state_s: float | None = None,
    wait: tuple[str, str] | None = None,
    blocked_by: tuple[int, ...] = (),
    backend_type: str = "client backend",
    user: str | None = "postgres",
    database: str | None = "app",
    client: str | None = "127.0.0.1",
) -> Backend:
    def ago(seconds: float | None) -> datetime | None:
        return None if seconds is None else T0 - timedelta(seconds=seconds)

    return Backend(
        pid=pid,
        database=database,
        user=user,
        application=app,
        client=client,
        backend_type=backend_type,
        state=state,
        wait_event_type=wait[0] if wait else None,
        wait_event=wait[1] if wait else None,
        backend_start=ago(600.0),
        xact_start=ago(xact_s),
        query_start=ago(query_s if query_s is not None else state_s),
        state_change=ago(state_s),
        query_s=query_s,
        xact_s=xact_s,
        state_s=state_s,
        xid_age=None,
        xmin_age=None,
        leader_pid=None,
        query=query,
        blocked_by=blocked_by,
    )


UPDATE_ACCOUNTS = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"
UPDATE_TELLERS = "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2"
UPDATE_BRANCHES = "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2"


def pgbench_backends(shift: int = 0) -> list[Backend]:
    """Eight pgbench clients; ``shift`` rotates which query each runs and their timings."""
    queries = [UPDATE_ACCOUNTS, UPDATE_TELLERS, UPDATE_BRANCHES, "END;"]
    out = []
    for i in range(8):
        q = queries[(i + shift) % len(queries)]
        out.append(
            backend(
                4100 + i,
                "pgbench",
                "active" if i % 3 else "idle in transaction",
                q,
                query_s=0.002 * (i + 1 + shift) if i % 3 else None,
                xact_s=0.01 * (i + 1) + shift * 0.001,
                state_s=0.004 * (i + 1),
                wait=("Client", "ClientRead") if not i % 3 else None,
            )
        )
    return out


BLOCKER = backend(
    4201,
    "lab-blocker",
    "idle in transaction",
    "UPDATE lab_items SET qty = qty + 1 WHERE id = 1;",
    xact_s=185.0,
    state_s=184.5,
)
WAITER_1 = backend(
    4202,
    "lab-waiter-1",
    "active",
    "UPDATE lab_items SET qty = qty - 1\n   WHERE id = 1;",
    query_s=95.2,
    xact_s=95.3,
    state_s=95.2,
    wait=("Lock", "transactionid"),
    blocked_by=(4201,),
)
WAITER_2 = backend(
    4203,
    "lab-waiter-2",
    "active",
    "LOCK TABLE lab_items IN ACCESS EXCLUSIVE MODE;",
    query_s=42.0,
    xact_s=42.1,
    state_s=42.0,
    wait=("Lock", "relation"),
    blocked_by=(4202,),
)
IDLE_XACT = backend(
    4301,
    "psql",
    "idle in transaction",
    "SELECT * FROM orders WHERE id = 42;",
    xact_s=65.0,
    state_s=61.0,
    client="10.1.2.3",
    user="alice",
)
IDLE = backend(4302, "app-web", "idle", "COMMIT", state_s=3.0, user="app")
WALSENDER = backend(
    4401,
    "replica",
    "active",
    "",
    backend_type="walsender",
    query_s=None,
    wait=("Activity", "WalSenderMain"),
    user="replicator",
    database=None,
)
CHECKPOINTER = backend(
    80,
    "",
    None,
    "",
    backend_type="checkpointer",
    user=None,
    database=None,
    client=None,
    wait=("Activity", "CheckpointerMain"),
)
CREATE_INDEX = backend(
    4501,
    "psql",
    "active",
    "CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);",
    query_s=12.5,
    xact_s=12.5,
    state_s=12.5,
    user="alice",
)

LOCK_TREE = (
    LockNode(
        pid=4201,
        user="postgres",
        database="app",
        application="lab-blocker",
        state="idle in transaction",
        query=BLOCKER.query,
        xact_s=185.0,
        children=(
            LockNode(
                pid=4202,
                user="postgres",
                database="app",
                application="lab-waiter-1",
                state="active",
                query=WAITER_1.query,
                xact_s=95.3,
                mode="ShareLock",
                locktype="transactionid",
                relation=None,
                waited_s=95.2,
                children=(
                    LockNode(
                        pid=4203,
                        user="postgres",
                        database="app",
                        application="lab-waiter-2",
                        state="active",
                        query=WAITER_2.query,
                        xact_s=42.1,
                        mode="AccessExclusiveLock",
                        locktype="relation",
                        relation="public.lab_items",
                        waited_s=42.0,
                    ),
                ),
            ),
        ),
    ),
)
LOCK_COUNTS = (
    LockCount(relation=None, locktype="transactionid", mode="ShareLock", count=1),
    LockCount(
        relation="public.lab_items", locktype="relation", mode="AccessExclusiveLock", count=1
    ),
)


def stats(tps: float, active: int, hit: float) -> ServerStats:
    return ServerStats(
        uptime_s=(T0 - (PRIMARY_INFO.started_at or T0)).total_seconds(),
        connections=18,
        client_connections=14,
        max_connections=100,
        active=active,
        idle_in_transaction=5,
        waiting_on_locks=2,
        tps=tps,
        commits_per_s=tps * 0.99,
        rollbacks_per_s=tps * 0.01,
        cache_hit_ratio=hit,
        deadlocks_total=0,
        deadlocks_per_s=0.0,
        temp_files_per_s=0.0,
        temp_bytes_per_s=0.0,
        oldest_xid_age=12_345,
        longest_transaction_s=185.0,
        longest_idle_in_transaction_s=184.5,
    )


def statement(
    queryid: int, query: str, calls_s: float, ms_s: float, calls: int, total: float
) -> Statement:
    return Statement(
        queryid=queryid,
        user="postgres",
        database="app",
        query=query,
        calls_per_s=calls_s,
        exec_ms_per_s=ms_s,
        mean_ms_interval=ms_s / calls_s if calls_s else None,
        rows_per_s=calls_s,
        shared_hit_per_s=calls_s * 4,
        shared_read_per_s=calls_s * 0.05,
        temp_blks_per_s=0.0,
        io_ms_per_s=None,
        calls=calls,
        total_exec_ms=total,
        mean_ms=total / calls,
        stddev_ms=0.3,
        min_ms=0.01,
        max_ms=40.0,
        rows=calls,
        shared_hit=calls * 4,
        shared_read=calls // 20,
    )


STATEMENTS = (
    statement(-7001, UPDATE_ACCOUNTS, 310.0, 95.0, 120_000, 36_500.0),
    statement(-7002, UPDATE_TELLERS, 310.0, 180.0, 120_000, 71_000.0),
    statement(-7003, UPDATE_BRANCHES, 310.0, 420.0, 120_000, 160_000.0),
    statement(
        -7004, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", 310.0, 12.0, 120_000, 4_400.0
    ),
    statement(
        -7005,
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, "
        "CURRENT_TIMESTAMP)",
        310.0,
        8.0,
        120_000,
        3_000.0,
    ),
)

REPLICATION = Replication(
    role=Role.PRIMARY,
    replicas=(
        Replica(
            pid=4401,
            application="replica",
            client="127.0.0.1",
            state="streaming",
            sync_state="async",
            sent_lag_bytes=0,
            write_lag_bytes=1_024,
            flush_lag_bytes=2_048,
            replay_lag_bytes=16_384,
            write_lag_s=0.001,
            flush_lag_s=0.002,
            replay_lag_s=0.35,
            reply_age_s=0.4,
        ),
    ),
    slots=(
        Slot(
            name="replica_slot",
            slot_type="physical",
            active=True,
            active_pid=4401,
            database=None,
            retained_wal_bytes=48 * 1024 * 1024,
            wal_status="reserved",
        ),
        Slot(
            name="old_logical",
            slot_type="logical",
            active=False,
            active_pid=None,
            database="app",
            retained_wal_bytes=3 * 1024**3,
            wal_status="extended",
        ),
    ),
    archiver=Archiver(
        archive_mode="on",
        archived_count=321,
        failed_count=2,
        last_archived_wal="000000010000000000000042",
        last_archived_age_s=35.0,
        last_failed_wal="000000010000000000000040",
        last_failed_age_s=900.0,
    ),
)


def judged(sample: Sample) -> Sample:
    """The sample with the verdicts pgtop's health gives it under the default thresholds."""
    return replace(sample, health=evaluate(sample, [], Thresholds()))


ACTIVITY = (
    *pgbench_backends(),
    BLOCKER,
    WAITER_1,
    WAITER_2,
    IDLE_XACT,
    IDLE,
    CREATE_INDEX,
    WALSENDER,
    CHECKPOINTER,
)


def primary(
    n: int = 0, *, activity: tuple[Backend, ...] | None = None, tps: float | None = None
) -> Sample:
    """The primary at tick ``n`` (2 s apart); charts vary with n, deterministically; health as
    pgtop judges it."""
    wave = [0, 40, -30, 60, 10, -20, 35, 0]
    return judged(
        Sample(
            source="primary",
            taken_at=T0 + timedelta(seconds=2 * n),
            connected=True,
            info=PRIMARY_INFO,
            interval_s=2.0,
            poll_ms=4.2,
            stats=stats(
                tps if tps is not None else 1240.0 + wave[n % len(wave)],
                6 + (n % 3),
                0.991 + 0.001 * (n % 4),
            ),
            activity=ACTIVITY if activity is None else activity,
            summary=ActivitySummary(
                by_state={"active": 7, "idle in transaction": 5, "idle": 1},
                by_user={"postgres": 11, "alice": 2},
                by_client={"127.0.0.1": 12},
            ),
            locks=LOCK_TREE,
            lock_counts=LOCK_COUNTS,
            replication=replace(
                REPLICATION,
                replicas=tuple(
                    replace(r, replay_lag_s=0.1 + 0.05 * (n % 5)) for r in REPLICATION.replicas
                ),
            ),
            statements=STATEMENTS,
            statements_status=StatementsStatus(available=True, dealloc=0),
            progress=(
                Progress(
                    4501,
                    "CREATE INDEX CONCURRENTLY",
                    "app",
                    "public.orders",
                    "building index: scanning table",
                    420,
                    1000,
                ),
            ),
        )
    )


def standby(n: int = 0) -> Sample:
    return judged(
        Sample(
            source="replica",
            taken_at=T0 + timedelta(seconds=2 * n),
            connected=True,
            info=REPLICA_INFO,
            interval_s=2.0,
            stats=replace(
                stats(0.0, 1, 1.0),
                client_connections=2,
                idle_in_transaction=0,
                waiting_on_locks=0,
                longest_transaction_s=1.5,
                longest_idle_in_transaction_s=None,
            ),
            activity=(
                backend(5101, "report", "active", "SELECT count(*) FROM orders;", query_s=1.5),
            ),
            replication=Replication(
                role=Role.STANDBY,
                standby=StandbyStatus(
                    receive_lsn="0/4A000000",
                    replay_lsn="0/49FFC000",
                    replay_lag_s=0.35,
                    receive_replay_lag_bytes=16_384,
                    replay_paused=False,
                    wal_receiver_status="streaming",
                    upstream="127.0.0.1:54321",
                ),
            ),
            statements_status=StatementsStatus(
                available=False,
                reason='pg_stat_statements is not installed in "app": run CREATE EXTENSION '
                "pg_stat_statements (needs shared_preload_libraries)",
            ),
        )
    )


def bouncer(n: int = 0) -> BouncerSample:
    sample = BouncerSample(
        source="pgbouncer",
        taken_at=T0 + timedelta(seconds=2 * n),
        connected=True,
        info=BOUNCER_INFO,
        interval_s=2.0,
        pools=(
            Pool(
                database="app",
                user="pgbench",
                pool_mode="transaction",
                cl_active=8,
                cl_waiting=2,
                sv_active=5,
                sv_idle=0,
                sv_used=0,
                sv_tested=0,
                sv_login=0,
                maxwait_s=1.4,
                pool_size=5,
            ),
            Pool(
                database="pgbouncer",
                user="pgbouncer",
                pool_mode="statement",
                cl_active=1,
                cl_waiting=0,
                sv_active=0,
                sv_idle=0,
                sv_used=0,
                sv_tested=0,
                sv_login=0,
                maxwait_s=0.0,
                pool_size=None,
            ),
        ),
        stats=(BouncerStats("app", 1230.0, 6150.0, 6.4, 1.1, 0.8, 512_000.0, 2_048_000.0),),
        clients=9,
        servers=5,
    )
    return replace(sample, health=evaluate_bouncer(sample, Thresholds()))


def disconnected(n: int = 5) -> Sample:
    return Sample(
        source="primary",
        taken_at=T0 + timedelta(seconds=2 * n),
        connected=False,
        info=PRIMARY_INFO,
        error="connection refused: is the server running on 127.0.0.1:54321?",
        disconnected_since=T0 + timedelta(seconds=2 * (n - 2)),
        retries=3,
    )


HOSTILE = backend(
    4666,
    HOSTILE_APP,
    "active",
    HOSTILE_QUERY,
    query_s=500.0,
    xact_s=500.0,
    state_s=500.0,
    user="mallory\x07",
)


def hostile() -> Sample:
    return replace(primary(0), activity=(HOSTILE, *ACTIVITY))


def recording() -> list[Sample | BouncerSample]:
    """What the snapshot tests replay: a few ticks of every source."""
    out: list[Sample | BouncerSample] = []
    for n in range(8):
        out += [primary(n), standby(n), bouncer(n)]
    return out


def many_backends(count: int, seed: int = 0) -> tuple[Backend, ...]:
    """``count`` synthetic client backends (for the in-place update bound)."""
    return tuple(
        backend(
            10_000 + i,
            f"worker-{i % 50}",
            "active" if i % 4 else "idle in transaction",
            f"SELECT * FROM t{i % 97} WHERE id = {i}",
            query_s=float(i % 300) + seed,
            xact_s=float(i % 300) + 1.0,
            state_s=float(i % 300),
        )
        for i in range(count)
    )
