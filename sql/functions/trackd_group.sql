-- Group: upserts the object and the caller's relationship to it (by person, or by anonymous id
-- until that is linked).
CREATE OR REPLACE FUNCTION trackd_group(p_workspace bigint, p_message_id text, p_person text,
                             p_anonymous_id text, p_object_type_id text, p_object_id text,
                             p_traits jsonb, p_relationship jsonb, p_context jsonb,
                             p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_recorded text;
BEGIN
    IF p_person IS NOT NULL AND trackd_is_suppressed(p_workspace, 'id', p_person) THEN
        RETURN 'suppressed';
    END IF;
    v_recorded := trackd_record_identity_call(p_workspace, 'group', p_message_id, p_person,
                                              p_anonymous_id, p_object_id, NULL, p_traits,
                                              p_context, p_timestamp, p_received);
    IF v_recorded = 'duplicate' THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO objects (workspace_id, object_type_id, object_id, attributes)
    VALUES (p_workspace, p_object_type_id, p_object_id, trackd_merge_attributes('{}', p_traits, false))
    ON CONFLICT (workspace_id, object_type_id, object_id) DO UPDATE
    SET attributes = trackd_merge_attributes(objects.attributes, p_traits, false), updated_at = now();
    IF p_person IS NOT NULL THEN
        v_person := trackd_person_for(p_workspace, 'id', p_person);
    ELSE
        -- An anonymous id already linked relates its person; otherwise the relationship waits.
        SELECT person_id INTO v_person FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id;
    END IF;
    PERFORM trackd_relate(p_workspace, true, v_person, p_anonymous_id, p_object_type_id,
                          p_object_id, p_relationship);
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_group(bigint, text, text, text, text, text, jsonb, jsonb, jsonb, timestamptz, timestamptz) IS 'Group: upserts the object and the caller''s relationship to it.';
