-- Alias: previousId (an anonymous id) becomes the person's.
CREATE OR REPLACE FUNCTION trackd_alias(p_workspace bigint, p_message_id text, p_person text,
                             p_previous_id text, p_context jsonb, p_timestamp timestamptz,
                             p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_recorded text;
    v_link text;
BEGIN
    IF trackd_is_suppressed(p_workspace, 'id', p_person) THEN
        RETURN 'suppressed';
    END IF;
    v_recorded := trackd_record_identity_call(p_workspace, 'alias', p_message_id, p_person, NULL,
                                              NULL, p_previous_id, '{}', p_context,
                                              p_timestamp, p_received);
    IF v_recorded = 'duplicate' THEN
        RETURN 'duplicate';
    END IF;
    v_person := trackd_person_for(p_workspace, 'id', p_person);
    v_link := trackd_link_anonymous(p_workspace, p_previous_id, v_person);
    RETURN CASE WHEN v_link = 'refused' THEN 'recorded;link_refused' ELSE 'recorded' END;
END
$$;
COMMENT ON FUNCTION trackd_alias(bigint, text, text, text, jsonb, timestamptz, timestamptz) IS 'Alias: records the call and links previousId to the person userId.';
