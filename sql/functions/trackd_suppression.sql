-- The suppression of an id or email, if there is one: the one place that says what
-- "suppressed" means (emails are kept lower-cased). Set-based statements use it in FROM, as
-- EXISTS (SELECT 1 FROM trackd_suppression(...)): a set-returning SQL function is inlined there
-- and becomes one index lookup, where a scalar function holding a subquery would be called,
-- and planned, row by row.
CREATE OR REPLACE FUNCTION trackd_suppression(p_workspace bigint, p_type text, p_value text)
RETURNS SETOF suppressions LANGUAGE sql STABLE AS $$
    SELECT * FROM suppressions
    WHERE p_type IN ('id', 'email') AND workspace_id = p_workspace AND identifier_type = p_type
      AND identifier = CASE p_type WHEN 'email' THEN lower(p_value) ELSE p_value END
$$;
COMMENT ON FUNCTION trackd_suppression(bigint, text, text) IS 'The suppression of an id or email, if any (inlined where used in FROM).';
