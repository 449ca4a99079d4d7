-- Whether an event should wait for evaluation: it belongs to a person, may trigger, and some
-- enabled rule of its workspace names it, as its trigger or in its exit_on or goal.
CREATE OR REPLACE FUNCTION trackd_has_candidate_rules(p_workspace bigint, p_name text, p_type text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    -- Two tests, each answered by an index of its own (rules_trigger_idx, rules_watch_idx).
    SELECT EXISTS (SELECT 1 FROM rules WHERE workspace_id = p_workspace AND enabled
                   AND trigger_event = p_name AND trigger_type = p_type)
        OR (p_type = 'event'
            AND EXISTS (SELECT 1 FROM rules WHERE workspace_id = p_workspace AND enabled
                        AND watch_events <> '{}' AND p_name = ANY (watch_events)))
$$;
COMMENT ON FUNCTION trackd_has_candidate_rules(bigint, text, text) IS 'True when an enabled rule of the workspace is triggered by this event name and type, or watches it (exit_on, goal).';
