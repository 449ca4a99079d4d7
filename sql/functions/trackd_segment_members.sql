-- Customer.io's manual segment calls: adds (p_add) or removes the people named by p_ids (a
-- JSON array of strings) to or from segment p_segment. p_id_type says what the ids are: 'id'
-- (customer ids), 'email' (any case; an id without '@' is no email and is ignored), 'cio_id'
-- (with or without the "cio_" prefix). Ids that name nobody are ignored, as Customer.io ignores
-- them; people are never created here. The first add makes the segment. Returns 'recorded'.
CREATE OR REPLACE FUNCTION trackd_segment_members(p_workspace bigint, p_segment integer,
                                                  p_add boolean, p_id_type text, p_ids jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_ids text[] := ARRAY(SELECT DISTINCT btrim(x) FROM jsonb_array_elements_text(p_ids) x
                          WHERE btrim(x) <> '');
    v_people bigint[];
BEGIN
    IF p_id_type = 'email' THEN
        v_people := ARRAY(SELECT id FROM people
                          WHERE workspace_id = p_workspace
                            AND lower(email) = ANY (ARRAY(SELECT lower(i) FROM unnest(v_ids) i
                                                          WHERE position('@' IN i) > 0)));
    ELSIF p_id_type = 'cio_id' THEN
        v_people := ARRAY(SELECT id FROM people
                          WHERE workspace_id = p_workspace
                            AND cio_id = ANY (ARRAY(SELECT regexp_replace(i, '^cio_', '')
                                                    FROM unnest(v_ids) i)));
    ELSE
        v_people := ARRAY(SELECT id FROM people
                          WHERE workspace_id = p_workspace AND customer_id = ANY (v_ids));
    END IF;
    IF p_add THEN
        INSERT INTO segments (workspace_id, segment_id) VALUES (p_workspace, p_segment)
        ON CONFLICT (workspace_id, segment_id) DO UPDATE SET updated_at = now();
        INSERT INTO segment_members (workspace_id, segment_id, person_id)
        SELECT p_workspace, p_segment, unnest(v_people)
        ORDER BY 3 -- one order for every writer: no deadlock between two adds
        ON CONFLICT DO NOTHING;
    ELSE
        UPDATE segments SET updated_at = now()
        WHERE workspace_id = p_workspace AND segment_id = p_segment;
        DELETE FROM segment_members
        WHERE workspace_id = p_workspace AND segment_id = p_segment
          AND person_id = ANY (v_people);
    END IF;
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_segment_members(bigint, integer, boolean, text, jsonb) IS 'Adds people to, or removes them from, a manual segment (add_customers, remove_customers).';
