-- A rule's goal event happened: the deliveries of that rule sent to the person within p_within
-- before the event (by the event's timestamp) count as converted by it, unless already
-- converted; so do the person's journeys through it that started within p_within before it.
-- Runs in the evaluation's transaction. Returns how many deliveries and runs were marked.
CREATE OR REPLACE FUNCTION trackd_convert(p_rule bigint, p_person bigint, p_event bigint,
                                          p_within interval)
RETURNS integer LANGUAGE sql AS $$
    WITH goal AS (
        SELECT coalesce((SELECT "timestamp" FROM events WHERE id = p_event), now()) AS at
    ), converted AS (
        UPDATE deliveries d SET converted_at = goal.at
        FROM goal
        WHERE d.rule_id = p_rule AND d.person_id = p_person AND d.status = 'sent'
          AND d.converted_at IS NULL
          AND d.sent_at <= goal.at AND d.sent_at >= goal.at - p_within
        RETURNING 1
    ), runs AS (
        UPDATE journey_runs j SET converted_at = goal.at
        FROM goal
        WHERE j.rule_id = p_rule AND j.person_id = p_person AND j.converted_at IS NULL
          AND j.started_at <= goal.at AND j.started_at >= goal.at - p_within
        RETURNING 1
    )
    SELECT ((SELECT count(*) FROM converted) + (SELECT count(*) FROM runs))::integer
$$;
COMMENT ON FUNCTION trackd_convert(bigint, bigint, bigint, interval) IS 'Marks converted the deliveries of a rule sent to a person within its goal''s window before the goal event.';
