DROP VIEW IF EXISTS admin_dead_deliveries;
CREATE VIEW admin_dead_deliveries AS
SELECT d.id AS delivery_id, d.workspace_id, r.name AS rule, p.customer_id, d.action->>'type' AS action,
       d.attempts, d.response_code, d.last_error, d.created_at
FROM deliveries d
LEFT JOIN rules r ON r.id = d.rule_id
LEFT JOIN people p ON p.id = d.person_id
WHERE d.status = 'dead';
COMMENT ON VIEW admin_dead_deliveries IS 'Deliveries that were given up, with why.';
COMMENT ON COLUMN admin_dead_deliveries.delivery_id IS 'deliveries.id.';
COMMENT ON COLUMN admin_dead_deliveries.workspace_id IS 'The workspace.';
COMMENT ON COLUMN admin_dead_deliveries.rule IS 'The rule that fired it.';
COMMENT ON COLUMN admin_dead_deliveries.customer_id IS 'The person it was for.';
COMMENT ON COLUMN admin_dead_deliveries.action IS 'push, webhook or set_attributes.';
COMMENT ON COLUMN admin_dead_deliveries.attempts IS 'Attempts made.';
COMMENT ON COLUMN admin_dead_deliveries.response_code IS 'HTTP status of the last attempt.';
COMMENT ON COLUMN admin_dead_deliveries.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN admin_dead_deliveries.created_at IS 'When the rule fired.';
