-- Deletes an object, named by type and id or by cio_object_id, and with it every relationship
-- to it: Track API v2 object delete and Pipelines' `Object Deleted`. Returns 'deleted', or
-- 'not_found' when there was no such object.
CREATE OR REPLACE FUNCTION trackd_delete_object(p_workspace bigint, p_object_type_id text,
                                                p_object_id text, p_cio_object_id text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    -- One plain statement per way of naming it, so that each uses its index.
    IF p_cio_object_id IS NOT NULL THEN
        DELETE FROM objects WHERE workspace_id = p_workspace AND cio_object_id = p_cio_object_id;
    ELSE
        DELETE FROM objects
        WHERE workspace_id = p_workspace AND object_type_id = p_object_type_id
          AND object_id = p_object_id;
    END IF;
    RETURN CASE WHEN FOUND THEN 'deleted' ELSE 'not_found' END;
END
$$;
COMMENT ON FUNCTION trackd_delete_object(bigint, text, text, text) IS 'Deletes an object with its relationships (v2 object delete, Object Deleted).';
