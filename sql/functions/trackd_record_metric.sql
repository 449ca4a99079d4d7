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
