-- 0005: views for the questions admins ask most. Plain SQL over the tables; filter by
-- workspace_id or name as needed.

CREATE VIEW admin_events_per_day AS
SELECT e.workspace_id, date_trunc('day', e."timestamp") AS day, e.type, e.name, count(*) AS events
FROM events e
GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW admin_events_per_day IS 'Events per day (by event timestamp), type and name.';
COMMENT ON COLUMN admin_events_per_day.workspace_id IS 'The workspace.';
COMMENT ON COLUMN admin_events_per_day.day IS 'The day (UTC) the events happened.';
COMMENT ON COLUMN admin_events_per_day.type IS 'event, page or screen.';
COMMENT ON COLUMN admin_events_per_day.name IS 'Event name.';
COMMENT ON COLUMN admin_events_per_day.events IS 'How many.';

CREATE VIEW admin_people_last_event AS
SELECT p.id AS person_id, p.workspace_id, p.customer_id, p.email, p.created_at,
       last.name AS last_event, last."timestamp" AS last_event_at,
       (SELECT count(*) FROM events c WHERE c.person_id = p.id) AS events
FROM people p
LEFT JOIN LATERAL (SELECT e.name, e."timestamp" FROM events e WHERE e.person_id = p.id
                   ORDER BY e."timestamp" DESC LIMIT 1) AS last ON true;
COMMENT ON VIEW admin_people_last_event IS 'Each person with their most recent event and how many events they have.';
COMMENT ON COLUMN admin_people_last_event.person_id IS 'people.id.';
COMMENT ON COLUMN admin_people_last_event.workspace_id IS 'The workspace.';
COMMENT ON COLUMN admin_people_last_event.customer_id IS 'The client''s id for the person.';
COMMENT ON COLUMN admin_people_last_event.email IS 'The person''s email.';
COMMENT ON COLUMN admin_people_last_event.created_at IS 'When the person was first seen.';
COMMENT ON COLUMN admin_people_last_event.last_event IS 'Name of their latest event (by timestamp).';
COMMENT ON COLUMN admin_people_last_event.last_event_at IS 'Timestamp of their latest event.';
COMMENT ON COLUMN admin_people_last_event.events IS 'How many events they have.';

CREATE VIEW admin_unlinked_anonymous_ids AS
SELECT e.workspace_id, e.anonymous_id, count(*) AS events, min(e.received_at) AS first_received,
       max(e.received_at) AS last_received
FROM events e
WHERE e.person_id IS NULL AND e.anonymous_id IS NOT NULL
GROUP BY 1, 2;
COMMENT ON VIEW admin_unlinked_anonymous_ids IS 'Anonymous ids whose events never joined a person (purged after 30 days).';
COMMENT ON COLUMN admin_unlinked_anonymous_ids.workspace_id IS 'The workspace.';
COMMENT ON COLUMN admin_unlinked_anonymous_ids.anonymous_id IS 'The anonymous id.';
COMMENT ON COLUMN admin_unlinked_anonymous_ids.events IS 'Its events still anonymous.';
COMMENT ON COLUMN admin_unlinked_anonymous_ids.first_received IS 'When the first arrived.';
COMMENT ON COLUMN admin_unlinked_anonymous_ids.last_received IS 'When the last arrived.';

CREATE VIEW admin_rule_outcomes AS
SELECT r.workspace_id, r.name AS rule, r.enabled,
       (SELECT count(*) FROM firings f WHERE f.rule_id = r.id) AS firings,
       count(d.id) FILTER (WHERE d.status = 'sent') AS sent,
       count(d.id) FILTER (WHERE d.status IN ('scheduled', 'retrying')) AS pending,
       count(d.id) FILTER (WHERE d.status = 'dead') AS dead,
       count(d.id) FILTER (WHERE d.status = 'skipped') AS skipped,
       count(d.id) FILTER (WHERE d.status = 'cancelled') AS cancelled,
       count(d.opened_at) AS opened,
       count(d.clicked_at) AS clicked
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
COMMENT ON COLUMN admin_rule_outcomes.skipped IS 'Deliveries with nothing to send to (no device).';
COMMENT ON COLUMN admin_rule_outcomes.cancelled IS 'Deliveries cancelled because the person was deleted.';
COMMENT ON COLUMN admin_rule_outcomes.opened IS 'Deliveries reported opened.';
COMMENT ON COLUMN admin_rule_outcomes.clicked IS 'Deliveries reported clicked.';

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

CREATE VIEW admin_rejections_by_reason AS
SELECT rr.workspace_id, rr.endpoint, rr.reason, count(*) AS rejections,
       max(rr.received_at) AS last_received
FROM rejected_requests rr
GROUP BY 1, 2, 3;
COMMENT ON VIEW admin_rejections_by_reason IS 'Refused requests and batch items by endpoint and reason.';
COMMENT ON COLUMN admin_rejections_by_reason.workspace_id IS 'The workspace whose key sent them.';
COMMENT ON COLUMN admin_rejections_by_reason.endpoint IS 'The path they were sent to.';
COMMENT ON COLUMN admin_rejections_by_reason.reason IS 'invalid_json, invalid_field, item_too_large, ...';
COMMENT ON COLUMN admin_rejections_by_reason.rejections IS 'How many.';
COMMENT ON COLUMN admin_rejections_by_reason.last_received IS 'When the last arrived.';
