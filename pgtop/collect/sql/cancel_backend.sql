-- On demand (key c, confirmed): ask one backend to cancel its running query. The backend must
-- still be the one the user chose: a pid reused by a new backend since the last refresh (its
-- backend_start differs) is left alone, and no row means the backend has exited.
SELECT
    CASE
        WHEN %(backend_start)s::timestamptz IS NULL
            OR a.backend_start IS NULL
            OR a.backend_start = %(backend_start)s::timestamptz
            THEN pg_cancel_backend(a.pid)
    END AS done
FROM pg_stat_activity AS a
WHERE a.pid = %(pid)s
