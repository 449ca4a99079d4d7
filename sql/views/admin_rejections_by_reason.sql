DROP VIEW IF EXISTS admin_rejections_by_reason;
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
