-- A person's attributes after an identify with dotted cio_subscription_preferences keys: the
-- other keys merge as usual, then each dotted one sets (or, null, removes) its nested key.
CREATE OR REPLACE FUNCTION trackd_apply_dotted(p_attributes jsonb, p_set jsonb, p_unset text[])
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    c_dotted constant text := '^cio_subscription_preferences(\.[^.]+)+$';
    v_result jsonb;
    v_key text;
    v_value jsonb;
BEGIN
    SELECT (p_attributes || coalesce(jsonb_object_agg(key, value) FILTER (WHERE key !~ c_dotted), '{}'))
           - ARRAY(SELECT k FROM unnest(p_unset) k WHERE k !~ c_dotted)
    INTO v_result FROM jsonb_each(p_set);
    FOR v_key, v_value IN
        SELECT key, value FROM jsonb_each(p_set) WHERE key ~ c_dotted
        UNION ALL SELECT k, NULL FROM unnest(p_unset) k WHERE k ~ c_dotted
    LOOP
        v_result := trackd_set_path(v_result, string_to_array(v_key, '.'), v_value);
    END LOOP;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION trackd_apply_dotted(jsonb, jsonb, text[]) IS 'Person attributes after an identify whose dotted cio_subscription_preferences keys update the nested object, as Customer.io does.';
