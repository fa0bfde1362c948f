-- On demand (e, E), first in the explain session's read-only transaction: the server, the
-- database and role the plan is made in, the activity text limit, and pg_stat_statements'
-- schema in this database (NULL: not installed here, so no full text can be looked up).
SELECT
    current_setting('server_version_num')::int AS server_version_num,
    pg_is_in_recovery() AS in_recovery,
    current_user AS user_name,
    current_database() AS dbname,
    current_setting('track_activity_query_size') AS track_activity_query_size,
    pss.extversion AS pss_version,
    pss.nspname AS pss_schema
FROM (SELECT 1) AS one
LEFT JOIN (
    SELECT e.extversion, n.nspname
    FROM pg_extension AS e
    JOIN pg_namespace AS n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements'
) AS pss ON true
