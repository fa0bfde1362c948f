-- On demand (e, E): the full text of one pg_stat_statements entry of this database (dbid is
-- the explain session's own database), for a role given by oid or by name (either may be
-- NULL). visible: whether this role may read it (pg_read_all_stats, or the entry's own role:
-- pg_stat_statements shows '<insufficient privilege>' otherwise).
SELECT
    s.query,
    pg_has_role('pg_read_all_stats', 'USAGE')
        OR s.userid = (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user)
        AS visible
FROM {schema}.pg_stat_statements(true) AS s
WHERE s.queryid = %(queryid)s
    AND s.dbid = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
    AND (%(userid)s::oid IS NULL OR s.userid = %(userid)s::oid)
    AND (
        %(user)s::text IS NULL
        OR s.userid = (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = %(user)s::text)
    )
LIMIT 1
