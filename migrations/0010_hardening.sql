-- 0010: what a stranger could learn or fill. Random cio_ids and environment ids instead of
-- numbers derived from internal ids; delivery metrics kept once per delivery and kind (repeats
-- counted), never for an unknown delivery; refused requests kept for a bounded time.

-- What GET /api/v1/accounts/region reports as environment_id: a number, as Customer.io's is, but
-- random rather than the internal id (which would tell how many workspaces there are).
ALTER TABLE workspaces ADD COLUMN environment_id integer NOT NULL
    DEFAULT 100000 + floor(random() * 2147000000)::integer;
CREATE UNIQUE INDEX workspaces_environment_id_key ON workspaces (environment_id);
COMMENT ON COLUMN workspaces.environment_id IS 'The environment_id GET /api/v1/accounts/region answers: random, not the internal id.';
COMMENT ON COLUMN workspaces.id IS 'Internal id (never shown to clients).';

-- One row per delivery and kind of metric: a repeat only counts.
ALTER TABLE delivery_metrics ADD COLUMN delivery_ref bigint;
ALTER TABLE delivery_metrics ADD COLUMN repeats integer NOT NULL DEFAULT 0;
UPDATE delivery_metrics m SET delivery_ref = d.id, workspace_id = d.workspace_id
FROM deliveries d WHERE d.public_id = m.delivery_id;
-- Rows of earlier versions that name no delivery, and second reports of a kind, go.
DELETE FROM delivery_metrics WHERE delivery_ref IS NULL;
DELETE FROM delivery_metrics m USING delivery_metrics k
WHERE m.delivery_ref = k.delivery_ref AND m.metric = k.metric AND m.id > k.id;
ALTER TABLE delivery_metrics ALTER COLUMN delivery_ref SET NOT NULL;
ALTER TABLE delivery_metrics ALTER COLUMN workspace_id SET NOT NULL;
-- With workspace_id first, as every unique key of a table that may be sharded by workspace.
CREATE UNIQUE INDEX delivery_metrics_delivery_metric_key
    ON delivery_metrics (workspace_id, delivery_ref, metric);
COMMENT ON TABLE delivery_metrics IS 'Delivery metrics reported by clients (/api/v1/metrics, /api/v1/push/events, /push/events, Report Delivery Event): the first report of each kind per delivery; later ones of that kind are counted in repeats. Reports naming no delivery are not kept.';
COMMENT ON COLUMN delivery_metrics.delivery_ref IS 'The delivery (deliveries.id) the report named.';
COMMENT ON COLUMN delivery_metrics.repeats IS 'How many more reports of this kind came for the delivery after the first.';
COMMENT ON COLUMN delivery_metrics.workspace_id IS 'The workspace of the delivery.';
COMMENT ON COLUMN delivery_metrics.delivery_id IS 'The delivery id as reported: a deliveries.public_id (pushes), or a deliveries.id (webhooks, with the workspace''s key).';
COMMENT ON COLUMN delivery_metrics.occurred_at IS 'When it happened: the client timestamp, clamped between the send (or, before it is recorded, the delivery''s creation) and 5 minutes after receipt.';

CREATE INDEX rejected_requests_received_idx ON rejected_requests (received_at);
