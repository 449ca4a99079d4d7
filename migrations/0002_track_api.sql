-- 0002: what the Track API needs beyond ingest: devices, suppressions, delivery metrics, and
-- person commands addressed by id, email or cio_id. Replaces the identify and event functions of
-- 0001 with versions that take any identifier.

CREATE TABLE devices (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    person_id    bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    token        text NOT NULL,
    platform     text NOT NULL,
    attributes   jsonb NOT NULL DEFAULT '{}',
    last_used    timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    origin       text NOT NULL DEFAULT 'direct' CHECK (origin IN ('direct', 'profile_merge')),
    UNIQUE (workspace_id, token)
);
CREATE INDEX devices_person_idx ON devices (person_id);
COMMENT ON TABLE devices IS 'Push devices of people, one row per token; a token re-registered by another person moves to them.';
COMMENT ON COLUMN devices.id IS 'Internal id, referenced by deliveries.';
COMMENT ON COLUMN devices.workspace_id IS 'The workspace of the device.';
COMMENT ON COLUMN devices.person_id IS 'The person the device belongs to.';
COMMENT ON COLUMN devices.token IS 'The push token (FCM registration token, APNs token): Track API device id / token.';
COMMENT ON COLUMN devices.platform IS 'ios or android.';
COMMENT ON COLUMN devices.attributes IS 'Device attributes (device_os, app_version, push_enabled, ...), merged on each update.';
COMMENT ON COLUMN devices.last_used IS 'When the device was last used (sent by the client, else the time of the call).';
COMMENT ON COLUMN devices.created_at IS 'When the token was first registered.';
COMMENT ON COLUMN devices.origin IS 'direct, or profile_merge when inherited from a merged profile.';

CREATE TABLE suppressions (
    workspace_id    bigint NOT NULL REFERENCES workspaces (id),
    identifier_type text NOT NULL CHECK (identifier_type IN ('id', 'email')),
    identifier      text NOT NULL,
    suppressed_cio_id text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, identifier_type, identifier)
);
COMMENT ON TABLE suppressions IS 'Identifiers of suppressed people: calls for them answer 200 and store nothing until unsuppressed.';
COMMENT ON COLUMN suppressions.workspace_id IS 'The workspace of the suppression.';
COMMENT ON COLUMN suppressions.identifier_type IS 'id (customer_id) or email.';
COMMENT ON COLUMN suppressions.identifier IS 'The blocked identifier; emails lower-case.';
COMMENT ON COLUMN suppressions.suppressed_cio_id IS 'cio_id of the person suppressed, tying together the identifiers they had; unsuppressing one frees all.';
COMMENT ON COLUMN suppressions.created_at IS 'When the identifier was suppressed.';

