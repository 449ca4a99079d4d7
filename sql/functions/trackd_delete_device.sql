CREATE OR REPLACE FUNCTION trackd_delete_device(p_workspace bigint, p_type text, p_value text, p_token text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM devices
    WHERE workspace_id = p_workspace AND token = p_token
      AND person_id = trackd_find_person(p_workspace, p_type, p_value);
    RETURN CASE WHEN FOUND THEN 'deleted' ELSE 'not_found' END;
END
$$;
COMMENT ON FUNCTION trackd_delete_device(bigint, text, text, text) IS 'Removes a device token from a person.';
