-- Each tick on a server in recovery: its own view of replication. Replay lag as the ops
-- playbook computes it: 0 when everything received is replayed, else the age of the last
-- replayed transaction.
SELECT
    r.receive_lsn::text AS receive_lsn,
    r.replay_lsn::text AS replay_lsn,
    CASE
        WHEN r.receive_lsn = r.replay_lsn THEN 0::float8
        ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
    END AS replay_lag_s,
    pg_wal_lsn_diff(r.receive_lsn, r.replay_lsn)::bigint AS receive_replay_lag_bytes,
    pg_is_wal_replay_paused() AS replay_paused,
    w.status AS wal_receiver_status,
    CASE
        WHEN w.sender_host IS NOT NULL THEN w.sender_host || ':' || w.sender_port::text
    END AS upstream
FROM (SELECT pg_last_wal_receive_lsn() AS receive_lsn, pg_last_wal_replay_lsn() AS replay_lsn) AS r
LEFT JOIN pg_stat_wal_receiver AS w ON true
