-- On demand (statement details): every column pg_stat_statements has for one entry, under
-- the server's own names and in its column order whatever its version (json, not jsonb, which
-- orders keys by length), the text left unread (the monitor has it), and the server's total
-- execution time for the entry's share. Run on the action session.
SELECT
    to_json(s) AS counters,
    (SELECT sum(t.total_exec_time) FROM {schema}.pg_stat_statements(false) AS t)
        AS server_total_ms
FROM {schema}.pg_stat_statements(false) AS s
LEFT JOIN pg_roles AS r ON r.oid = s.userid
LEFT JOIN pg_database AS d ON d.oid = s.dbid
WHERE s.queryid = %(queryid)s
    AND r.rolname IS NOT DISTINCT FROM %(user)s
    AND d.datname IS NOT DISTINCT FROM %(database)s
ORDER BY s.calls DESC
