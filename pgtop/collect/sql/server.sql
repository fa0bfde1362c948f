-- Each tick: cumulative counters summed over pg_stat_database (rates are deltas in Python),
-- wraparound distance and uptime. now() is the server's clock for the interval. in_recovery
-- tells the source when a standby was promoted under its session (it re-probes then).
SELECT
    now() AS server_now,
    pg_is_in_recovery() AS in_recovery,
    extract(epoch FROM now() - pg_postmaster_start_time())::float8 AS uptime_s,
    d.commits,
    d.rollbacks,
    d.blks_hit,
    d.blks_read,
    d.deadlocks,
    d.temp_files,
    d.temp_bytes,
    (SELECT max(age(db.datfrozenxid)) FROM pg_database AS db) AS oldest_xid_age
FROM (
    SELECT
        coalesce(sum(xact_commit), 0)::bigint AS commits,
        coalesce(sum(xact_rollback), 0)::bigint AS rollbacks,
        coalesce(sum(blks_hit), 0)::bigint AS blks_hit,
        coalesce(sum(blks_read), 0)::bigint AS blks_read,
        coalesce(sum(deadlocks), 0)::bigint AS deadlocks,
        coalesce(sum(temp_files), 0)::bigint AS temp_files,
        coalesce(sum(temp_bytes), 0)::bigint AS temp_bytes
    FROM pg_stat_database
) AS d
