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
