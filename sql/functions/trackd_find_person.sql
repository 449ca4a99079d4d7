-- The person addressed by (type, value): type 'id' (customer_id), 'email' (any case) or 'cio_id'.
-- One plain query per type, so that each uses its index (a CASE in one WHERE would not).
CREATE OR REPLACE FUNCTION trackd_find_person(p_workspace bigint, p_type text, p_value text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_type = 'id' THEN
        SELECT id INTO v_id FROM people WHERE workspace_id = p_workspace AND customer_id = p_value;
    ELSIF p_type = 'email' THEN
        SELECT id INTO v_id FROM people
        WHERE workspace_id = p_workspace AND lower(email) = lower(p_value);
    ELSIF p_type = 'cio_id' THEN
        SELECT id INTO v_id FROM people WHERE workspace_id = p_workspace AND cio_id = p_value;
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION trackd_find_person(bigint, text, text) IS 'people.id of the person with this identifier (id, email or cio_id), or NULL.';
