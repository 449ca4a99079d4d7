-- Claims a deduplication key; false when the key was seen before. A NULL key is always new.
CREATE OR REPLACE FUNCTION trackd_claim_message(p_workspace bigint, p_message_id text, p_received timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF p_message_id IS NULL THEN
        RETURN true;
    END IF;
    INSERT INTO message_ids (workspace_id, message_id, received_at)
    VALUES (p_workspace, p_message_id, p_received)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION trackd_claim_message(bigint, text, timestamptz) IS 'Records a deduplication key; false if it was already there.';
