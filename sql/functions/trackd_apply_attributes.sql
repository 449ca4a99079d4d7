-- A person's attributes after an identify: p_set's keys set and p_unset's removed, where a
-- dotted key under cio_subscription_preferences ("cio_subscription_preferences.topics.topic_1")
-- updates the nested preference object instead of becoming a key of its own, as Customer.io
-- does. Other dotted keys are plain attribute names.
-- The plain merge is the common case, and this runs on every identify: it is tried first, in
-- SQL, and the nested merge (trackd_apply_dotted) only when a dotted key is there.
CREATE OR REPLACE FUNCTION trackd_apply_attributes(p_attributes jsonb, p_set jsonb, p_unset text[])
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(p_set) k
                     WHERE k LIKE 'cio\_subscription\_preferences.%')
          OR EXISTS (SELECT 1 FROM unnest(p_unset) k
                     WHERE k LIKE 'cio\_subscription\_preferences.%')
            THEN trackd_apply_dotted(p_attributes, p_set, p_unset)
        ELSE (p_attributes || p_set) - p_unset
    END
$$;
COMMENT ON FUNCTION trackd_apply_attributes(jsonb, jsonb, text[]) IS 'Person attributes after an identify''s sets and removals, with dotted cio_subscription_preferences keys merged into the nested object.';
