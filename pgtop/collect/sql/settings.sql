-- Connect time, once: the settings the ops playbook names. The two timeouts are read as the
-- session default (reset_val): inside pgtop's transaction they show pgtop's own SET LOCAL.
SELECT
    s.name,
    CASE
        WHEN s.name IN ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout')
            THEN s.reset_val || coalesce(s.unit, '')
        ELSE current_setting(s.name)
    END AS value
FROM pg_settings AS s
WHERE s.name = ANY(%(names)s)
ORDER BY s.name
