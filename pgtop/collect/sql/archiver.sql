-- Each tick: WAL archiving (archive_command itself is never read: it may hold secrets).
SELECT
    current_setting('archive_mode') AS archive_mode,
    a.archived_count,
    a.failed_count,
    a.last_archived_wal,
    extract(epoch FROM now() - a.last_archived_time)::float8 AS last_archived_age_s,
    a.last_failed_wal,
    extract(epoch FROM now() - a.last_failed_time)::float8 AS last_failed_age_s
FROM pg_stat_archiver AS a
