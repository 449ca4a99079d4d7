-- Track API v2 object identify (and identify_anonymous): creates or updates the object named by
-- type and id, or updates the one named by cio_object_id (never created: 'not_found'), merging
-- p_attributes (null removes one), then adds the relationships p_list names (see
-- trackd_relate_object). Returns 'created', 'updated' or 'not_found'.
CREATE OR REPLACE FUNCTION trackd_object_identify(p_workspace bigint, p_object_type_id text,
                                                  p_object_id text, p_cio_object_id text,
                                                  p_attributes jsonb, p_list jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_object objects;
    v_created boolean;
BEGIN
    v_created := p_cio_object_id IS NULL AND NOT EXISTS (
        SELECT 1 FROM objects WHERE workspace_id = p_workspace
          AND object_type_id = p_object_type_id AND object_id = p_object_id);
    v_object := trackd_object_for(p_workspace, p_object_type_id, p_object_id, p_cio_object_id,
                                  p_cio_object_id IS NULL);
    IF v_object.object_id IS NULL THEN
        RETURN 'not_found';
    END IF;
    UPDATE objects
    SET attributes = trackd_merge_attributes(attributes, p_attributes, false), updated_at = now()
    WHERE workspace_id = p_workspace AND object_type_id = v_object.object_type_id
      AND object_id = v_object.object_id;
    IF p_list IS NOT NULL THEN
        PERFORM trackd_relate_object(p_workspace, v_object.object_type_id, v_object.object_id,
                                     true, p_list);
    END IF;
    RETURN CASE WHEN v_created THEN 'created' ELSE 'updated' END;
END
$$;
COMMENT ON FUNCTION trackd_object_identify(bigint, text, text, text, jsonb, jsonb) IS 'Creates or updates an object and relates the people listed (v2 object identify).';
