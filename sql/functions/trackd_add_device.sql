-- Adds or updates a device by token for the person addressed (created if new). A device sent
-- by an anonymous id (p_type 'anonymous', the id as p_value; mobile SDKs register the token
-- before the person is identified) goes to the person the id is linked to, or is skipped until
-- then: the SDK registers it again once the person is identified.
CREATE OR REPLACE FUNCTION trackd_add_device(p_workspace bigint, p_type text, p_value text,
                                             p_token text, p_platform text, p_attributes jsonb,
                                             p_last_used timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
BEGIN
    IF p_type = 'anonymous' THEN
        SELECT person_id INTO v_person FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_value;
        IF v_person IS NULL THEN
            RETURN 'skipped';
        END IF;
    ELSE
        IF trackd_is_suppressed(p_workspace, p_type, p_value) THEN
            RETURN 'suppressed';
        END IF;
        v_person := trackd_person_for(p_workspace, p_type, p_value);
        IF v_person IS NULL THEN
            RETURN 'not_found';
        END IF;
    END IF;
    INSERT INTO devices (workspace_id, person_id, token, platform, attributes, last_used)
    VALUES (p_workspace, v_person, p_token, p_platform, p_attributes, p_last_used)
    ON CONFLICT (workspace_id, token) DO UPDATE
    SET person_id = excluded.person_id,
        platform = excluded.platform,
        attributes = CASE WHEN devices.person_id = excluded.person_id
                          THEN devices.attributes || excluded.attributes
                          ELSE excluded.attributes END,
        last_used = greatest(devices.last_used, excluded.last_used),
        origin = 'direct';
    RETURN 'stored';
END
$$;
COMMENT ON FUNCTION trackd_add_device(bigint, text, text, text, text, jsonb, timestamptz) IS 'Upserts a device by token for a person; a token of another person moves to this one.';
