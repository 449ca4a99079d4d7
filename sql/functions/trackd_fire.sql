-- Records that `p_rule` fired for event `p_event` of `p_person` and writes its deliveries, in
-- the caller's transaction (the evaluation's). Frequency: 'every_time' (once per event), 'once'
-- (once per person, by a unique key), 'at_most_every' (not again within p_interval). Push fans
-- out to every device of the person; none gives one 'skipped' delivery.
-- With p_window_timezone (the default time zone; given for a rule with a send window), the
-- deliveries are due at the window's next opening in the person's time zone if the delay ends
-- outside it, so that a broadcast outside its window is not claimed only to be put back.
-- Returns 'fired' or 'frequency' (held back by the frequency).
CREATE OR REPLACE FUNCTION trackd_fire(p_workspace bigint, p_rule bigint, p_person bigint, p_event bigint,
                            p_frequency text, p_interval interval, p_delay interval,
                            p_action jsonb, p_window_timezone text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_firing bigint;
    v_due timestamptz := now() + p_delay;
    v_devices integer;
BEGIN
    IF p_window_timezone IS NOT NULL THEN
        SELECT coalesce(trackd_window_opening(r.definition->'send_window',
                                              p.attributes->>'timezone', p_window_timezone,
                                              v_due), v_due)
        INTO v_due
        FROM rules r, people p WHERE r.id = p_rule AND p.id = p_person;
        v_due := coalesce(v_due, now() + p_delay);
    END IF;
    IF p_frequency = 'at_most_every' THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_rule::text || ':' || p_person::text, 11));
        IF EXISTS (SELECT 1 FROM firings WHERE rule_id = p_rule AND person_id = p_person
                   AND fired_at > now() - p_interval) THEN
            RETURN 'frequency';
        END IF;
    END IF;
    INSERT INTO firings (workspace_id, rule_id, person_id, event_id, once_key)
    VALUES (p_workspace, p_rule, p_person, p_event,
            CASE WHEN p_frequency = 'once' THEN p_person END)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_firing;
    IF v_firing IS NULL THEN
        RETURN 'frequency';
    END IF;
    IF p_action->>'type' = 'push' THEN
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, device_id,
                                action, next_attempt_at)
        SELECT p_workspace, p_rule, v_firing, p_person, p_event, d.id,
               p_action || jsonb_build_object('token', d.token), v_due
        FROM devices d WHERE d.person_id = p_person;
        GET DIAGNOSTICS v_devices = ROW_COUNT;
        IF v_devices = 0 THEN
            INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                    status, last_error)
            VALUES (p_workspace, p_rule, v_firing, p_person, p_event, p_action, 'skipped',
                    'the person has no devices');
        END IF;
    ELSE
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                next_attempt_at)
        VALUES (p_workspace, p_rule, v_firing, p_person, p_event, p_action, v_due);
    END IF;
    RETURN 'fired';
END
$$;
COMMENT ON FUNCTION trackd_fire(bigint, bigint, bigint, bigint, text, interval, interval, jsonb, text) IS 'Records a firing and its deliveries; see the comment above it.';
