-- Each tick the lock graph may have changed: ONE call of pg_lock_status() (the materialised
-- CTE), and not even that unless some backend waits on a Lock (the EXISTS is an uncorrelated
-- one-time filter over the backend status the activity probe already loaded in this
-- transaction). Rows: every ungranted lock, and the granted locks on the same objects (their
-- holders), with the object's key fields (locktype, database ... objsubid), so that
-- pgtop/collect/locktree.py derives who blocks whom in Python. The semi-join compares the key
-- fields with NULLs folded into values no key field takes where that locktype sets it (a hash
-- join, linear in the rows). Predicate locks (SIReadLock) never block and are left out.
-- Relation names resolve only for the ungranted locks of the current database (and shared
-- catalogs); other databases' relations show as OIDs.
-- PG 13: no pg_locks.waitstart; the waited time comes from the backend's state_change.
WITH l AS MATERIALIZED (
    SELECT
        l.pid,
        l.locktype,
        l.mode,
        l.granted,
        l.database,
        l.relation,
        l.page,
        l.tuple,
        l.virtualxid,
        l.transactionid,
        l.classid,
        l.objid,
        l.objsubid,
        NULL::timestamptz AS waitstart
    FROM pg_locks AS l
    WHERE l.mode <> 'SIReadLock'
        AND l.pid IS DISTINCT FROM pg_backend_pid()
        AND EXISTS (
            SELECT FROM pg_stat_get_backend_idset() AS b(id)
            WHERE pg_stat_get_backend_wait_event_type(b.id) = 'Lock'
        )
)
SELECT
    l.pid,
    l.locktype,
    l.mode,
    l.granted,
    CASE
        WHEN l.granted OR l.relation IS NULL THEN NULL
        WHEN l.database = 0
            OR l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN l.relation::regclass::text
        ELSE l.relation::text
    END AS relation_name,
    extract(epoch FROM now() - l.waitstart)::float8 AS waited_s,
    l.database,
    l.relation,
    l.page,
    l.tuple,
    l.virtualxid,
    l.transactionid,
    l.classid,
    l.objid,
    l.objsubid
FROM l
WHERE NOT l.granted
    OR (l.locktype, coalesce(l.database, 0), coalesce(l.relation, 0), coalesce(l.page, -1),
        coalesce(l.tuple, -1), coalesce(l.virtualxid, ''), coalesce(l.transactionid::text, ''),
        coalesce(l.classid, 0), coalesce(l.objid, 0), coalesce(l.objsubid, -1)) IN (
        SELECT w.locktype, coalesce(w.database, 0), coalesce(w.relation, 0), coalesce(w.page, -1),
            coalesce(w.tuple, -1), coalesce(w.virtualxid, ''), coalesce(w.transactionid::text, ''),
            coalesce(w.classid, 0), coalesce(w.objid, 0), coalesce(w.objsubid, -1)
        FROM l AS w
        WHERE NOT w.granted
    )
