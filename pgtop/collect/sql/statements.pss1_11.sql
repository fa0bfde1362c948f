-- Each tick: every pg_stat_statements entry, numeric columns only (no texts: showtext false).
-- pss 1.11+ (PG 17+): blk_*_time split into shared_ and local_; summed to keep one meaning.
SELECT
    s.userid,
    s.dbid,
    s.toplevel,
    s.queryid,
    s.calls,
    s.total_exec_time,
    s.rows,
    s.shared_blks_hit,
    s.shared_blks_read,
    s.temp_blks_read + s.temp_blks_written AS temp_blks,
    s.shared_blk_read_time + s.shared_blk_write_time
        + s.local_blk_read_time + s.local_blk_write_time AS io_ms,
    s.mean_exec_time,
    s.stddev_exec_time,
    s.min_exec_time,
    s.max_exec_time
FROM {schema}.pg_stat_statements(false) AS s
WHERE s.queryid IS NOT NULL
