-- p_doc with the value at p_path (keys, outermost first) set, making the objects on the way as
-- needed (a non-object on the way is replaced); a NULL or JSON null p_value removes the key.
-- How dotted identify keys such as "cio_subscription_preferences.topics.topic_1" update the
-- nested object, as Customer.io does.
CREATE OR REPLACE FUNCTION trackd_set_path(p_doc jsonb, p_path text[], p_value jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN cardinality(p_path) = 1 AND (p_value IS NULL OR p_value = 'null')
            THEN coalesce(p_doc, '{}') - p_path[1]
        WHEN cardinality(p_path) = 1
            THEN coalesce(p_doc, '{}') || jsonb_build_object(p_path[1], p_value)
        ELSE coalesce(p_doc, '{}') || jsonb_build_object(p_path[1], trackd_set_path(
            CASE WHEN jsonb_typeof(p_doc -> p_path[1]) = 'object' THEN p_doc -> p_path[1] END,
            p_path[2:], p_value))
    END
$$;
COMMENT ON FUNCTION trackd_set_path(jsonb, text[], jsonb) IS 'Sets (or, with null, removes) a nested key of a JSON object, making the objects on the way.';
