-- Pipelines' `Relationship Deleted`: removes the relationship of the person (by id, email or
-- cio_id; or, without one, of the anonymous id) to object p_object_id of type p_object_type_id.
-- The object stays. Returns 'deleted', or 'not_found' when there was no such relationship.
CREATE OR REPLACE FUNCTION trackd_delete_relationship(p_workspace bigint, p_type text,
                                                      p_value text, p_anonymous_id text,
                                                      p_object_type_id text, p_object_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_rows integer;
BEGIN
    IF p_value IS NOT NULL THEN
        v_person := trackd_find_person(p_workspace, p_type, p_value);
        DELETE FROM relationships
        WHERE workspace_id = p_workspace AND person_id = v_person
          AND object_type_id = p_object_type_id AND object_id = p_object_id;
    ELSE
        DELETE FROM relationships
        WHERE workspace_id = p_workspace AND person_id IS NULL AND anonymous_id = p_anonymous_id
          AND object_type_id = p_object_type_id AND object_id = p_object_id;
    END IF;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN CASE WHEN v_rows > 0 THEN 'deleted' ELSE 'not_found' END;
END
$$;
COMMENT ON FUNCTION trackd_delete_relationship(bigint, text, text, text, text, text) IS 'Removes a person''s (or an anonymous id''s) relationship to an object (Relationship Deleted).';
