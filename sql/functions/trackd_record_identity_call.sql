-- Records a group or alias call, or an identify that names no person.
CREATE OR REPLACE FUNCTION trackd_record_identity_call(
    p_workspace bigint, p_type text, p_message_id text, p_customer_id text, p_anonymous_id text,
    p_group_id text, p_previous_id text, p_traits jsonb, p_context jsonb,
    p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF NOT trackd_claim_message(p_workspace, p_message_id, p_received) THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO identity_calls (workspace_id, type, customer_id, anonymous_id, group_id,
                                previous_id, traits, context, message_id, "timestamp", received_at)
    VALUES (p_workspace, p_type, p_customer_id, p_anonymous_id, p_group_id, p_previous_id,
            p_traits, p_context, p_message_id, p_timestamp, p_received);
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_record_identity_call(bigint, text, text, text, text, text, text, jsonb, jsonb, timestamptz, timestamptz)
    IS 'Stores a group, alias or anonymous identify call in identity_calls; deduplicated by message id.';
