-- Frees the identifier addressed and every identifier suppressed together with it.
CREATE OR REPLACE FUNCTION trackd_unsuppress(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_group text;
    v_value text := CASE p_type WHEN 'email' THEN lower(p_value) ELSE p_value END;
BEGIN
    SELECT suppressed_cio_id INTO v_group FROM suppressions
    WHERE workspace_id = p_workspace AND identifier_type = p_type AND identifier = v_value;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    DELETE FROM suppressions
    WHERE workspace_id = p_workspace
      AND ((identifier_type = p_type AND identifier = v_value)
           OR (v_group IS NOT NULL AND suppressed_cio_id = v_group));
    RETURN 'unsuppressed';
END
$$;
COMMENT ON FUNCTION trackd_unsuppress(bigint, text, text) IS 'Frees suppressed identifiers; does not restore the deleted person.';
