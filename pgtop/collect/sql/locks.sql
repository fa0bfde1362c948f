-- Each tick: ungranted locks only, and pg_locks is not read at all unless some backend waits
-- on a Lock (the EXISTS is an uncorrelated one-time filter). Relation names resolve only for
-- the current database (and shared catalogs); other databases' relations show as OIDs.
-- PG 13: no pg_locks.waitstart; the waited time comes from the backend's state_change.
SELECT
    l.pid,
    l.locktype,
    l.mode,
    CASE
        WHEN l.relation IS NULL THEN NULL
        WHEN l.database = 0
            OR l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN l.relation::regclass::text
        ELSE l.relation::text
    END AS relation,
    NULL::float8 AS waited_s
FROM pg_locks AS l
WHERE NOT l.granted
    AND l.pid <> pg_backend_pid()
    AND EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.wait_event_type = 'Lock')
ORDER BY l.pid
