-- Views for the questions admins ask most: plain SQL over the tables; filter by workspace_id or
-- name as needed.
DROP VIEW IF EXISTS admin_events_per_day;
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
