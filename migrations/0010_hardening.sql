-- 0010: what a stranger could learn or fill. Random cio_ids and environment ids instead of
-- numbers derived from internal ids; delivery metrics kept once per delivery and kind (repeats
-- counted), never for an unknown delivery; refused requests kept for a bounded time.

-- A random cio_id for a new person: 20 hex digits of gen_random_uuid() (74 random bits; the
-- uuid's version digit is among them). Customer.io's cio_ids are opaque too. People who have one
-- keep it: cio_ids never change. The argument is no longer used; it stays so that the functions
-- that call this one need not change.
CREATE OR REPLACE FUNCTION trackd_cio_id(p_person_id bigint) RETURNS text
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT left(replace(gen_random_uuid()::text, '-', ''), 20)
$$;
COMMENT ON FUNCTION trackd_cio_id(bigint) IS 'A new random cio_id (20 hex digits); the argument is ignored.';

-- What GET /api/v1/accounts/region reports as environment_id: a number, as Customer.io's is, but
-- random rather than the internal id (which would tell how many workspaces there are).
CREATE FUNCTION trackd_new_environment_id() RETURNS integer LANGUAGE sql VOLATILE AS $$
    SELECT 100000 + floor(random() * 2147000000)::integer
$$;
COMMENT ON FUNCTION trackd_new_environment_id() IS 'A new random workspaces.environment_id (100000 to 2147099999).';

ALTER TABLE workspaces ADD COLUMN environment_id integer NOT NULL DEFAULT trackd_new_environment_id();
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

-- Records one delivery metric and marks the delivery it reports on. The delivery is found by
-- public_id; by its numeric id only when the caller is authenticated (p_workspace not NULL) and
-- the delivery belongs to that workspace. A report naming no delivery is dropped ('not_found'),
-- whoever sends it, so that nobody can fill delivery_metrics. The first report of each kind is
-- kept (and sets the delivery's delivered_at, opened_at, ...); a repeat adds one to its repeats
-- ('repeat'). Client clocks are clamped: never before the send, never more than 5 minutes after
-- receipt. Returns 'recorded', 'repeat' or 'not_found'.
CREATE OR REPLACE FUNCTION trackd_record_metric(p_workspace bigint, p_delivery_id text, p_metric text,
                                                p_device_token text, p_recipient text, p_reason text,
                                                p_href text, p_occurred timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_delivery bigint;
    v_workspace bigint;
    v_sent timestamptz;
    v_received timestamptz := coalesce(p_received, now());
    v_occurred timestamptz := coalesce(p_occurred, p_received, now());
    v_inserted bigint;
BEGIN
    SELECT id, workspace_id, coalesce(sent_at, created_at) INTO v_delivery, v_workspace, v_sent
    FROM deliveries WHERE public_id = p_delivery_id;
    IF v_delivery IS NULL AND p_workspace IS NOT NULL AND p_delivery_id ~ '^[0-9]{1,18}$' THEN
        SELECT id, workspace_id, coalesce(sent_at, created_at) INTO v_delivery, v_workspace, v_sent
        FROM deliveries WHERE id = p_delivery_id::bigint AND workspace_id = p_workspace;
    END IF;
    IF v_delivery IS NULL THEN
        RETURN 'not_found';
    END IF;
    v_occurred := least(greatest(v_occurred, v_sent), v_received + interval '5 minutes');
    INSERT INTO delivery_metrics (workspace_id, delivery_id, delivery_ref, metric, device_token,
                                  recipient, reason, href, occurred_at, received_at)
    VALUES (v_workspace, p_delivery_id, v_delivery, p_metric, p_device_token, p_recipient,
            p_reason, p_href, v_occurred, v_received)
    ON CONFLICT (workspace_id, delivery_ref, metric) DO NOTHING
    RETURNING id INTO v_inserted;
    IF v_inserted IS NULL THEN
        UPDATE delivery_metrics SET repeats = repeats + 1
        WHERE workspace_id = v_workspace AND delivery_ref = v_delivery AND metric = p_metric;
        RETURN 'repeat';
    END IF;
    UPDATE deliveries
    SET delivered_at = CASE WHEN p_metric = 'delivered' THEN coalesce(delivered_at, v_occurred) ELSE delivered_at END,
        opened_at = CASE WHEN p_metric = 'opened' THEN coalesce(opened_at, v_occurred) ELSE opened_at END,
        clicked_at = CASE WHEN p_metric = 'clicked' THEN coalesce(clicked_at, v_occurred) ELSE clicked_at END,
        converted_at = CASE WHEN p_metric = 'converted' THEN coalesce(converted_at, v_occurred) ELSE converted_at END
    WHERE id = v_delivery;
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_record_metric(bigint, text, text, text, text, text, text, timestamptz, timestamptz) IS 'Records the first delivery metric of each kind for a delivery found by public id (or numeric id, for its own workspace), counting repeats; see the comment above it.';

-- Deletes one bounded batch of refused requests received more than p_days days ago; returns how
-- many (the retention job calls it until it returns less than the batch).
CREATE FUNCTION trackd_purge_rejections(p_days integer, p_batch integer)
RETURNS integer LANGUAGE sql AS $$
    WITH old AS (
        SELECT id FROM rejected_requests
        WHERE received_at < now() - p_days * interval '1 day'
        ORDER BY id LIMIT p_batch
    ), gone AS (
        DELETE FROM rejected_requests r USING old WHERE r.id = old.id RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION trackd_purge_rejections(integer, integer) IS 'Deletes up to p_batch rejected_requests older than p_days days; returns how many.';
CREATE INDEX rejected_requests_received_idx ON rejected_requests (received_at);
