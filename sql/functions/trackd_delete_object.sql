-- Pipelines' `Object Deleted`: deletes object p_object_id of type p_object_type_id, and with it
-- every relationship to it. Returns 'deleted', or 'not_found' when there was no such object.
CREATE OR REPLACE FUNCTION trackd_delete_object(p_workspace bigint, p_object_type_id text,
                                                p_object_id text)
RETURNS text LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM objects
        WHERE workspace_id = p_workspace AND object_type_id = p_object_type_id
          AND object_id = p_object_id
        RETURNING 1
    )
    SELECT CASE WHEN EXISTS (SELECT 1 FROM gone) THEN 'deleted' ELSE 'not_found' END
$$;
COMMENT ON FUNCTION trackd_delete_object(bigint, text, text) IS 'Deletes an object with its relationships (Object Deleted).';
