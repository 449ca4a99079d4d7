-- A journey's action step: writes the step's deliveries for the run, in the runner's
-- transaction (the one that moves the run past the step), due now or at the next opening of
-- the rule's send window. Returns how many rows were written.
CREATE OR REPLACE FUNCTION trackd_journey_send(p_run bigint, p_step integer, p_action jsonb,
                                               p_window_timezone text)
RETURNS integer LANGUAGE sql AS $$
    SELECT trackd_write_deliveries(j.workspace_id, j.rule_id, j.firing_id, j.person_id,
                                   j.event_id, j.id, p_step, p_action,
                                   coalesce(trackd_due_in_window(j.rule_id, j.person_id, now(),
                                                                 p_window_timezone), now()))
    FROM journey_runs j WHERE j.id = p_run
$$;
COMMENT ON FUNCTION trackd_journey_send(bigint, integer, jsonb, text) IS 'Writes the deliveries of a journey''s action step.';
