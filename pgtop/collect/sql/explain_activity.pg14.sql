-- On demand (e, E): the query of one backend, read on the explain session itself. The backend
-- must still be the one the user chose (same_backend false: the pid was reused since the last
-- refresh; no row: it has exited). A text of track_activity_query_size - 1 bytes or more was
-- cut short by the server (pg_size_bytes: the setting may read '4kB'); its full text is then
-- looked up in pg_stat_statements by query_id (PostgreSQL 14+, NULL unless compute_query_id).
-- visible: whether this role may read the backend's query (pg_read_all_stats, or its role).
SELECT
    CASE
        WHEN %(backend_start)s::timestamptz IS NULL OR a.backend_start IS NULL THEN NULL
        ELSE a.backend_start = %(backend_start)s::timestamptz
    END AS same_backend,
    a.datname,
    a.usesysid AS userid,
    a.backend_type,
    a.state,
    a.query,
    octet_length(a.query) AS query_bytes,
    octet_length(a.query)
        >= pg_size_bytes(current_setting('track_activity_query_size')) - 1 AS truncated,
    a.query_id,
    pg_has_role('pg_read_all_stats', 'USAGE')
        OR (a.usesysid IS NOT NULL AND pg_has_role(a.usesysid, 'USAGE')) AS visible
FROM pg_stat_activity AS a
WHERE a.pid = %(pid)s
