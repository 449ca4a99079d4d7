-- Merges the secondary profile into the primary: the secondary's attributes fill only what the
-- primary lacks (missing, null or ""), its events and devices move to the primary marked
-- profile_merge, its anonymous links follow, and the secondary is deleted.
-- Returns 'merged', 'primary_not_found', or 'skipped' (secondary unknown or the same person).
-- Inherited events can never trigger (eligible_at is cleared).
CREATE OR REPLACE FUNCTION trackd_merge(p_workspace bigint, p_primary_type text, p_primary text,
                                        p_secondary_type text, p_secondary text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_primary people%ROWTYPE;
    v_secondary people%ROWTYPE;
    v_first bigint;
    v_second bigint;
BEGIN
    v_first := trackd_find_person(p_workspace, p_primary_type, p_primary);
    IF v_first IS NULL THEN
        RETURN 'primary_not_found';
    END IF;
    v_second := trackd_find_person(p_workspace, p_secondary_type, p_secondary);
    IF v_second IS NULL OR v_second = v_first THEN
        RETURN 'skipped';
    END IF;
    -- Lock both rows in id order so that concurrent merges cannot deadlock.
    PERFORM 1 FROM people WHERE id IN (v_first, v_second) ORDER BY id FOR UPDATE;
    SELECT * INTO v_primary FROM people WHERE id = v_first;
    SELECT * INTO v_secondary FROM people WHERE id = v_second;
    IF v_primary.id IS NULL OR v_secondary.id IS NULL THEN
        RETURN 'skipped'; -- deleted or merged away by a concurrent call meanwhile
    END IF;

    UPDATE events SET person_id = v_first, origin = 'profile_merge', eligible_at = NULL
    WHERE person_id = v_second;
    UPDATE devices SET person_id = v_first, origin = 'profile_merge' WHERE person_id = v_second;
    UPDATE anonymous_ids SET person_id = v_first WHERE person_id = v_second;
    DELETE FROM relationships r WHERE r.person_id = v_second
      AND EXISTS (SELECT 1 FROM relationships m WHERE m.person_id = v_first
                  AND m.workspace_id = r.workspace_id AND m.object_type_id = r.object_type_id
                  AND m.object_id = r.object_id);
    UPDATE relationships SET person_id = v_first WHERE person_id = v_second;
    -- Manual segments the primary was not in (Customer.io's rule); the rest go with the
    -- secondary's deletion.
    INSERT INTO segment_members (workspace_id, segment_id, person_id, added_at)
    SELECT workspace_id, segment_id, v_first, added_at FROM segment_members
    WHERE person_id = v_second
    ON CONFLICT DO NOTHING;
    DELETE FROM people WHERE id = v_second;
    UPDATE people
    SET attributes = (SELECT coalesce(jsonb_object_agg(key, value), '{}')
                      FROM jsonb_each(v_secondary.attributes)
                      WHERE value NOT IN ('null'::jsonb, '""'::jsonb))
                     || (SELECT coalesce(jsonb_object_agg(key, value), '{}')
                         FROM jsonb_each(v_primary.attributes)
                         WHERE value NOT IN ('null'::jsonb, '""'::jsonb)),
        customer_id = coalesce(customer_id, v_secondary.customer_id),
        email = coalesce(email, v_secondary.email),
        updated_at = now()
    WHERE id = v_first;
    RETURN 'merged';
END
$$;
COMMENT ON FUNCTION trackd_merge(bigint, text, text, text, text) IS 'Profile merge: see the comment above the function.';
