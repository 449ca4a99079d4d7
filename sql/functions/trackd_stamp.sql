-- The people.attribute_times entries of an identify at p_when (unix seconds): one per attribute
-- it sets (p_set's keys) or removes (p_unset). Built from two arrays rather than aggregated key
-- by key: it runs on every identify.
CREATE OR REPLACE FUNCTION trackd_stamp(p_set jsonb, p_unset text[], p_when double precision)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_object(k, array_fill(p_when::text, ARRAY[cardinality(k)]))
    FROM (SELECT ARRAY(SELECT jsonb_object_keys(p_set)) || p_unset) keys(k)
$$;
COMMENT ON FUNCTION trackd_stamp(jsonb, text[], double precision) IS 'The attribute_times entries of an identify: its time for every attribute it sets or removes.';
