-- The person did an event the journey of p_rule asks about (a wait_until step, a branch's
-- journey.done): their active runs of it remember it, and one waiting for it moves on now.
-- Only runs started by an earlier event count it (ids follow arrival): the run p_event itself
-- started, or one started by a later event (an anonymous event linked and evaluated late),
-- is left alone.
-- Runs in the evaluation's transaction. Returns how many runs it touched.
CREATE OR REPLACE FUNCTION trackd_journey_event(p_rule bigint, p_person bigint, p_event bigint, p_event_name text)
RETURNS integer LANGUAGE sql AS $$
    WITH touched AS (
        UPDATE journey_runs
        SET done_events = CASE WHEN p_event_name = ANY (done_events) THEN done_events
                               ELSE done_events || p_event_name END,
            due_at = CASE WHEN waiting_for = p_event_name THEN now() ELSE due_at END,
            waiting_for = CASE WHEN waiting_for = p_event_name THEN NULL ELSE waiting_for END
        WHERE rule_id = p_rule AND person_id = p_person AND status = 'active' AND event_id < p_event
        RETURNING 1
    )
    SELECT count(*)::integer FROM touched
$$;
COMMENT ON FUNCTION trackd_journey_event(bigint, bigint, bigint, text) IS 'Records an event a journey asks about on the person''s active runs; see the comment above it.';
