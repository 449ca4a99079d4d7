-- Identify (Customer.io's rules, reference §1.4). The person is addressed by (p_person_type,
-- p_person); p_body_id and p_email are identifiers sent among the attributes.
--  * Found by the address: update. A body identifier belonging to someone else is a conflict.
--  * Not found (and the address is an id or email): a person matching a body identifier is
--    updated and given the address as identifier; two different matches are a conflict.
--  * A person who has an id gets a different one only when addressed by cio_id.
--  * Nobody matches: created, unless p_update_only ('skipped') or an identifier is suppressed.
--  * Unknown cio_id: 'not_found' (the call is dropped).
-- Attributes: p_set added, p_unset removed (when p_dotted, some are dotted
-- cio_subscription_preferences keys: see trackd_apply_dotted); the email set (or cleared) as
-- asked. p_times holds the update's time for each of those keys (people.attribute_times). When
-- p_ordered (the call carried its own time, p_timestamp: v1 _timestamp, v2 timestamp), an
-- attribute that was last set or removed by a later update is left alone: an older update never
-- overwrites a newer value.
-- p_relationships, when not NULL, lists objects the person is then related to (p_relate) or
-- no longer related to: see trackd_relate_person.
-- Returns 'created', 'updated', 'duplicate', 'conflict', 'skipped', 'suppressed', 'not_found',
-- or 'recorded' when no person is named at all (anonymous traits, kept in identity_calls).
-- An anonymous id it carries (Pipelines anonymousId, Track anonymous_id) is linked to the person;
-- ';link_refused' is appended when that id belongs to someone else.
CREATE OR REPLACE FUNCTION trackd_identify(
    p_workspace bigint, p_message_id text, p_person_type text, p_person text,
    p_body_id text, p_email text, p_clear_email boolean, p_update_only boolean,
    p_set jsonb, p_unset text[], p_anonymous_id text, p_context jsonb,
    p_timestamp timestamptz, p_received timestamptz, p_ordered boolean, p_times jsonb,
    p_dotted boolean, p_relationships jsonb, p_relate boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_set jsonb := p_set;
    v_unset text[] := p_unset;
    v_times jsonb := coalesce(p_times, '{}');
    v_recorded jsonb;
    v_when double precision;
    v_target bigint;
    v_by_id bigint;
    v_by_email bigint;
    v_id text := p_body_id;
    v_email text := p_email;
    v_outcome text;
    v_link text := '';
BEGIN
    IF p_person_type IS NULL AND p_body_id IS NULL AND p_email IS NULL THEN
        RETURN trackd_record_identity_call(p_workspace, 'identify', p_message_id, NULL,
                                           p_anonymous_id, NULL, NULL, p_set, p_context,
                                           p_timestamp, p_received);
    END IF;
    IF p_person_type = 'id' THEN
        v_id := p_person;
    ELSIF p_person_type = 'email' THEN
        v_email := p_person;
    END IF;
    IF trackd_is_suppressed(p_workspace, 'id', v_id)
       OR trackd_is_suppressed(p_workspace, 'email', v_email) THEN
        RETURN 'suppressed';
    END IF;
    IF NOT trackd_claim_message(p_workspace, p_message_id, p_received) THEN
        RETURN 'duplicate';
    END IF;

    LOOP
        IF p_person_type IS NOT NULL THEN
            v_target := trackd_find_person(p_workspace, p_person_type, p_person);
            IF v_target IS NULL AND p_person_type = 'cio_id' THEN
                RETURN 'not_found';
            END IF;
        END IF;
        v_by_id := CASE WHEN p_body_id IS NOT NULL THEN trackd_find_person(p_workspace, 'id', p_body_id) END;
        v_by_email := CASE WHEN p_email IS NOT NULL THEN trackd_find_person(p_workspace, 'email', p_email) END;
        IF v_target IS NULL THEN
            IF v_by_id IS NOT NULL AND v_by_email IS NOT NULL AND v_by_id <> v_by_email THEN
                RETURN 'conflict';
            END IF;
            v_target := coalesce(v_by_id, v_by_email);
        ELSIF (v_by_id IS NOT NULL AND v_by_id <> v_target)
              OR (v_by_email IS NOT NULL AND v_by_email <> v_target) THEN
            RETURN 'conflict';
        END IF;
        EXIT WHEN v_target IS NOT NULL;
        IF p_update_only THEN
            RETURN 'skipped';
        END IF;
        v_target := nextval(pg_get_serial_sequence('people', 'id'));
        INSERT INTO people (id, workspace_id, cio_id, customer_id, email, attributes,
                            attribute_times)
        VALUES (v_target, p_workspace, trackd_cio_id(v_target), v_id, v_email,
                CASE WHEN p_dotted THEN trackd_apply_dotted('{}', p_set, '{}') ELSE p_set END,
                v_times)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            v_outcome := 'created';
            EXIT;
        END IF;
        v_target := NULL; -- a concurrent identify created them: look again
    END LOOP;

    IF v_outcome IS NULL THEN
        PERFORM 1 FROM people WHERE id = v_target FOR UPDATE;
        -- An id is changed only for a person addressed by cio_id (Customer.io's rule): giving
        -- a new id to someone who already has one would silently rename them.
        IF v_id IS NOT NULL AND p_person_type IS DISTINCT FROM 'cio_id' THEN
            PERFORM 1 FROM people
            WHERE id = v_target AND customer_id IS NOT NULL AND customer_id <> v_id;
            IF FOUND THEN
                RETURN 'conflict';
            END IF;
        END IF;
        IF p_ordered THEN
            -- Keep the keys whose recorded time is not later than this update's.
            v_when := extract(epoch FROM p_timestamp);
            SELECT attribute_times INTO v_recorded FROM people WHERE id = v_target;
            SELECT coalesce(jsonb_object_agg(key, value), '{}') INTO v_set FROM jsonb_each(p_set)
            WHERE coalesce((v_recorded ->> key)::double precision, '-Infinity') <= v_when;
            v_unset := ARRAY(SELECT k FROM unnest(p_unset) k
                             WHERE coalesce((v_recorded ->> k)::double precision, '-Infinity') <= v_when);
            SELECT coalesce(jsonb_object_agg(key, value), '{}') INTO v_times FROM jsonb_each(v_times)
            WHERE v_set ? key OR key = ANY (v_unset);
        END IF;
        UPDATE people
        SET customer_id = coalesce(v_id, customer_id),
            email = CASE WHEN v_email IS NOT NULL THEN v_email
                         WHEN p_clear_email THEN NULL
                         ELSE email END,
            attributes = CASE WHEN p_dotted THEN trackd_apply_dotted(attributes, v_set, v_unset)
                              ELSE (attributes || v_set) - v_unset END,
            attribute_times = attribute_times || v_times,
            updated_at = now()
        WHERE id = v_target;
        v_outcome := 'updated';
    END IF;
    IF p_relationships IS NOT NULL THEN
        PERFORM trackd_relate_person(p_workspace, v_target, p_relate, p_relationships);
    END IF;
    IF NOT trackd_is_junk_anonymous_id(p_anonymous_id) THEN
        v_link := trackd_link_anonymous(p_workspace, p_anonymous_id, v_target);
    END IF;
    RETURN v_outcome || CASE WHEN v_link = 'refused' THEN ';link_refused' ELSE '' END;
END
$$;
COMMENT ON FUNCTION trackd_identify(bigint, text, text, text, text, text, boolean, boolean, jsonb, text[], text, jsonb, timestamptz, timestamptz, boolean, jsonb, boolean, jsonb, boolean)
    IS 'Identify per Customer.io''s resolution rules; see the comment above the function for outcomes.';
