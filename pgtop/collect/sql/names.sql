-- On demand, in the next tick's round trip: role and database names for OIDs seen in
-- pg_stat_statements (refreshed only when an unknown OID shows up).
SELECT 'role' AS kind, r.oid, r.rolname AS name FROM pg_roles AS r
UNION ALL
SELECT 'database', d.oid, d.datname FROM pg_database AS d
