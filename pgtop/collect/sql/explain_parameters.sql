-- On demand (e, E), after PREPARE of the text to explain: how many parameters ($1 …) the
-- server found in it. This is how pgtop tells a normalized pg_stat_statements text (or a
-- parameterized statement a client sent) from a complete one: by the server's parse, never by
-- looking for "$1" in the text.
SELECT coalesce(cardinality(p.parameter_types), 0) AS parameters
FROM pg_prepared_statements AS p
WHERE p.name = %(name)s
