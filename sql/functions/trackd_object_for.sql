-- The object named by type and id, created (with no attributes) when new and p_create; or the
-- one named by cio_object_id, which is never created. A row of NULLs when there is none.
CREATE OR REPLACE FUNCTION trackd_object_for(p_workspace bigint, p_object_type_id text,
                                             p_object_id text, p_cio_object_id text,
                                             p_create boolean)
RETURNS objects LANGUAGE plpgsql AS $$
DECLARE
    v_object objects;
BEGIN
    IF p_cio_object_id IS NOT NULL THEN
        SELECT * INTO v_object FROM objects
        WHERE workspace_id = p_workspace AND cio_object_id = p_cio_object_id;
        RETURN v_object;
    END IF;
    SELECT * INTO v_object FROM objects
    WHERE workspace_id = p_workspace AND object_type_id = p_object_type_id
      AND object_id = p_object_id;
    IF FOUND OR NOT p_create THEN
        RETURN v_object;
    END IF;
    -- A concurrent call may create it first: the no-op update then returns theirs.
    INSERT INTO objects (workspace_id, object_type_id, object_id)
    VALUES (p_workspace, p_object_type_id, p_object_id)
    ON CONFLICT (workspace_id, object_type_id, object_id) DO UPDATE SET updated_at = objects.updated_at
    RETURNING * INTO v_object;
    RETURN v_object;
END
$$;
COMMENT ON FUNCTION trackd_object_for(bigint, text, text, text, boolean) IS 'The object named by type and id (created when asked) or by cio_object_id; NULLs when none.';
