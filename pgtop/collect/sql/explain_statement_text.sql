-- On demand (e, E): the full text of one pg_stat_statements entry of this database (dbid is
-- the explain session's own database), for a role given by oid or by name (either may be
-- NULL); query NULL when there is none. pg_stat_statements shows another role's entries
-- without their queryid unless this role has pg_read_all_stats (reads_all): such an entry
-- cannot be found, and the user is told which grant would help.
SELECT
    (
        SELECT s.query
        FROM {schema}.pg_stat_statements(true) AS s
        WHERE s.queryid = %(queryid)s
            AND s.dbid = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
            AND (%(userid)s::bigint IS NULL OR s.userid::bigint = %(userid)s::bigint)
            AND (
                %(user)s::text IS NULL
                OR s.userid = (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = %(user)s::text)
            )
        LIMIT 1
    ) AS query,
    pg_has_role('pg_read_all_stats', 'USAGE') AS reads_all
