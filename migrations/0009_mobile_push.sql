-- 0009: pushes that Customer.io's mobile SDKs recognise, and metrics that land on the delivery.
-- Every delivery gets an unguessable public id: pushes carry it as CIO-Delivery-ID, the SDKs
-- report delivered/opened against it, and it is the only id a caller without credentials can
-- report against (a numeric id is easy to guess, so it counts only for the workspace's own key).

-- 16 random bytes (gen_random_uuid(): 122 of its 128 bits are random) as unpadded base64url,
-- 22 characters that need no escaping in a URL, a header or JSON.
CREATE FUNCTION trackd_new_public_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT translate(rtrim(encode(decode(replace(gen_random_uuid()::text, '-', ''), 'hex'),
                                  'base64'), '='), '+/', '-_')
$$;
COMMENT ON FUNCTION trackd_new_public_id() IS 'A new deliveries.public_id: 122 random bits (gen_random_uuid) as 22 base64url characters.';

-- A volatile default is evaluated per row, so existing deliveries each get their own id here.
ALTER TABLE deliveries ADD COLUMN public_id text NOT NULL DEFAULT trackd_new_public_id();
CREATE UNIQUE INDEX deliveries_public_id_key ON deliveries (public_id);
COMMENT ON COLUMN deliveries.public_id IS 'The unguessable id of the delivery: what pushes carry as CIO-Delivery-ID, and what metric routes accept from anyone (with or without credentials).';
COMMENT ON COLUMN deliveries.id IS 'The internal delivery id: Idempotency-Key and X-Trackd-Delivery of webhooks. Metrics name a delivery by it only with the credentials of its workspace; pushes carry public_id instead.';
COMMENT ON COLUMN deliveries.action IS 'What to send, templates already rendered: {"type":"push",title,body,data,link,image,token} (link and image optional) | {"type":"webhook",url,method,headers,body} | {"type":"set_attributes",attributes}.';

COMMENT ON COLUMN delivery_metrics.workspace_id IS 'The workspace of the delivery the metric matched; for an id that matches no delivery, the workspace whose key sent it (without credentials such metrics are not stored).';
COMMENT ON COLUMN delivery_metrics.delivery_id IS 'The delivery id as reported: a deliveries.public_id (pushes), a deliveries.id (webhooks, with the workspace''s key), or an id trackd does not know (kept only when sent with credentials).';
COMMENT ON COLUMN delivery_metrics.occurred_at IS 'When it happened: the client timestamp, else receipt; a timestamp more than 5 minutes ahead of receipt, or before the delivery was created, is replaced by the time of receipt.';

-- Records one delivery metric and marks the delivery it reports on (the first metric of each
-- kind wins). The delivery is found by public_id; by its numeric id only when the caller is
-- authenticated (p_workspace not NULL) and the delivery belongs to that workspace. A metric that
-- matches a delivery is recorded under the delivery's workspace. One that matches none is kept
-- under the caller's workspace, or dropped without credentials ('not_found'), so that strangers
-- cannot fill delivery_metrics. Returns 'recorded' or 'not_found'.
CREATE OR REPLACE FUNCTION trackd_record_metric(p_workspace bigint, p_delivery_id text, p_metric text,
                                                p_device_token text, p_recipient text, p_reason text,
                                                p_href text, p_occurred timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_delivery bigint;
    v_workspace bigint;
    v_created timestamptz;
    v_received timestamptz := coalesce(p_received, now());
    v_occurred timestamptz := coalesce(p_occurred, p_received, now());
BEGIN
    SELECT id, workspace_id, created_at INTO v_delivery, v_workspace, v_created
    FROM deliveries WHERE public_id = p_delivery_id;
    IF v_delivery IS NULL AND p_workspace IS NOT NULL AND p_delivery_id ~ '^[0-9]{1,18}$' THEN
        SELECT id, workspace_id, created_at INTO v_delivery, v_workspace, v_created
        FROM deliveries WHERE id = p_delivery_id::bigint AND workspace_id = p_workspace;
    END IF;
    IF v_delivery IS NULL AND p_workspace IS NULL THEN
        RETURN 'not_found';
    END IF;
    -- Client clocks are not trusted to move a metric into the future or before the send.
    IF v_occurred > v_received + interval '5 minutes' OR v_occurred < v_created THEN
        v_occurred := v_received;
    END IF;
    INSERT INTO delivery_metrics (workspace_id, delivery_id, metric, device_token, recipient,
                                  reason, href, occurred_at, received_at)
    VALUES (coalesce(v_workspace, p_workspace), p_delivery_id, p_metric, p_device_token,
            p_recipient, p_reason, p_href, v_occurred, v_received);
    IF v_delivery IS NOT NULL THEN
        UPDATE deliveries
        SET delivered_at = CASE WHEN p_metric = 'delivered' THEN coalesce(delivered_at, v_occurred) ELSE delivered_at END,
            opened_at = CASE WHEN p_metric = 'opened' THEN coalesce(opened_at, v_occurred) ELSE opened_at END,
            clicked_at = CASE WHEN p_metric = 'clicked' THEN coalesce(clicked_at, v_occurred) ELSE clicked_at END,
            converted_at = CASE WHEN p_metric = 'converted' THEN coalesce(converted_at, v_occurred) ELSE converted_at END
        WHERE id = v_delivery;
    END IF;
    RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION trackd_record_metric(bigint, text, text, text, text, text, text, timestamptz, timestamptz) IS 'Records one delivery metric against the delivery with that public id (or numeric id, for its own workspace); see the comment above it.';

-- Columns can only be appended to a view that is replaced: delivered and converted come last.
CREATE OR REPLACE VIEW admin_rule_outcomes AS
SELECT r.workspace_id, r.name AS rule, r.enabled,
       (SELECT count(*) FROM firings f WHERE f.rule_id = r.id) AS firings,
       count(d.id) FILTER (WHERE d.status = 'sent') AS sent,
       count(d.id) FILTER (WHERE d.status IN ('scheduled', 'retrying')) AS pending,
       count(d.id) FILTER (WHERE d.status = 'dead') AS dead,
       count(d.id) FILTER (WHERE d.status = 'skipped') AS skipped,
       count(d.id) FILTER (WHERE d.status = 'cancelled') AS cancelled,
       count(d.opened_at) AS opened,
       count(d.clicked_at) AS clicked,
       count(d.delivered_at) AS delivered,
       count(d.converted_at) AS converted
FROM rules r
LEFT JOIN deliveries d ON d.rule_id = r.id
GROUP BY r.id;
COMMENT ON COLUMN admin_rule_outcomes.delivered IS 'Deliveries reported delivered (pushes: by the app, through the SDK).';
COMMENT ON COLUMN admin_rule_outcomes.converted IS 'Deliveries reported converted.';
