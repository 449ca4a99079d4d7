-- Adds (or removes) the relationships of an object to the people p_list names: a JSON array of
-- {"id"}, {"email"}, {"cio_id"} or {"anonymous_id"}, each with "attributes" (the relationship
-- attributes). Adding creates a person named by id or email, as events do; suppressed people
-- and unknown cio_ids are skipped. An anonymous id linked to a person relates that person;
-- otherwise the relationship waits on the anonymous id and moves to the person it is linked to.
CREATE OR REPLACE FUNCTION trackd_relate_object(p_workspace bigint, p_object_type_id text,
                                                p_object_id text, p_add boolean, p_list jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_item jsonb;
    v_type text;
    v_value text;
    v_person bigint;
BEGIN
    FOR v_item IN SELECT value FROM jsonb_array_elements(p_list) LOOP
        v_person := NULL;
        v_value := v_item ->> 'anonymous_id';
        IF v_value IS NOT NULL THEN
            SELECT person_id INTO v_person FROM anonymous_ids
            WHERE workspace_id = p_workspace AND anonymous_id = v_value;
        ELSE
            v_type := CASE WHEN v_item ? 'id' THEN 'id' WHEN v_item ? 'email' THEN 'email'
                           ELSE 'cio_id' END;
            v_value := v_item ->> v_type;
            CONTINUE WHEN v_value IS NULL OR trackd_is_suppressed(p_workspace, v_type, v_value);
            v_person := CASE WHEN p_add THEN trackd_person_for(p_workspace, v_type, v_value)
                             ELSE trackd_find_person(p_workspace, v_type, v_value) END;
            CONTINUE WHEN v_person IS NULL;
            v_value := NULL;
        END IF;
        PERFORM trackd_relate(p_workspace, p_add, v_person, v_value, p_object_type_id,
                              p_object_id, coalesce(v_item -> 'attributes', '{}'));
    END LOOP;
END
$$;
COMMENT ON FUNCTION trackd_relate_object(bigint, text, text, boolean, jsonb) IS 'Adds or removes an object''s relationships to the people (or anonymous ids) a list names.';
