-- Each tick: every backend but our own. Ages are computed by the server against the
-- transaction's now(). Who blocks whom comes from the locks probe (one read of pg_locks,
-- resolved in Python: pgtop/collect/locktree.py), never from pg_blocking_pids() per backend.
SELECT
    a.pid,
    a.datname AS database,
    a.usename AS user_name,
    coalesce(a.application_name, '') AS application,
    CASE
        WHEN a.client_port = -1 THEN 'local'
        ELSE coalesce(a.client_hostname, host(a.client_addr))
    END AS client,
    coalesce(a.backend_type, '') AS backend_type,
    a.state,
    a.wait_event_type,
    a.wait_event,
    a.backend_start,
    a.xact_start,
    a.query_start,
    a.state_change,
    CASE
        WHEN a.state = 'active' THEN extract(epoch FROM now() - a.query_start)::float8
    END AS query_s,
    extract(epoch FROM now() - a.xact_start)::float8 AS xact_s,
    extract(epoch FROM now() - a.state_change)::float8 AS state_s,
    age(a.backend_xid) AS xid_age,
    age(a.backend_xmin) AS xmin_age,
    a.leader_pid,
    coalesce(a.query, '') AS query
FROM pg_stat_activity AS a
WHERE a.pid <> pg_backend_pid()
ORDER BY a.pid
