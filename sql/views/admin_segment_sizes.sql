DROP VIEW IF EXISTS admin_segment_sizes;
CREATE VIEW admin_segment_sizes AS
SELECT s.workspace_id, s.segment_id, count(m.person_id) AS members, s.created_at, s.updated_at
FROM segments s
LEFT JOIN segment_members m ON m.workspace_id = s.workspace_id AND m.segment_id = s.segment_id
GROUP BY s.workspace_id, s.segment_id;
COMMENT ON VIEW admin_segment_sizes IS 'Per manual segment: how many people are in it.';
COMMENT ON COLUMN admin_segment_sizes.workspace_id IS 'The workspace.';
COMMENT ON COLUMN admin_segment_sizes.segment_id IS 'The segment''s number.';
COMMENT ON COLUMN admin_segment_sizes.members IS 'People in it now.';
COMMENT ON COLUMN admin_segment_sizes.created_at IS 'When the first add_customers call named it.';
COMMENT ON COLUMN admin_segment_sizes.updated_at IS 'When a call last named it.';
