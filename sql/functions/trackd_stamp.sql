-- The people.attribute_times entries of an identify at p_when (unix seconds): one per attribute
-- it sets (p_set's keys) or removes (p_unset).
CREATE OR REPLACE FUNCTION trackd_stamp(p_set jsonb, p_unset text[], p_when double precision)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, p_when), '{}')
    FROM (SELECT jsonb_object_keys(p_set) AS k UNION SELECT unnest(p_unset)) keys
$$;
COMMENT ON FUNCTION trackd_stamp(jsonb, text[], double precision) IS 'The attribute_times entries of an identify: its time for every attribute it sets or removes.';
