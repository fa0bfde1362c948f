-- On demand, in the next tick's round trip: texts for entries not yet in the cache (asked by
-- queryid; the cache keeps each entry's own text by userid, dbid and queryid).
SELECT s.userid, s.dbid, s.queryid, s.query
FROM {schema}.pg_stat_statements(true) AS s
WHERE s.queryid = ANY(%(queryids)s)
