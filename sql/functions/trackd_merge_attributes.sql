-- The attributes of an object or relationship after an update: p_new's keys are set, except
-- that a null value removes the key, and so does "" when p_empty_removes (Customer.io's rule for
-- relationship attributes).
CREATE OR REPLACE FUNCTION trackd_merge_attributes(p_old jsonb, p_new jsonb, p_empty_removes boolean)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (coalesce(p_old, '{}')
            || coalesce((SELECT jsonb_object_agg(key, value) FROM jsonb_each(p_new)
                         WHERE value <> 'null' AND NOT (p_empty_removes AND value = '""')), '{}'))
           - coalesce((SELECT array_agg(key) FROM jsonb_each(p_new)
                       WHERE value = 'null' OR (p_empty_removes AND value = '""')), '{}')
$$;
COMMENT ON FUNCTION trackd_merge_attributes(jsonb, jsonb, boolean) IS 'Object or relationship attributes after an update: null (and, when asked, "") removes a key.';
