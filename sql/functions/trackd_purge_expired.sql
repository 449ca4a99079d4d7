-- Retention: deletes up to p_limit anonymous events that never joined a person and are older
-- than 30 days, and up to p_limit deduplication keys older than 30 days. Small batches keep
-- locks short; the caller repeats while a full batch was deleted.
CREATE OR REPLACE FUNCTION trackd_purge_expired(p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_events integer;
    v_keys integer;
BEGIN
    DELETE FROM events WHERE id IN (
        SELECT id FROM events
        WHERE person_id IS NULL AND received_at < now() - trackd_anonymous_retention()
        LIMIT p_limit);
    GET DIAGNOSTICS v_events = ROW_COUNT;
    DELETE FROM message_ids WHERE ctid IN (
        SELECT ctid FROM message_ids WHERE received_at < now() - trackd_anonymous_retention() LIMIT p_limit);
    GET DIAGNOSTICS v_keys = ROW_COUNT;
    RETURN greatest(v_events, v_keys);
END
$$;
COMMENT ON FUNCTION trackd_purge_expired(integer) IS 'Deletes one bounded batch of expired anonymous events and deduplication keys; returns the larger count.';
