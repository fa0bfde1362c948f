-- Each tick (pss 1.9+): evictions and the last full reset, to tell resets from traffic.
SELECT i.dealloc, i.stats_reset FROM {schema}.pg_stat_statements_info AS i
