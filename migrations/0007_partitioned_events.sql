-- 0007: events are partitioned by month of received_at. Inserts go to the current month's
-- partition, whose indexes stay small and cached however many events are stored, and retention
-- (TRACKD_EVENT_RETENTION_DAYS) drops whole months instead of deleting rows.
--
-- A partitioned table's primary key must contain the partition key, so it becomes
-- (id, received_at); ids still come from one sequence and stay unique. pending_evaluations can
-- no longer reference events with a foreign key: the functions that delete events remove their
-- queue rows themselves, and the evaluator drops queue rows whose event is gone.

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_person_idx RENAME TO events_unpartitioned_person_idx;
ALTER INDEX events_anonymous_idx RENAME TO events_unpartitioned_anonymous_idx;
ALTER INDEX events_received_brin RENAME TO events_unpartitioned_received_brin;
ALTER TABLE pending_evaluations DROP CONSTRAINT pending_evaluations_event_id_fkey;

CREATE TABLE events (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    workspace_id bigint NOT NULL,
    person_id    bigint,
    anonymous_id text,
    message_id   text,
    type         text NOT NULL CHECK (type IN ('event', 'page', 'screen')),
    name         text NOT NULL,
    properties   jsonb NOT NULL DEFAULT '{}',
    context      jsonb,
    "timestamp"  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    origin       text NOT NULL DEFAULT 'direct' CHECK (origin IN ('direct', 'anonymous_merge', 'profile_merge')),
    eligible_at  timestamptz,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX events_person_idx ON events (person_id, "timestamp") WHERE person_id IS NOT NULL;
CREATE INDEX events_anonymous_idx ON events (workspace_id, anonymous_id, received_at) WHERE person_id IS NULL;
COMMENT ON TABLE events IS 'Events, page views and screen views, each stored once (deduplicated by message_id). Partitioned by month of received_at (events_YYYY_MM; events_default catches anything outside them).';
COMMENT ON COLUMN events.id IS 'Internal id, in insertion order; unique (with received_at, the primary key).';
COMMENT ON COLUMN events.workspace_id IS 'The workspace that sent the event.';
COMMENT ON COLUMN events.person_id IS 'The person who did it; NULL while the event is anonymous.';
COMMENT ON COLUMN events.anonymous_id IS 'The anonymous id it was sent with, if any.';
COMMENT ON COLUMN events.message_id IS 'Pipelines messageId or Track API id: the deduplication key (see message_ids).';
COMMENT ON COLUMN events.type IS 'event (a named action), page (a page view) or screen (a mobile screen view).';
COMMENT ON COLUMN events.name IS 'Event name; for page views the page name or URL; for screens the screen name.';
COMMENT ON COLUMN events.properties IS 'Event properties (Pipelines properties, Track API data).';
COMMENT ON COLUMN events.context IS 'Pipelines context as sent (device, app, page, library...); NULL if none.';
COMMENT ON COLUMN events."timestamp" IS 'When it happened: the client''s timestamp corrected for clock skew with sentAt, or the receive time.';
COMMENT ON COLUMN events.received_at IS 'When trackd received it: the partition key.';
COMMENT ON COLUMN events.origin IS 'direct (sent for this person), anonymous_merge (joined on identify), profile_merge (inherited from a merged profile).';
COMMENT ON COLUMN events.eligible_at IS 'When the event became able to trigger campaigns: when it was attributed to its person (receipt, or the anonymous link), if that was within 72 hours of its timestamp. NULL: never (anonymous, too old, or inherited by a profile merge).';

-- A safety net: an insert never fails for want of a partition. trackd keeps the months ahead
-- created (trackd_create_event_partitions), so this one stays empty.
CREATE TABLE events_default PARTITION OF events DEFAULT;
COMMENT ON TABLE events_default IS 'Events outside every monthly partition; empty while trackd creates the months ahead.';

-- The events move into events_default; `trackd migrate` then creates the monthly partitions from
-- the oldest of them on, and trackd_create_event_partitions moves each month's rows there.
INSERT INTO events OVERRIDING SYSTEM VALUE
SELECT id, workspace_id, person_id, anonymous_id, message_id, type, name, properties, context,
       "timestamp", received_at, origin, eligible_at
FROM events_unpartitioned;
SELECT setval(pg_get_serial_sequence('events', 'id'),
              greatest((SELECT max(id) FROM events_unpartitioned), 1),
              (SELECT max(id) FROM events_unpartitioned) IS NOT NULL);

DROP TABLE events_unpartitioned;
