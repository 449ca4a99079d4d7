-- Customer.io's POST /unsubscribe/{delivery_id}: sets the `unsubscribed` attribute of the
-- person the delivery went to (p_unsubscribe false resubscribes), and, on unsubscribing,
-- records the delivery's `unsubscribed` metric, so that the unsubscribe is attributed to the
-- message that caused it. The delivery is found as trackd_record_metric finds it: by public_id,
-- or by number for an authenticated caller of its workspace; none found is dropped
-- ('not_found'), whoever sends it. Returns 'updated' or 'not_found'.
CREATE OR REPLACE FUNCTION trackd_unsubscribe(p_workspace bigint, p_delivery_id text,
                                              p_unsubscribe boolean, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
BEGIN
    SELECT person_id INTO v_person FROM deliveries WHERE public_id = p_delivery_id;
    IF v_person IS NULL AND p_workspace IS NOT NULL AND p_delivery_id ~ '^[0-9]{1,18}$' THEN
        SELECT person_id INTO v_person
        FROM deliveries WHERE id = p_delivery_id::bigint AND workspace_id = p_workspace;
    END IF;
    IF v_person IS NULL THEN
        RETURN 'not_found';
    END IF;
    UPDATE people SET attributes = attributes || jsonb_build_object('unsubscribed', p_unsubscribe),
                      updated_at = now()
    WHERE id = v_person;
    IF NOT FOUND THEN
        RETURN 'not_found'; -- deleted since
    END IF;
    IF p_unsubscribe THEN
        PERFORM trackd_record_metric(p_workspace, p_delivery_id, 'unsubscribed', NULL, NULL, NULL,
                                     NULL, p_received, p_received);
    END IF;
    RETURN 'updated';
END
$$;
COMMENT ON FUNCTION trackd_unsubscribe(bigint, text, boolean, timestamptz) IS 'Sets unsubscribed on the person a delivery went to (POST /unsubscribe/{delivery_id}).';
