-- Each tick: maintenance and bulk commands in flight, one row each, with progress in the most
-- telling unit (blocks where the server counts them, else tuples or bytes).
-- PG 14+: with COPY progress.
WITH cur AS (SELECT oid FROM pg_database WHERE datname = current_database())
SELECT p.pid, p.command, p.datname AS database,
    CASE WHEN p.datid = cur.oid THEN p.relid::regclass::text ELSE p.relid::text END AS relation,
    p.phase,
    CASE WHEN p.blocks_total > 0 THEN p.blocks_done ELSE p.tuples_done END AS done,
    CASE WHEN p.blocks_total > 0 THEN p.blocks_total ELSE nullif(p.tuples_total, 0) END AS total
FROM pg_stat_progress_create_index AS p, cur
UNION ALL
SELECT p.pid, 'VACUUM', p.datname,
    CASE WHEN p.datid = cur.oid THEN p.relid::regclass::text ELSE p.relid::text END,
    p.phase, p.heap_blks_scanned, nullif(p.heap_blks_total, 0)
FROM pg_stat_progress_vacuum AS p, cur
UNION ALL
SELECT p.pid, 'ANALYZE', p.datname,
    CASE WHEN p.datid = cur.oid THEN p.relid::regclass::text ELSE p.relid::text END,
    p.phase, p.sample_blks_scanned, nullif(p.sample_blks_total, 0)
FROM pg_stat_progress_analyze AS p, cur
UNION ALL
SELECT p.pid, p.command, p.datname,
    CASE WHEN p.datid = cur.oid THEN p.relid::regclass::text ELSE p.relid::text END,
    p.phase, p.heap_blks_scanned, nullif(p.heap_blks_total, 0)
FROM pg_stat_progress_cluster AS p, cur
UNION ALL
SELECT p.pid, p.command, p.datname,
    CASE WHEN p.datid = cur.oid THEN p.relid::regclass::text ELSE p.relid::text END,
    p.type,
    CASE WHEN p.bytes_total > 0 THEN p.bytes_processed ELSE p.tuples_processed END,
    nullif(p.bytes_total, 0)
FROM pg_stat_progress_copy AS p, cur
UNION ALL
SELECT p.pid, 'BASE BACKUP', NULL::name, NULL::text,
    p.phase, p.backup_streamed, nullif(p.backup_total, 0)
FROM pg_stat_progress_basebackup AS p
ORDER BY 1
