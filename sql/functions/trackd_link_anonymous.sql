-- Links an anonymous id to a person and brings its recent activity along: anonymous events
-- received in the last 30 days join the person (origin anonymous_merge; eligible to trigger if
-- the link comes within 72 hours of their timestamp), and so do its group relationships.
-- Returns 'linked', 'already' (linked to this person before), 'refused' (linked to another
-- person: never re-linked) or 'junk' (a placeholder id).
-- Joined events that may fire and that a rule names are queued for evaluation.
CREATE OR REPLACE FUNCTION trackd_link_anonymous(p_workspace bigint, p_anonymous_id text, p_person bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_owner bigint;
BEGIN
    IF trackd_is_junk_anonymous_id(p_anonymous_id) OR p_person IS NULL THEN
        RETURN 'junk';
    END IF;
    PERFORM trackd_lock_anonymous_id(p_workspace, p_anonymous_id, true);
    INSERT INTO anonymous_ids (workspace_id, anonymous_id, person_id, linked_at)
    VALUES (p_workspace, p_anonymous_id, p_person, now())
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT person_id INTO v_owner FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id;
        IF v_owner = p_person THEN
            RETURN 'already';
        END IF;
        UPDATE anonymous_ids SET refused_links = refused_links + 1
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id;
        RETURN 'refused';
    END IF;
    WITH joined AS (
        UPDATE events
        SET person_id = p_person,
            origin = 'anonymous_merge',
            eligible_at = CASE WHEN now() - "timestamp" <= trackd_trigger_window() THEN now() END
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id AND person_id IS NULL
          AND received_at > now() - trackd_anonymous_retention()
        RETURNING id, name, type, eligible_at
    )
    INSERT INTO pending_evaluations (event_id, workspace_id)
    SELECT id, p_workspace FROM joined
    WHERE eligible_at IS NOT NULL AND trackd_has_candidate_rules(p_workspace, name, type);
    DELETE FROM relationships r
    WHERE r.workspace_id = p_workspace AND r.anonymous_id = p_anonymous_id AND r.person_id IS NULL
      AND EXISTS (SELECT 1 FROM relationships m
                  WHERE m.workspace_id = r.workspace_id AND m.object_type_id = r.object_type_id
                    AND m.object_id = r.object_id AND m.person_id = p_person);
    UPDATE relationships SET person_id = p_person
    WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id AND person_id IS NULL;
    RETURN 'linked';
END
$$;
COMMENT ON FUNCTION trackd_link_anonymous(bigint, text, bigint) IS 'Links an anonymous id to a person and reassigns its recent events and relationships; see the comment above it.';
