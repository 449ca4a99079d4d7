DROP VIEW IF EXISTS admin_journey_steps;
CREATE VIEW admin_journey_steps AS
SELECT r.workspace_id, r.name AS rule, j.step, j.step_path,
       count(*) FILTER (WHERE j.status = 'active') AS active,
       count(*) FILTER (WHERE j.status = 'active' AND j.waiting_for IS NOT NULL) AS waiting_for_event,
       count(*) FILTER (WHERE j.status = 'completed') AS completed,
       count(*) FILTER (WHERE j.status = 'exited') AS exited,
       count(*) FILTER (WHERE j.status = 'cancelled') AS cancelled,
       count(j.converted_at) AS converted
FROM journey_runs j
JOIN rules r ON r.id = j.rule_id
GROUP BY r.workspace_id, r.name, j.step, j.step_path;
COMMENT ON VIEW admin_journey_steps IS 'Per journey and step: how many people are at it, and how many runs ended there (completed at the last step they passed, exited, cancelled) or converted.';
COMMENT ON COLUMN admin_journey_steps.workspace_id IS 'The workspace.';
COMMENT ON COLUMN admin_journey_steps.rule IS 'The rule''s name.';
COMMENT ON COLUMN admin_journey_steps.step IS 'The step''s number (depth first through the steps and their branches).';
COMMENT ON COLUMN admin_journey_steps.step_path IS 'The step as written: steps[1], steps[2].then[0]; "start" before the first (the rule''s delay), "end" past the last.';
COMMENT ON COLUMN admin_journey_steps.active IS 'People at this step now (waiting, or about to move on).';
COMMENT ON COLUMN admin_journey_steps.waiting_for_event IS 'Of those, people at a wait_until step waiting for its event.';
COMMENT ON COLUMN admin_journey_steps.completed IS 'Runs that went past the last step (counted under step "end").';
COMMENT ON COLUMN admin_journey_steps.exited IS 'Runs that ended at this step: an exit_on event, or the rule changed so that the step is gone.';
COMMENT ON COLUMN admin_journey_steps.cancelled IS 'Runs that ended at this step because the person was deleted.';
COMMENT ON COLUMN admin_journey_steps.converted IS 'Runs at or ended at this step that met the rule''s goal.';
