-- The action steps that a journey runner's batch reached: writes their deliveries, set-based,
-- in the runner's transaction (the one that moves the runs past those steps). Element i of the
-- arrays is one step: the run, the step's number, the rendered action. As
-- trackd_write_deliveries does for one action: a push goes to every device of the person (none
-- gives one 'skipped' delivery), an email without an address is 'skipped', anything else is
-- written once; each due now, or at the next opening of the rule's send window in the
-- person's time zone (p_window_timezone for those without one). A step already written (it
-- never is twice) writes nothing. Returns how many rows were written.
CREATE OR REPLACE FUNCTION trackd_journey_send(p_runs bigint[], p_steps integer[],
                                               p_actions jsonb[], p_window_timezone text)
RETURNS integer LANGUAGE sql AS $$
    WITH steps AS (
        SELECT j.workspace_id, j.rule_id, j.firing_id, j.person_id, j.event_id, j.id AS run,
               x.step, x.action,
               CASE WHEN r.definition ? 'send_window'
                    THEN coalesce(trackd_window_opening(r.definition->'send_window',
                                                       p.attributes->>'timezone',
                                                       p_window_timezone, now()), now())
                    ELSE now() END AS due,
               CASE WHEN x.action->>'type' = 'push'
                         AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.person_id = j.person_id)
                        THEN 'the person has no devices'
                    WHEN x.action->>'type' = 'email' AND coalesce(btrim(x.action->>'to'), '') = ''
                        THEN 'the person has no email address'
               END AS skip_reason
        FROM unnest(p_runs, p_steps, p_actions) AS x (run, step, action)
        JOIN journey_runs j ON j.id = x.run
        JOIN rules r ON r.id = j.rule_id
        LEFT JOIN people p ON p.id = j.person_id
    ), pushes AS (
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, device_id,
                                action, next_attempt_at, journey_run_id, step)
        SELECT s.workspace_id, s.rule_id, s.firing_id, s.person_id, s.event_id, d.id,
               s.action || jsonb_build_object('token', d.token), s.due, s.run, s.step
        FROM steps s JOIN devices d ON d.person_id = s.person_id
        WHERE s.action->>'type' = 'push' AND s.skip_reason IS NULL
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), skipped AS (
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                status, last_error, journey_run_id, step)
        SELECT s.workspace_id, s.rule_id, s.firing_id, s.person_id, s.event_id, s.action,
               'skipped', s.skip_reason, s.run, s.step
        FROM steps s WHERE s.skip_reason IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), others AS (
        INSERT INTO deliveries (workspace_id, rule_id, firing_id, person_id, event_id, action,
                                next_attempt_at, journey_run_id, step)
        SELECT s.workspace_id, s.rule_id, s.firing_id, s.person_id, s.event_id, s.action, s.due,
               s.run, s.step
        FROM steps s WHERE s.action->>'type' <> 'push' AND s.skip_reason IS NULL
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT ((SELECT count(*) FROM pushes) + (SELECT count(*) FROM skipped) +
            (SELECT count(*) FROM others))::integer
$$;
COMMENT ON FUNCTION trackd_journey_send(bigint[], integer[], jsonb[], text) IS 'Writes the deliveries of a journey runner''s batch of action steps; see the comment above it.';
