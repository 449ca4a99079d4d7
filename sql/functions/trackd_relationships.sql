-- Track API v2 add_relationships / delete_relationships (p_add false), from either side: of the
-- person (p_person_type, p_person) to the objects p_list names (see trackd_relate_person), or
-- of the object (type and id, or cio_object_id) to the people p_list names (see
-- trackd_relate_object). Adding creates a person or object named by id (or email, for people),
-- as an identify would. Returns 'recorded', 'suppressed', or 'not_found' when the person or
-- object is unknown and cannot be created.
CREATE OR REPLACE FUNCTION trackd_relationships(p_workspace bigint, p_add boolean,
                                                p_person_type text, p_person text,
                                                p_object_type_id text, p_object_id text,
                                                p_cio_object_id text, p_list jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_object objects;
BEGIN
    IF p_person_type IS NOT NULL THEN
        IF trackd_is_suppressed(p_workspace, p_person_type, p_person) THEN
            RETURN 'suppressed';
        END IF;
        v_person := CASE WHEN p_add THEN trackd_person_for(p_workspace, p_person_type, p_person)
                         ELSE trackd_find_person(p_workspace, p_person_type, p_person) END;
        IF v_person IS NULL THEN
            RETURN 'not_found';
        END IF;
        PERFORM trackd_relate_person(p_workspace, v_person, p_add, p_list);
        RETURN 'recorded';
    END IF;
    v_object := trackd_object_for(p_workspace, p_object_type_id, p_object_id, p_cio_object_id,
                                  p_add);
    IF v_object.object_id IS NULL THEN
        RETURN 'not_found';
    END IF;
    PERFORM trackd_relate_object(p_workspace, v_object.object_type_id, v_object.object_id, p_add,
                                 p_list);
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_relationships(bigint, boolean, text, text, text, text, text, jsonb) IS 'Adds or removes relationships of a person to objects, or of an object to people.';
