-- Drops the monthly partitions whose every event was received before p_before; returns how
-- many. Their queue rows go with them.
CREATE OR REPLACE FUNCTION trackd_drop_event_partitions(p_before timestamptz)
RETURNS integer LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    v_part record;
    v_dropped integer := 0;
BEGIN
    FOR v_part IN
        SELECT c.oid::regclass AS name,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
        ORDER BY 2
    LOOP
        EXIT WHEN v_part.upper_bound > p_before;
        EXECUTE format('DELETE FROM pending_evaluations q USING %s e WHERE q.event_id = e.id',
                       v_part.name);
        EXECUTE format('DROP TABLE %s', v_part.name);
        v_dropped := v_dropped + 1;
    END LOOP;
    RETURN v_dropped;
END
$$;
COMMENT ON FUNCTION trackd_drop_event_partitions(timestamptz) IS 'Retention: drops the monthly events partitions received entirely before a time.';
