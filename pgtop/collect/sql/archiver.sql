-- Each tick: WAL archiving (archive_command itself is never read: it may hold secrets).
-- pending_segments: complete WAL segments written since the last one archived, on a primary
-- (the segment being written is not ready yet). 0 on a server that writes no WAL, however
-- long ago the last archive was: an idle server has nothing to archive. Segment numbers:
-- the write position over the segment size (pg_walfile_name names the segment before a
-- position on a segment's first byte, as right after pg_switch_wal()), and the archived
-- file's name (log and segment fields; a .backup or .partial file names its segment).
SELECT
    current_setting('archive_mode') AS archive_mode,
    a.archived_count,
    a.failed_count,
    a.last_archived_wal,
    extract(epoch FROM now() - a.last_archived_time)::float8 AS last_archived_age_s,
    a.last_failed_wal,
    extract(epoch FROM now() - a.last_failed_time)::float8 AS last_failed_age_s,
    CASE WHEN substr(a.last_archived_wal, 1, 24) ~ '^[0-9A-F]+$'
        AND length(a.last_archived_wal) >= 24 THEN
        w.segment
        - ('x' || substr(a.last_archived_wal, 9, 8))::bit(32)::bigint * (4294967296 / w.size)
        - ('x' || substr(a.last_archived_wal, 17, 8))::bit(32)::bigint
        - 1
    END AS pending_segments
FROM pg_stat_archiver AS a
LEFT JOIN LATERAL (
    SELECT
        s.size,
        floor(pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') / s.size)::bigint AS segment
    FROM (SELECT pg_size_bytes(current_setting('wal_segment_size')) AS size) AS s
    WHERE NOT pg_is_in_recovery()
) AS w ON true
