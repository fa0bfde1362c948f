-- On demand: pg_blocking_pids() for the few waiters the lock graph cannot explain (queued behind
-- another waiter, e.g. a reader behind a pending ALTER TABLE) that were already waiting at the
-- previous tick: at most locktree.RESOLVE_CAP pids a tick (each call takes every lock-manager
-- partition lock). A pid that no longer waits gets an empty array.
SELECT w.pid, pg_blocking_pids(w.pid) AS blocked_by
FROM unnest(%(pids)s::int[]) AS w(pid)
