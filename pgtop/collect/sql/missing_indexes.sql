-- On demand (index advice, current database): tables read mostly by sequential scans.
SELECT
    t.schemaname AS schema,
    t.relname AS table_name,
    t.seq_scan,
    t.seq_tup_read,
    t.idx_scan,
    t.idx_tup_fetch
FROM pg_stat_user_tables AS t
WHERE t.seq_scan > 0
ORDER BY t.seq_tup_read DESC
LIMIT %(limit)s
