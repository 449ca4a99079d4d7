DROP VIEW IF EXISTS admin_rule_outcomes;
CREATE VIEW admin_rule_outcomes AS
SELECT r.workspace_id, r.name AS rule, r.enabled,
       (SELECT count(*) FROM firings f WHERE f.rule_id = r.id) AS firings,
       count(d.id) FILTER (WHERE d.status = 'sent') AS sent,
       count(d.id) FILTER (WHERE d.status IN ('scheduled', 'retrying')) AS pending,
       count(d.id) FILTER (WHERE d.status = 'dead') AS dead,
       count(d.id) FILTER (WHERE d.status = 'skipped') AS skipped,
       count(d.id) FILTER (WHERE d.status = 'cancelled') AS cancelled,
       count(d.exited_at) AS exited,
       count(d.opened_at) AS opened,
       count(d.clicked_at) AS clicked,
       count(d.delivered_at) AS delivered,
       count(d.converted_at) AS converted
FROM rules r
LEFT JOIN deliveries d ON d.rule_id = r.id
GROUP BY r.id;
COMMENT ON VIEW admin_rule_outcomes IS 'Per rule: how often it fired and what became of its deliveries.';
COMMENT ON COLUMN admin_rule_outcomes.workspace_id IS 'The workspace.';
COMMENT ON COLUMN admin_rule_outcomes.rule IS 'The rule''s name.';
COMMENT ON COLUMN admin_rule_outcomes.enabled IS 'Whether it is evaluated.';
COMMENT ON COLUMN admin_rule_outcomes.firings IS 'Times it fired.';
COMMENT ON COLUMN admin_rule_outcomes.sent IS 'Deliveries sent.';
COMMENT ON COLUMN admin_rule_outcomes.pending IS 'Deliveries scheduled or retrying.';
COMMENT ON COLUMN admin_rule_outcomes.dead IS 'Deliveries given up (see admin_dead_deliveries).';
COMMENT ON COLUMN admin_rule_outcomes.skipped IS 'Deliveries not sent on purpose: a push for a person without devices, or for one who unsubscribed (last_error says which).';
COMMENT ON COLUMN admin_rule_outcomes.cancelled IS 'Deliveries cancelled: the person was deleted, or did an exit_on event (counted in exited too).';
COMMENT ON COLUMN admin_rule_outcomes.exited IS 'Deliveries cancelled because the person did one of the rule''s exit_on events.';
COMMENT ON COLUMN admin_rule_outcomes.opened IS 'Deliveries reported opened.';
COMMENT ON COLUMN admin_rule_outcomes.clicked IS 'Deliveries reported clicked.';
COMMENT ON COLUMN admin_rule_outcomes.delivered IS 'Deliveries reported delivered (pushes: by the app, through the SDK).';
COMMENT ON COLUMN admin_rule_outcomes.converted IS 'Deliveries converted: reported so (a converted metric), or followed by the rule''s goal event within its window.';
