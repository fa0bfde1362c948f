-- On demand, in the next tick's round trip: texts for queryids not yet in the cache.
SELECT s.queryid, s.query
FROM {schema}.pg_stat_statements(true) AS s
WHERE s.queryid = ANY(%(queryids)s)
