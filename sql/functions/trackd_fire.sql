-- Records that `p_rule` fired for event `p_event` of `p_person`, in the caller's transaction
-- (the evaluation's). Frequency: 'every_time' (once per event), 'once' (once per person, by a
-- unique key), 'at_most_every' (not again within p_interval).
-- A rule with one action writes its deliveries (trackd_write_deliveries), due after p_delay;
-- a journey (p_action NULL) starts a run before its first step, due after p_delay; the run keeps
-- p_trigger ({"name", "properties"}) for its steps, and knows already the events it asks about
-- that the person did after the trigger and that an evaluation in another transaction may
-- have met before this run existed (the evaluations of two workers overlap).
-- With p_window_timezone (the default time zone; given for a rule with a send window), the
-- deliveries are due at the window's next opening in the person's time zone if the delay ends
-- outside it, so that a broadcast outside its window is not claimed only to be put back.
-- Returns 'fired' or 'frequency' (held back by the frequency).
CREATE OR REPLACE FUNCTION trackd_fire(p_workspace bigint, p_rule bigint, p_person bigint, p_event bigint,
                            p_frequency text, p_interval interval, p_delay interval,
                            p_action jsonb, p_window_timezone text, p_trigger jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_firing bigint;
    v_due timestamptz := now() + p_delay;
BEGIN
    IF p_window_timezone IS NOT NULL AND p_action IS NOT NULL THEN
        v_due := coalesce(trackd_due_in_window(p_rule, p_person, v_due, p_window_timezone), v_due);
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
    IF p_action IS NULL THEN
        INSERT INTO journey_runs (workspace_id, rule_id, firing_id, person_id, event_id,
                                  trigger_event, due_at, done_events)
        SELECT p_workspace, p_rule, v_firing, p_person, p_event, coalesce(p_trigger, '{}'::jsonb),
               now() + p_delay,
               ARRAY(SELECT DISTINCT e.name FROM events e
                     WHERE e.person_id = p_person AND e.id > p_event
                       AND e."timestamp" >= now() - trackd_trigger_window()
                       AND e.name = ANY (r.watch_events))
        FROM rules r WHERE r.id = p_rule;
    ELSE
        PERFORM trackd_write_deliveries(p_workspace, p_rule, v_firing, p_person, p_event,
                                        p_action, v_due);
    END IF;
    RETURN 'fired';
END
$$;
COMMENT ON FUNCTION trackd_fire(bigint, bigint, bigint, bigint, text, interval, interval, jsonb, text, jsonb) IS 'Records a firing and its deliveries, or starts a journey run; see the comment above it.';
