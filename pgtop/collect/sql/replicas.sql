-- Each tick on a primary: every standby streaming from it. Byte lags against our current WAL
-- position; time lags are the walsender's own measurements. Without pg_monitor the server
-- shows only the pid (the rest is NULL).
SELECT
    r.pid,
    coalesce(r.application_name, '') AS application,
    CASE
        WHEN r.client_port = -1 THEN 'local'
        ELSE coalesce(r.client_hostname, host(r.client_addr))
    END AS client,
    coalesce(r.state, 'unknown') AS state,
    coalesce(r.sync_state, 'unknown') AS sync_state,
    pg_wal_lsn_diff(pg_current_wal_lsn(), r.sent_lsn)::bigint AS sent_lag_bytes,
    pg_wal_lsn_diff(pg_current_wal_lsn(), r.write_lsn)::bigint AS write_lag_bytes,
    pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn)::bigint AS flush_lag_bytes,
    pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint AS replay_lag_bytes,
    extract(epoch FROM r.write_lag)::float8 AS write_lag_s,
    extract(epoch FROM r.flush_lag)::float8 AS flush_lag_s,
    extract(epoch FROM r.replay_lag)::float8 AS replay_lag_s,
    extract(epoch FROM now() - r.reply_time)::float8 AS reply_age_s
FROM pg_stat_replication AS r
ORDER BY r.pid