CREATE TABLE delivery_metrics (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint REFERENCES workspaces (id),
    delivery_id  text NOT NULL,
    metric       text NOT NULL,
    device_token text,
    recipient    text,
    reason       text,
    href         text,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_metrics_delivery_idx ON delivery_metrics (delivery_id);
COMMENT ON TABLE delivery_metrics IS 'Delivery metrics reported by clients (/api/v1/metrics, /api/v1/push/events, Report Delivery Event), by delivery id.';
COMMENT ON COLUMN delivery_metrics.id IS 'Internal id, in insertion order.';
COMMENT ON COLUMN delivery_metrics.workspace_id IS 'The workspace whose key sent it; NULL when sent without credentials.';
COMMENT ON COLUMN delivery_metrics.delivery_id IS 'The delivery the metric is about.';
COMMENT ON COLUMN delivery_metrics.metric IS 'delivered, opened, clicked, converted, bounced, ...';
COMMENT ON COLUMN delivery_metrics.device_token IS 'Push metrics: the device token.';
COMMENT ON COLUMN delivery_metrics.recipient IS 'The email, phone or token the message went to, if sent.';
COMMENT ON COLUMN delivery_metrics.reason IS 'Why, for bounces and failures, if sent.';
COMMENT ON COLUMN delivery_metrics.href IS 'The link clicked, if sent.';
COMMENT ON COLUMN delivery_metrics.occurred_at IS 'When it happened (client timestamp, else receipt).';
COMMENT ON COLUMN delivery_metrics.received_at IS 'When trackd received it.';

DROP FUNCTION trackd_identify(bigint, text, text, text, text, boolean, jsonb, text[], jsonb, timestamptz, timestamptz);
DROP FUNCTION trackd_ingest_event(bigint, text, text, text, text, text, jsonb, jsonb, timestamptz, timestamptz);

-- The person addressed by (type, value): type 'id' (customer_id), 'email' (any case) or 'cio_id'.
-- One plain query per type, so that each uses its index (a CASE in one WHERE would not).
CREATE FUNCTION trackd_find_person(p_workspace bigint, p_type text, p_value text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_type = 'id' THEN
        SELECT id INTO v_id FROM people WHERE workspace_id = p_workspace AND customer_id = p_value;
    ELSIF p_type = 'email' THEN
        SELECT id INTO v_id FROM people
        WHERE workspace_id = p_workspace AND lower(email) = lower(p_value);
    ELSIF p_type = 'cio_id' THEN
        SELECT id INTO v_id FROM people WHERE workspace_id = p_workspace AND cio_id = p_value;
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION trackd_find_person(bigint, text, text) IS 'people.id of the person with this identifier (id, email or cio_id), or NULL.';

CREATE FUNCTION trackd_is_suppressed(p_workspace bigint, p_type text, p_value text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_type IN ('id', 'email') AND EXISTS (
        SELECT 1 FROM suppressions
        WHERE workspace_id = p_workspace AND identifier_type = p_type
          AND identifier = CASE p_type WHEN 'email' THEN lower(p_value) ELSE p_value END)
$$;
COMMENT ON FUNCTION trackd_is_suppressed(bigint, text, text) IS 'Whether an id or email is suppressed.';

-- The person addressed by (type, value), created when new if the identifier is an id or email.
-- NULL for an unknown cio_id. The caller checks suppression first.
CREATE FUNCTION trackd_person_for(p_workspace bigint, p_type text, p_value text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    LOOP
        v_id := trackd_find_person(p_workspace, p_type, p_value);
        IF v_id IS NOT NULL OR p_type NOT IN ('id', 'email') THEN
            RETURN v_id;
        END IF;
        v_id := nextval(pg_get_serial_sequence('people', 'id'));
        INSERT INTO people (id, workspace_id, cio_id, customer_id, email)
        VALUES (v_id, p_workspace, trackd_cio_id(v_id),
                CASE WHEN p_type = 'id' THEN p_value END,
                CASE WHEN p_type = 'email' THEN p_value END)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN v_id;
        END IF;
        -- A concurrent transaction created them first: find theirs.
    END LOOP;
END
$$;
COMMENT ON FUNCTION trackd_person_for(bigint, text, text) IS 'Finds the person by identifier, creating them for an id or email; NULL for an unknown cio_id.';

-- Stores one event, page or screen view. Returns 'stored', 'duplicate', 'suppressed' (the
-- person's identifier is suppressed: nothing stored) or 'not_found' (unknown cio_id).
CREATE FUNCTION trackd_ingest_event(
    p_workspace bigint, p_message_id text, p_person_type text, p_person text,
    p_anonymous_id text, p_type text, p_name text, p_properties jsonb, p_context jsonb,
    p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
BEGIN
    IF p_person_type IS NOT NULL THEN
        IF trackd_is_suppressed(p_workspace, p_person_type, p_person) THEN
            RETURN 'suppressed';
        END IF;
        v_person := trackd_person_for(p_workspace, p_person_type, p_person);
        IF v_person IS NULL THEN
            RETURN 'not_found';
        END IF;
    END IF;
    IF NOT trackd_claim_message(p_workspace, p_message_id, p_received) THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO events (workspace_id, person_id, anonymous_id, message_id, type, name,
                        properties, context, "timestamp", received_at)
    VALUES (p_workspace, v_person, p_anonymous_id, p_message_id, p_type, p_name,
            p_properties, p_context, p_timestamp, p_received);
    RETURN 'stored';
END
$$;
COMMENT ON FUNCTION trackd_ingest_event(bigint, text, text, text, text, text, text, jsonb, jsonb, timestamptz, timestamptz)
    IS 'Stores one event for the person addressed (created if new) or anonymously; deduplicated by message id.';

-- Identify (Customer.io's rules, reference §1.4). The person is addressed by (p_person_type,
-- p_person); p_body_id and p_email are identifiers sent among the attributes.
--  * Found by the address: update. A body identifier belonging to someone else is a conflict.
--  * Not found (and the address is an id or email): a person matching a body identifier is
--    updated and given the address as identifier; two different matches are a conflict.
--  * A person who has an id gets a different one only when addressed by cio_id.
--  * Nobody matches: created, unless p_update_only ('skipped') or an identifier is suppressed.
--  * Unknown cio_id: 'not_found' (the call is dropped).
-- Attributes: p_set added, p_unset removed; the email set (or cleared) as asked.
-- Returns 'created', 'updated', 'duplicate', 'conflict', 'skipped', 'suppressed', 'not_found',
-- or 'recorded' when no person is named at all (anonymous traits, kept in identity_calls).
CREATE FUNCTION trackd_identify(
    p_workspace bigint, p_message_id text, p_person_type text, p_person text,
    p_body_id text, p_email text, p_clear_email boolean, p_update_only boolean,
    p_set jsonb, p_unset text[], p_anonymous_id text, p_context jsonb,
    p_timestamp timestamptz, p_received timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_target bigint;
    v_by_id bigint;
    v_by_email bigint;
    v_id text := p_body_id;
    v_email text := p_email;
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
        INSERT INTO people (id, workspace_id, cio_id, customer_id, email, attributes)
        VALUES (v_target, p_workspace, trackd_cio_id(v_target), v_id, v_email, p_set)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN 'created';
        END IF;
        v_target := NULL; -- a concurrent identify created them: look again
    END LOOP;

    PERFORM 1 FROM people WHERE id = v_target FOR UPDATE;
    -- An id is changed only for a person addressed by cio_id (Customer.io's rule): giving a new
    -- id to someone who already has one would silently rename them, so it is a conflict.
    IF v_id IS NOT NULL AND p_person_type IS DISTINCT FROM 'cio_id' THEN
        PERFORM 1 FROM people
        WHERE id = v_target AND customer_id IS NOT NULL AND customer_id <> v_id;
        IF FOUND THEN
            RETURN 'conflict';
        END IF;
    END IF;
    UPDATE people
    SET customer_id = coalesce(v_id, customer_id),
        email = CASE WHEN v_email IS NOT NULL THEN v_email
                     WHEN p_clear_email THEN NULL
                     ELSE email END,
        attributes = (attributes || p_set) - p_unset,
        updated_at = now()
    WHERE id = v_target;
    RETURN 'updated';
END
$$;
COMMENT ON FUNCTION trackd_identify(bigint, text, text, text, text, text, boolean, boolean, jsonb, text[], text, jsonb, timestamptz, timestamptz)
    IS 'Identify per Customer.io''s resolution rules; see the comment above the function for outcomes.';

-- Deletes a person and what belongs to them (events, devices, anonymous links).
CREATE FUNCTION trackd_delete_person(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint := trackd_find_person(p_workspace, p_type, p_value);
BEGIN
    IF v_person IS NULL THEN
        RETURN 'not_found';
    END IF;
    DELETE FROM events WHERE person_id = v_person;
    DELETE FROM people WHERE id = v_person; -- devices and anonymous_ids cascade
    RETURN 'deleted';
END
$$;
COMMENT ON FUNCTION trackd_delete_person(bigint, text, text) IS 'Deletes a person with their events, devices and anonymous links.';

-- Suppresses: blocks every identifier the person had (and the one addressed), then deletes them.
CREATE FUNCTION trackd_suppress(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person people%ROWTYPE;
BEGIN
    SELECT * INTO v_person FROM people WHERE id = trackd_find_person(p_workspace, p_type, p_value);
    INSERT INTO suppressions (workspace_id, identifier_type, identifier, suppressed_cio_id)
    SELECT p_workspace, t, v, v_person.cio_id
    FROM (VALUES ('id', v_person.customer_id),
                 ('email', lower(v_person.email)),
                 (p_type, CASE p_type WHEN 'email' THEN lower(p_value) ELSE p_value END)) AS s (t, v)
    WHERE t IN ('id', 'email') AND v IS NOT NULL
    ON CONFLICT DO NOTHING;
    IF v_person.id IS NOT NULL THEN
        PERFORM trackd_delete_person(p_workspace, 'cio_id', v_person.cio_id);
    END IF;
    RETURN 'suppressed';
END
$$;
COMMENT ON FUNCTION trackd_suppress(bigint, text, text) IS 'Deletes a person and blocks their id and email from being used again.';

-- Frees the identifier addressed and every identifier suppressed together with it.
CREATE FUNCTION trackd_unsuppress(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_group text;
    v_value text := CASE p_type WHEN 'email' THEN lower(p_value) ELSE p_value END;
BEGIN
    SELECT suppressed_cio_id INTO v_group FROM suppressions
    WHERE workspace_id = p_workspace AND identifier_type = p_type AND identifier = v_value;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    DELETE FROM suppressions
    WHERE workspace_id = p_workspace
      AND ((identifier_type = p_type AND identifier = v_value)
           OR (v_group IS NOT NULL AND suppressed_cio_id = v_group));
    RETURN 'unsuppressed';
END
$$;
COMMENT ON FUNCTION trackd_unsuppress(bigint, text, text) IS 'Frees suppressed identifiers; does not restore the deleted person.';

-- Adds or updates a device by token for the person addressed (created if new).
CREATE FUNCTION trackd_add_device(p_workspace bigint, p_type text, p_value text, p_token text,
                                  p_platform text, p_attributes jsonb, p_last_used timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint;
BEGIN
    IF trackd_is_suppressed(p_workspace, p_type, p_value) THEN
        RETURN 'suppressed';
    END IF;
    v_person := trackd_person_for(p_workspace, p_type, p_value);
    IF v_person IS NULL THEN
        RETURN 'not_found';
    END IF;
    INSERT INTO devices (workspace_id, person_id, token, platform, attributes, last_used)
    VALUES (p_workspace, v_person, p_token, p_platform, p_attributes, p_last_used)
    ON CONFLICT (workspace_id, token) DO UPDATE
    SET person_id = excluded.person_id,
        platform = excluded.platform,
        attributes = CASE WHEN devices.person_id = excluded.person_id
                          THEN devices.attributes || excluded.attributes
                          ELSE excluded.attributes END,
        last_used = greatest(devices.last_used, excluded.last_used),
        origin = 'direct';
    RETURN 'stored';
END
$$;
COMMENT ON FUNCTION trackd_add_device(bigint, text, text, text, text, jsonb, timestamptz) IS 'Upserts a device by token for a person; a token of another person moves to this one.';

CREATE FUNCTION trackd_delete_device(p_workspace bigint, p_type text, p_value text, p_token text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM devices
    WHERE workspace_id = p_workspace AND token = p_token
      AND person_id = trackd_find_person(p_workspace, p_type, p_value);
    RETURN CASE WHEN FOUND THEN 'deleted' ELSE 'not_found' END;
END
$$;
COMMENT ON FUNCTION trackd_delete_device(bigint, text, text, text) IS 'Removes a device token from a person.';

-- Merges the secondary profile into the primary: the secondary's attributes fill only what the
-- primary lacks (missing, null or ""), its events and devices move to the primary marked
-- profile_merge, its anonymous links follow, and the secondary is deleted.
-- Returns 'merged', 'primary_not_found', or 'skipped' (secondary unknown or the same person).
CREATE FUNCTION trackd_merge(p_workspace bigint, p_primary_type text, p_primary text,
                             p_secondary_type text, p_secondary text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_primary people%ROWTYPE;
    v_secondary people%ROWTYPE;
    v_first bigint;
    v_second bigint;
BEGIN
    v_first := trackd_find_person(p_workspace, p_primary_type, p_primary);
    IF v_first IS NULL THEN
        RETURN 'primary_not_found';
    END IF;
    v_second := trackd_find_person(p_workspace, p_secondary_type, p_secondary);
    IF v_second IS NULL OR v_second = v_first THEN
        RETURN 'skipped';
    END IF;
    -- Lock both rows in id order so that concurrent merges cannot deadlock.
    PERFORM 1 FROM people WHERE id IN (v_first, v_second) ORDER BY id FOR UPDATE;
    SELECT * INTO v_primary FROM people WHERE id = v_first;
    SELECT * INTO v_secondary FROM people WHERE id = v_second;

    UPDATE events SET person_id = v_first, origin = 'profile_merge' WHERE person_id = v_second;
    UPDATE devices SET person_id = v_first, origin = 'profile_merge' WHERE person_id = v_second;
    UPDATE anonymous_ids SET person_id = v_first WHERE person_id = v_second;
    DELETE FROM people WHERE id = v_second;
    UPDATE people
    SET attributes = (SELECT coalesce(jsonb_object_agg(key, value), '{}')
                      FROM jsonb_each(v_secondary.attributes)
                      WHERE value NOT IN ('null'::jsonb, '""'::jsonb))
                     || (SELECT coalesce(jsonb_object_agg(key, value), '{}')
                         FROM jsonb_each(v_primary.attributes)
                         WHERE value NOT IN ('null'::jsonb, '""'::jsonb)),
        customer_id = coalesce(customer_id, v_secondary.customer_id),
        email = coalesce(email, v_secondary.email),
        updated_at = now()
    WHERE id = v_first;
    RETURN 'merged';
END
$$;
COMMENT ON FUNCTION trackd_merge(bigint, text, text, text, text) IS 'Profile merge: see the comment above the function.';

CREATE FUNCTION trackd_record_metric(p_workspace bigint, p_delivery_id text, p_metric text,
                                     p_device_token text, p_recipient text, p_reason text,
                                     p_href text, p_occurred timestamptz, p_received timestamptz)
RETURNS text LANGUAGE sql AS $$
    INSERT INTO delivery_metrics (workspace_id, delivery_id, metric, device_token, recipient,
                                  reason, href, occurred_at, received_at)
    VALUES (p_workspace, p_delivery_id, p_metric, p_device_token, p_recipient, p_reason, p_href,
            p_occurred, p_received)
    RETURNING 'recorded'
$$;
COMMENT ON FUNCTION trackd_record_metric(bigint, text, text, text, text, text, text, timestamptz, timestamptz) IS 'Records one delivery metric.';
