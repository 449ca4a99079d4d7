-- A rule's exit_on event happened: what the rule still had pending for that person (scheduled
-- or retrying deliveries not being sent at this moment) is cancelled, marked with the time and
-- the event, and the person's journeys through it end (status exited). Runs in the
-- evaluation's transaction. Returns how many deliveries and runs it ended.
CREATE OR REPLACE FUNCTION trackd_exit(p_rule bigint, p_person bigint, p_event_name text)
RETURNS integer LANGUAGE sql AS $$
    WITH cancelled AS (
        UPDATE deliveries
        SET status = 'cancelled', exited_at = now(), lease_until = NULL,
            last_error = 'exited: the person did ' || left(p_event_name, 100)
        WHERE rule_id = p_rule AND person_id = p_person AND status IN ('scheduled', 'retrying')
          -- One a worker is sending right now goes out: cancelling it would leave it sent but
          -- never marked so.
          AND (lease_until IS NULL OR lease_until < now())
        RETURNING 1
    ), exited AS (
        UPDATE journey_runs
        SET status = 'exited', ended_at = now(), due_at = NULL, waiting_for = NULL,
            updated_at = now(), end_reason = 'the person did ' || left(p_event_name, 100)
        WHERE rule_id = p_rule AND person_id = p_person AND status = 'active'
        RETURNING 1
    )
    SELECT ((SELECT count(*) FROM cancelled) + (SELECT count(*) FROM exited))::integer
$$;
COMMENT ON FUNCTION trackd_exit(bigint, bigint, text) IS 'Cancels what a rule has pending for a person who did one of its exit_on events.';
