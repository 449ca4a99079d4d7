-- Customer.io's POST /unsubscribe/{delivery_id}: sets the `unsubscribed` attribute of the
-- person the delivery went to (p_unsubscribe false resubscribes), and, on unsubscribing,
-- records the delivery's `unsubscribed` metric, so that the unsubscribe is attributed to the
-- message that caused it. The delivery is found as trackd_record_metric finds it: by public_id,
-- or by number for an authenticated caller of its workspace; none found is dropped
-- ('not_found'), whoever sends it.
-- An email's link sends the signed token instead (trackd_unsubscribe_token: public id, '.',
-- signature): it finds its delivery only when the signature is the database's own. An email's
-- delivery is found only so: its public id alone, should it leak, changes nothing.
-- p_unsubscribe NULL changes nothing: 'found' says the delivery is found (the page of a link).
-- Returns 'updated', 'found' or 'not_found'.
CREATE OR REPLACE FUNCTION trackd_unsubscribe(p_workspace bigint, p_delivery_id text,
                                              p_unsubscribe boolean, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
    v_delivery text := p_delivery_id;
BEGIN
    IF position('.' IN p_delivery_id) > 0 THEN
        v_delivery := split_part(p_delivery_id, '.', 1);
        IF trackd_unsubscribe_token(v_delivery) IS DISTINCT FROM p_delivery_id THEN
            RETURN 'not_found';
        END IF;
    END IF;
    SELECT person_id INTO v_person FROM deliveries
    WHERE public_id = v_delivery AND (v_delivery <> p_delivery_id OR action->>'type' <> 'email');
    IF v_person IS NULL AND p_workspace IS NOT NULL AND v_delivery ~ '^[0-9]{1,18}$' THEN
        SELECT person_id INTO v_person
        FROM deliveries WHERE id = v_delivery::bigint AND workspace_id = p_workspace;
    END IF;
    IF v_person IS NULL THEN
        RETURN 'not_found';
    END IF;
    IF p_unsubscribe IS NULL THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM people WHERE id = v_person) THEN 'found'
                    ELSE 'not_found' END;
    END IF;
    UPDATE people SET attributes = attributes || jsonb_build_object('unsubscribed', p_unsubscribe),
                      updated_at = now()
    WHERE id = v_person;
    IF NOT FOUND THEN
        RETURN 'not_found'; -- deleted since
    END IF;
    IF p_unsubscribe THEN
        PERFORM trackd_record_metric(p_workspace, v_delivery, 'unsubscribed', NULL, NULL, NULL,
                                     NULL, p_received, p_received);
    END IF;
    RETURN 'updated';
END
$$;
COMMENT ON FUNCTION trackd_unsubscribe(bigint, text, boolean, timestamptz) IS 'Sets unsubscribed on the person a delivery went to (POST /unsubscribe/{delivery_id}, or an email''s signed link).';
