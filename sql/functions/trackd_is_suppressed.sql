CREATE OR REPLACE FUNCTION trackd_is_suppressed(p_workspace bigint, p_type text, p_value text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_type IN ('id', 'email') AND EXISTS (
        SELECT 1 FROM suppressions
        WHERE workspace_id = p_workspace AND identifier_type = p_type
          AND identifier = CASE p_type WHEN 'email' THEN lower(p_value) ELSE p_value END)
$$;
COMMENT ON FUNCTION trackd_is_suppressed(bigint, text, text) IS 'Whether an id or email is suppressed.';
