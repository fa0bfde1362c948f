-- On demand (backend details, key l): the locks one backend holds and awaits, counted by
-- relation and mode. Run on the action session, never in a tick. The backend must still be
-- the one the user chose (same backend_start); no row at all means it has exited or holds none.
SELECT
    l.granted,
    l.locktype,
    l.mode,
    CASE
        WHEN l.relation IS NOT NULL THEN l.relation::regclass::text
        WHEN l.locktype = 'transactionid' THEN 'xid ' || l.transactionid::text
        WHEN l.locktype = 'virtualxid' THEN 'vxid ' || l.virtualxid
        WHEN l.locktype = 'advisory' THEN 'advisory ' || l.classid::text || ':' || l.objid::text
    END AS target,
    d.datname AS database,
    count(*) AS count
FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
LEFT JOIN pg_database AS d ON d.oid = l.database
WHERE l.pid = %(pid)s
    AND (%(backend_start)s::timestamptz IS NULL OR a.backend_start = %(backend_start)s::timestamptz)
GROUP BY l.granted, l.locktype, l.mode, target, d.datname
ORDER BY l.granted, count(*) DESC, target
