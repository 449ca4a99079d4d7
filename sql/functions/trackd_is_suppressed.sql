-- Whether an id or email is suppressed, for code that asks about one identifier at a time.
CREATE OR REPLACE FUNCTION trackd_is_suppressed(p_workspace bigint, p_type text, p_value text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM trackd_suppression(p_workspace, p_type, p_value))
$$;
COMMENT ON FUNCTION trackd_is_suppressed(bigint, text, text) IS 'Whether an id or email is suppressed.';
