-- Serializes linking an anonymous id against storing events with it: linking takes the lock
-- exclusively, storing an anonymous event takes it shared (so stores never wait for each
-- other). Whichever commits second sees the other's rows, so no event is left behind.
CREATE OR REPLACE FUNCTION trackd_lock_anonymous_id(p_workspace bigint, p_anonymous_id text, p_exclusive boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_key bigint := hashtextextended(p_workspace::text || ':' || p_anonymous_id, 7);
BEGIN
    IF p_exclusive THEN
        PERFORM pg_advisory_xact_lock(v_key);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(v_key);
    END IF;
END
$$;
COMMENT ON FUNCTION trackd_lock_anonymous_id(bigint, text, boolean) IS 'Transaction advisory lock on one anonymous id: exclusive to link it, shared to store events with it.';
