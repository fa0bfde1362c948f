-- On demand (runbook, confirmed): resume WAL replay on a standby whose replay is paused. The
-- state is read first, in the same statement (a MATERIALIZED CTE runs before the outer row
-- calls the function), and pg_wal_replay_resume() is called only on a server in recovery
-- whose replay is paused; otherwise resumed is NULL and the row says why.
-- EXECUTE on pg_wal_replay_resume() (superuser only by default) is checked when the
-- statement starts, whether the call is reached or not: a role without it is refused before
-- anything runs. A READ ONLY transaction allows the call (it writes nothing: it wakes the
-- startup process; every transaction on a standby is read-only anyway).
-- Replay lag as standby.sql computes it: 0 when everything received is replayed, else the
-- age of the last replayed transaction.
-- PostgreSQL 13: pg_is_wal_replay_paused() (true also while a pause is only requested).
WITH state AS MATERIALIZED (
    SELECT
        r.in_recovery,
        CASE
            WHEN r.in_recovery THEN
                CASE WHEN pg_is_wal_replay_paused() THEN 'paused' ELSE 'not paused' END
        END AS pause_state,
        CASE
            WHEN r.in_recovery THEN
                greatest(
                    pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0
                )::bigint
        END AS unreplayed_bytes,
        CASE
            WHEN NOT r.in_recovery THEN NULL::float8
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
        END AS replay_lag_s
    FROM (SELECT pg_is_in_recovery() AS in_recovery) AS r
)
SELECT
    st.in_recovery,
    st.pause_state,
    st.unreplayed_bytes,
    st.replay_lag_s,
    CASE
        WHEN st.in_recovery AND st.pause_state <> 'not paused'
            THEN (SELECT true FROM pg_wal_replay_resume())
    END AS resumed
FROM state AS st
