-- On demand (runbook, confirmed): drop one replication slot, only if it exists and is
-- inactive: a slot that became active since the user looked is left alone (dropped is NULL,
-- active_pid says who holds it). The slot is read first, in the same statement (a
-- MATERIALIZED CTE runs before the outer row calls the function), with the WAL it holds
-- back (from the current WAL position on a primary, from the replay position on a standby,
-- as slots.sql): what the drop frees. Using slots needs the REPLICATION attribute (or
-- superuser), which is not inherited from a role one is a member of, and which the server
-- checks inside the call (EXECUTE on the function is PUBLIC's): without it, nothing is
-- called. A READ ONLY transaction allows the drop (a slot is no catalog row: its state lives
-- in pg_replslot).
WITH target AS MATERIALIZED (
    SELECT
        s.slot_name,
        s.slot_type,
        s.active,
        s.active_pid,
        pg_wal_lsn_diff(
            CASE
                WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_lsn()
            END,
            s.restart_lsn
        )::bigint AS retained_wal_bytes,
        coalesce(
            (SELECT r.rolsuper OR r.rolreplication FROM pg_roles AS r
                WHERE r.rolname = current_user),
            false
        ) AS allowed
    FROM pg_replication_slots AS s
    WHERE s.slot_name = %(slot)s
)
SELECT
    t.slot_name,
    t.slot_type,
    t.active,
    t.active_pid,
    t.retained_wal_bytes,
    t.allowed,
    CASE
        WHEN t.allowed AND NOT t.active
            THEN (SELECT true FROM pg_drop_replication_slot(t.slot_name))
    END AS dropped
FROM target AS t
