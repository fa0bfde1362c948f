-- On demand (index advice, current database): indexes never scanned, largest first. Primary
-- keys and indexes backing a constraint (unique, exclusion) are not candidates.
SELECT
    u.schemaname AS schema,
    u.relname AS table_name,
    u.indexrelname AS index_name,
    u.idx_scan,
    pg_relation_size(u.indexrelid) AS size_bytes
FROM pg_stat_user_indexes AS u
JOIN pg_index AS i ON i.indexrelid = u.indexrelid
WHERE u.idx_scan = 0
    AND NOT i.indisprimary
    AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = u.indexrelid)
ORDER BY pg_relation_size(u.indexrelid) DESC
LIMIT %(limit)s
