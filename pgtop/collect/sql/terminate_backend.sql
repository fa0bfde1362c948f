-- On demand (key k, confirmed): end one backend's session. Before PostgreSQL 14 the server only
-- sends the signal (done: signal sent). The backend must still be the one the user chose (see
-- cancel_backend.sql).
SELECT
    CASE
        WHEN %(backend_start)s::timestamptz IS NULL
            OR a.backend_start IS NULL
            OR a.backend_start = %(backend_start)s::timestamptz
            THEN pg_terminate_backend(a.pid)
    END AS done
FROM pg_stat_activity AS a
WHERE a.pid = %(pid)s
