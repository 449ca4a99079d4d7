-- Writes the deliveries of a rule's one action, for trackd_fire: a push goes to every device of
-- the person (none gives one 'skipped' delivery), an email to action.to (none gives one
-- 'skipped' delivery), anything else once. (trackd_journey_send does the same for a batch of
-- journey steps.) Returns how many rows were written.
CREATE OR REPLACE FUNCTION trackd_write_deliveries(p_workspace bigint, p_rule bigint,
                                                   p_firing bigint, p_person bigint,
                                                   p_event bigint, p_action jsonb,
                                                   p_due timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_rows integer;
BEGIN
    IF p_action->>'type' = 'push' THEN
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, device_id,
                                action, next_attempt_at)
        SELECT p_workspace, p_rule, p_firing, p_person, p_event, d.id,
               p_action || jsonb_build_object('token', d.token), p_due
        FROM devices d WHERE d.person_id = p_person
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows > 0 THEN
            RETURN v_rows;
        END IF;
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                status, last_error)
        VALUES (p_workspace, p_rule, p_firing, p_person, p_event, p_action, 'skipped',
                'the person has no devices')
        ON CONFLICT DO NOTHING;
    ELSIF p_action->>'type' = 'email' AND coalesce(btrim(p_action->>'to'), '') = '' THEN
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                status, last_error)
        VALUES (p_workspace, p_rule, p_firing, p_person, p_event, p_action, 'skipped',
                'the person has no email address')
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                next_attempt_at)
        VALUES (p_workspace, p_rule, p_firing, p_person, p_event, p_action, p_due)
        ON CONFLICT DO NOTHING;
    END IF;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION trackd_write_deliveries(bigint, bigint, bigint, bigint, bigint, jsonb, timestamptz) IS 'Writes the deliveries of one action (per device for push); see the comment above it.';
