-- Adds (or removes) the relationships of person p_person to the objects p_list names: a JSON
-- array of {"object_type_id", "object_id"} or {"cio_object_id"}, each with "attributes" (the
-- relationship attributes). Adding to an object named by type and id creates the object; one
-- named by an unknown cio_object_id is skipped.
CREATE OR REPLACE FUNCTION trackd_relate_person(p_workspace bigint, p_person bigint,
                                                p_add boolean, p_list jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_item jsonb;
    v_object objects;
BEGIN
    FOR v_item IN SELECT value FROM jsonb_array_elements(p_list) LOOP
        v_object := trackd_object_for(p_workspace, v_item ->> 'object_type_id',
                                      v_item ->> 'object_id', v_item ->> 'cio_object_id', p_add);
        IF v_object.object_id IS NOT NULL THEN
            PERFORM trackd_relate(p_workspace, p_add, p_person, NULL, v_object.object_type_id,
                                  v_object.object_id, coalesce(v_item -> 'attributes', '{}'));
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION trackd_relate_person(bigint, bigint, boolean, jsonb) IS 'Adds or removes a person''s relationships to the objects a list names.';
