-- A rule's exit_on event happened: what the rule still had pending for that person (scheduled
-- or retrying deliveries not being sent at this moment) is cancelled, marked with the time and
-- the event, and the person's journeys through it end (status exited). Runs in the
-- evaluation's transaction. Returns how many deliveries and runs it ended.
-- The runs go first: their update waits for a journey runner moving one of them, and the
-- deliveries are then cancelled by a statement of their own, whose snapshot sees what that
-- runner wrote (one statement would miss them).
CREATE OR REPLACE FUNCTION trackd_exit(p_rule bigint, p_person bigint, p_event_name text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_runs integer;
    v_deliveries integer;
BEGIN
    UPDATE journey_runs
    SET status = 'exited', ended_at = now(), due_at = NULL, waiting_for = NULL,
        updated_at = now(), end_reason = 'the person did ' || left(p_event_name, 100)
    WHERE rule_id = p_rule AND person_id = p_person AND status = 'active';
    GET DIAGNOSTICS v_runs = ROW_COUNT;
    UPDATE deliveries
    SET status = 'cancelled', exited_at = now(), lease_until = NULL,
        last_error = 'exited: the person did ' || left(p_event_name, 100)
    WHERE rule_id = p_rule AND person_id = p_person AND status IN ('scheduled', 'retrying')
      -- One a worker is sending right now goes out: cancelling it would leave it sent but
      -- never marked so.
      AND (lease_until IS NULL OR lease_until < now());
    GET DIAGNOSTICS v_deliveries = ROW_COUNT;
    RETURN v_runs + v_deliveries;
END
$$;
COMMENT ON FUNCTION trackd_exit(bigint, bigint, text) IS 'Ends a person''s journeys through a rule and cancels what it has pending for them (one of its exit_on events).';
