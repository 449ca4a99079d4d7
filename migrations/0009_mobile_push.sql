-- 0009: pushes that Customer.io's mobile SDKs recognise, and metrics that land on the delivery.
-- Every delivery gets an unguessable public id: pushes carry it as CIO-Delivery-ID, the SDKs
-- report delivered/opened against it, and it is the only id a caller without credentials can
-- report against (a numeric id is easy to guess, so it counts only for the workspace's own key).

-- 16 random bytes (gen_random_uuid(): 122 of its 128 bits are random) as unpadded base64url,
-- 22 characters that need no escaping in a URL, a header or JSON. A volatile default is
-- evaluated per row, so existing deliveries each get their own id here.
ALTER TABLE deliveries ADD COLUMN public_id text NOT NULL
    DEFAULT translate(rtrim(encode(decode(replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64'), '='), '+/', '-_');
CREATE UNIQUE INDEX deliveries_public_id_key ON deliveries (public_id);
COMMENT ON COLUMN deliveries.public_id IS 'The unguessable id of the delivery: what pushes carry as CIO-Delivery-ID, and what metric routes accept from anyone (with or without credentials).';
COMMENT ON COLUMN deliveries.id IS 'The internal delivery id: Idempotency-Key and X-Trackd-Delivery of webhooks. Metrics name a delivery by it only with the credentials of its workspace; pushes carry public_id instead.';
COMMENT ON COLUMN deliveries.action IS 'What to send, templates already rendered: {"type":"push",title,body,data,link,image,token} (link and image optional) | {"type":"webhook",url,method,headers,body} | {"type":"set_attributes",attributes}.';

COMMENT ON COLUMN delivery_metrics.workspace_id IS 'The workspace of the delivery the metric matched; for an id that matches no delivery, the workspace whose key sent it (without credentials such metrics are not stored).';
COMMENT ON COLUMN delivery_metrics.delivery_id IS 'The delivery id as reported: a deliveries.public_id (pushes), a deliveries.id (webhooks, with the workspace''s key), or an id trackd does not know (kept only when sent with credentials).';
COMMENT ON COLUMN delivery_metrics.occurred_at IS 'When it happened: the client timestamp, else receipt; a timestamp more than 5 minutes ahead of receipt, or before the delivery was created, is replaced by the time of receipt.';
