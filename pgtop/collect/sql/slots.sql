-- Each tick: replication slots and the WAL each one holds back (from the current WAL position
-- on a primary, from the replay position on a standby).
SELECT
    s.slot_name AS name,
    s.slot_type,
    s.active,
    s.active_pid,
    s.database,
    pg_wal_lsn_diff(
        CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
        s.restart_lsn
    )::bigint AS retained_wal_bytes,
    s.wal_status
FROM pg_replication_slots AS s
ORDER BY s.slot_name
