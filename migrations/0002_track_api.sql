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
