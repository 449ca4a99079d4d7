-- Stores one event, page or screen view. With a person and an anonymous id, links the two.
-- With only an anonymous id linked to a person less than 5 minutes ago, the event joins that
-- person. Returns 'stored', 'duplicate', 'suppressed' or 'not_found' (unknown cio_id), with
-- ';link_refused' appended when the anonymous id belongs to someone else.
-- Events that may fire and that an enabled rule names are queued for evaluation.
CREATE OR REPLACE FUNCTION trackd_ingest_event(
    p_workspace bigint, p_message_id text, p_person_type text, p_person text,
    p_anonymous_id text, p_type text, p_name text, p_properties jsonb, p_context jsonb,
    p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_origin text := 'direct';
    v_link text := '';
    v_event bigint;
    v_eligible timestamptz;
BEGIN
    IF p_person_type IS NOT NULL THEN
        IF trackd_is_suppressed(p_workspace, p_person_type, p_person) THEN
            RETURN 'suppressed';
        END IF;
        v_person := trackd_person_for(p_workspace, p_person_type, p_person);
        IF v_person IS NULL THEN
            RETURN 'not_found';
        END IF;
    END IF;
    IF NOT trackd_claim_message(p_workspace, p_message_id, p_received) THEN
        RETURN 'duplicate';
    END IF;
    IF v_person IS NOT NULL AND NOT trackd_is_junk_anonymous_id(p_anonymous_id) THEN
        v_link := trackd_link_anonymous(p_workspace, p_anonymous_id, v_person);
    ELSIF v_person IS NULL AND p_anonymous_id IS NOT NULL THEN
        PERFORM trackd_lock_anonymous_id(p_workspace, p_anonymous_id, false);
        SELECT person_id INTO v_person FROM anonymous_ids
        WHERE workspace_id = p_workspace AND anonymous_id = p_anonymous_id
          AND linked_at > now() - trackd_link_window();
        IF v_person IS NOT NULL THEN
            v_origin := 'anonymous_merge';
        END IF;
    END IF;
    IF v_person IS NOT NULL AND now() - p_timestamp <= trackd_trigger_window() THEN
        v_eligible := now();
    END IF;
    INSERT INTO events (workspace_id, person_id, anonymous_id, message_id, type, name,
                        properties, context, "timestamp", received_at, origin, eligible_at)
    VALUES (p_workspace, v_person, p_anonymous_id, p_message_id, p_type, p_name,
            p_properties, p_context, p_timestamp, p_received, v_origin, v_eligible)
    RETURNING id INTO v_event;
    IF v_eligible IS NOT NULL AND trackd_has_candidate_rules(p_workspace, p_name, p_type) THEN
        INSERT INTO pending_evaluations (event_id, workspace_id) VALUES (v_event, p_workspace);
    END IF;
    RETURN CASE WHEN v_link = 'refused' THEN 'stored;link_refused' ELSE 'stored' END;
END
$$;
COMMENT ON FUNCTION trackd_ingest_event(bigint, text, text, text, text, text, text, jsonb, jsonb, timestamptz, timestamptz)
    IS 'Stores one event for its person (created if new) or anonymously, linking anonymous ids; see the comment above it.';
