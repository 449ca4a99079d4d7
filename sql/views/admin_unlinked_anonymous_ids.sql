DROP VIEW IF EXISTS admin_unlinked_anonymous_ids;
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
