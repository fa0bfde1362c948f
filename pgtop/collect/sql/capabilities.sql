-- Connect time, once: who we are, what the server is, what we may read.
SELECT
    current_setting('server_version') AS server_version,
    current_setting('server_version_num')::int AS server_version_num,
    pg_is_in_recovery() AS in_recovery,
    pg_backend_pid() AS backend_pid,
    current_user AS user_name,
    current_database() AS dbname,
    current_setting('is_superuser') = 'on' AS is_superuser,
    pg_has_role(current_user, 'pg_monitor', 'USAGE') AS has_pg_monitor,
    pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS has_read_all_stats,
    pss.extversion AS pss_version,
    pss.nspname AS pss_schema,
    (SELECT s.setting::int FROM pg_settings AS s
      WHERE s.name = 'track_activity_query_size') AS track_activity_query_size,
    current_setting('max_connections')::int AS max_connections,
    pg_postmaster_start_time() AS started_at
FROM (SELECT 1) AS one
LEFT JOIN (
    SELECT e.extversion, n.nspname
    FROM pg_extension AS e
    JOIN pg_namespace AS n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements'
) AS pss ON true
