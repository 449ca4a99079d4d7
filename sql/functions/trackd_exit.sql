-- A rule's exit_on event happened: what the rule still had pending for that person (scheduled
-- or retrying deliveries not being sent at this moment) is cancelled, marked with the time and
-- the event. Runs in the
-- evaluation's transaction. Returns how many were cancelled.
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
    )
    SELECT count(*)::integer FROM cancelled
$$;
COMMENT ON FUNCTION trackd_exit(bigint, bigint, text) IS 'Cancels what a rule has pending for a person who did one of its exit_on events.';
