DROP VIEW IF EXISTS admin_people_last_event;
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
