-- The person addressed by (type, value), created when new if the identifier is an id or email.
-- NULL for an unknown cio_id. The caller checks suppression first.
CREATE OR REPLACE FUNCTION trackd_person_for(p_workspace bigint, p_type text, p_value text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    LOOP
        v_id := trackd_find_person(p_workspace, p_type, p_value);
        IF v_id IS NOT NULL OR p_type NOT IN ('id', 'email') THEN
            RETURN v_id;
        END IF;
        v_id := nextval(pg_get_serial_sequence('people', 'id'));
        INSERT INTO people (id, workspace_id, cio_id, customer_id, email)
        VALUES (v_id, p_workspace, trackd_cio_id(v_id),
                CASE WHEN p_type = 'id' THEN p_value END,
                CASE WHEN p_type = 'email' THEN p_value END)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN v_id;
        END IF;
        -- A concurrent transaction created them first: find theirs.
    END LOOP;
END
$$;
COMMENT ON FUNCTION trackd_person_for(bigint, text, text) IS 'Finds the person by identifier, creating them for an id or email; NULL for an unknown cio_id.';
