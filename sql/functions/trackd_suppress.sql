-- Suppresses: blocks every identifier the person had (and the one addressed), then deletes them.
CREATE OR REPLACE FUNCTION trackd_suppress(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person people%ROWTYPE;
BEGIN
    SELECT * INTO v_person FROM people WHERE id = trackd_find_person(p_workspace, p_type, p_value);
    INSERT INTO suppressions (workspace_id, identifier_type, identifier, suppressed_cio_id)
    SELECT p_workspace, t, v, v_person.cio_id
    FROM (VALUES ('id', v_person.customer_id),
                 ('email', lower(v_person.email)),
                 (p_type, CASE p_type WHEN 'email' THEN lower(p_value) ELSE p_value END)) AS s (t, v)
    WHERE t IN ('id', 'email') AND v IS NOT NULL
    ON CONFLICT DO NOTHING;
    IF v_person.id IS NOT NULL THEN
        PERFORM trackd_delete_person(p_workspace, 'cio_id', v_person.cio_id);
    END IF;
    RETURN 'suppressed';
END
$$;
COMMENT ON FUNCTION trackd_suppress(bigint, text, text) IS 'Deletes a person and blocks their id and email from being used again.';
