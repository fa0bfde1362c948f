-- Each tick: every pg_stat_statements entry, numeric columns only (no texts: showtext false).
-- pss 1.9 - 1.10 (PG 14 - 16): adds toplevel; blk_*_time covers shared + local blocks.
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
    s.blk_read_time + s.blk_write_time AS io_ms,
    s.mean_exec_time,
    s.stddev_exec_time,
    s.min_exec_time,
    s.max_exec_time
FROM {schema}.pg_stat_statements(false) AS s
WHERE s.queryid IS NOT NULL
