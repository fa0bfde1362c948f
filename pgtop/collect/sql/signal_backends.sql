-- On demand (keys C and K, confirmed): cancel the queries of many backends, or terminate them
-- (terminate true), in one statement. Each must still be the backend the user saw (pid and
-- backend_start): a reused pid is left alone, a pid not found has exited. If pgtop's role may not signal every one of them, none is signalled (the
-- check runs once, before any signal, as an InitPlan): a half-done bulk action surprises.
WITH targets AS MATERIALIZED (
    SELECT
        t.pid,
        t.backend_start,
        a.pid IS NOT NULL AS present,
        -- (a start hidden from pgtop's role, NULL, cannot be compared: as for one backend)
        a.pid IS NOT NULL
            AND t.backend_start IS NOT NULL
            AND a.backend_start IS NOT NULL
            AND a.backend_start <> t.backend_start AS replaced,
        current_setting('is_superuser') = 'on'
            OR (a.usesysid IS NOT NULL AND pg_has_role(current_user, a.usesysid, 'MEMBER'))
            OR (pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')
                AND NOT coalesce(r.rolsuper, false)) AS allowed
    FROM unnest(%(pids)s::int[], %(starts)s::timestamptz[]) AS t (pid, backend_start)
    LEFT JOIN pg_stat_activity AS a ON a.pid = t.pid
    LEFT JOIN pg_roles AS r ON r.oid = a.usesysid
)
SELECT
    pid,
    present,
    replaced,
    allowed,
    CASE
        WHEN present AND NOT replaced
            AND (SELECT bool_and(allowed) FROM targets WHERE present AND NOT replaced)
            THEN CASE
                WHEN %(terminate)s::bool THEN pg_terminate_backend(pid)
                ELSE pg_cancel_backend(pid)
            END
    END AS done
FROM targets
ORDER BY pid
