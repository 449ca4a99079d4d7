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

-- Creates the monthly partitions from the month of p_from through p_months_ahead months after
-- the current one; returns how many it created. Events of a month that landed in
-- events_default (its partition was missing) move into the new partition.
-- Partition changes lock the events table briefly: they give up after 2 seconds rather than
-- hold up writes, and the next run tries again.
CREATE FUNCTION trackd_create_event_partitions(p_from timestamptz, p_months_ahead integer)
RETURNS integer LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    v_month timestamptz := date_trunc('month', p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_last timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                          + make_interval(months => p_months_ahead);
    v_name text;
    v_created integer := 0;
    v_strays boolean;
BEGIN
    WHILE v_month <= v_last LOOP
        v_name := 'events_' || to_char(v_month AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(v_name) IS NULL THEN
            SELECT EXISTS (SELECT 1 FROM events_default
                           WHERE received_at >= v_month AND received_at < v_month + interval '1 month')
            INTO v_strays;
            IF v_strays THEN
                CREATE TEMP TABLE trackd_moving_events (LIKE events) ON COMMIT DROP;
                WITH moved AS (
                    DELETE FROM events_default
                    WHERE received_at >= v_month AND received_at < v_month + interval '1 month'
                    RETURNING *)
                INSERT INTO trackd_moving_events SELECT * FROM moved;
            END IF;
            EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                           v_name, v_month, v_month + interval '1 month');
            EXECUTE format('COMMENT ON TABLE %I IS %L', v_name,
                           'Events received in ' || to_char(v_month AT TIME ZONE 'UTC', 'YYYY-MM') || ' (UTC).');
            IF v_strays THEN
                INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM trackd_moving_events;
                DROP TABLE trackd_moving_events;
            END IF;
            v_created := v_created + 1;
        END IF;
        v_month := v_month + interval '1 month';
    END LOOP;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION trackd_create_event_partitions(timestamptz, integer) IS 'Creates the monthly events partitions from a month through some months ahead of now.';

-- Drops the monthly partitions whose every event was received before p_before; returns how
-- many. Their queue rows go with them.
CREATE FUNCTION trackd_drop_event_partitions(p_before timestamptz)
RETURNS integer LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    v_part record;
    v_dropped integer := 0;
BEGIN
    FOR v_part IN
        SELECT c.oid::regclass AS name,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
        ORDER BY 2
    LOOP
        EXIT WHEN v_part.upper_bound > p_before;
        EXECUTE format('DELETE FROM pending_evaluations q USING %s e WHERE q.event_id = e.id',
                       v_part.name);
        EXECUTE format('DROP TABLE %s', v_part.name);
        v_dropped := v_dropped + 1;
    END LOOP;
    RETURN v_dropped;
END
$$;
COMMENT ON FUNCTION trackd_drop_event_partitions(timestamptz) IS 'Retention: drops the monthly events partitions received entirely before a time.';

SELECT trackd_create_event_partitions(
    coalesce((SELECT min(received_at) FROM events_unpartitioned), now()), 2);
INSERT INTO events OVERRIDING SYSTEM VALUE
SELECT id, workspace_id, person_id, anonymous_id, message_id, type, name, properties, context,
       "timestamp", received_at, origin, eligible_at
FROM events_unpartitioned;
SELECT setval(pg_get_serial_sequence('events', 'id'),
              greatest((SELECT max(id) FROM events_unpartitioned), 1),
              (SELECT max(id) FROM events_unpartitioned) IS NOT NULL);

-- The views of 0005 follow the old table; point them at the new one (their comments stay).
CREATE OR REPLACE VIEW admin_events_per_day AS
SELECT e.workspace_id, date_trunc('day', e."timestamp") AS day, e.type, e.name, count(*) AS events
FROM events e
GROUP BY 1, 2, 3, 4;
CREATE OR REPLACE VIEW admin_people_last_event AS
SELECT p.id AS person_id, p.workspace_id, p.customer_id, p.email, p.created_at,
       last.name AS last_event, last."timestamp" AS last_event_at,
       (SELECT count(*) FROM events c WHERE c.person_id = p.id) AS events
FROM people p
LEFT JOIN LATERAL (SELECT e.name, e."timestamp" FROM events e WHERE e.person_id = p.id
                   ORDER BY e."timestamp" DESC LIMIT 1) AS last ON true;
CREATE OR REPLACE VIEW admin_unlinked_anonymous_ids AS
SELECT e.workspace_id, e.anonymous_id, count(*) AS events, min(e.received_at) AS first_received,
       max(e.received_at) AS last_received
FROM events e
WHERE e.person_id IS NULL AND e.anonymous_id IS NOT NULL
GROUP BY 1, 2;

DROP TABLE events_unpartitioned;

-- Deleting a person removed their queue rows through the foreign key; now it does so itself
-- (otherwise as in 0004).
CREATE OR REPLACE FUNCTION trackd_delete_person(p_workspace bigint, p_type text, p_value text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_person bigint := trackd_find_person(p_workspace, p_type, p_value);
BEGIN
    IF v_person IS NULL THEN
        RETURN 'not_found';
    END IF;
    UPDATE deliveries SET status = 'cancelled', last_error = 'the person was deleted'
    WHERE person_id = v_person AND status IN ('scheduled', 'retrying');
    DELETE FROM pending_evaluations q USING events e
    WHERE e.person_id = v_person AND q.event_id = e.id;
    DELETE FROM events WHERE person_id = v_person;
    DELETE FROM people WHERE id = v_person; -- devices, anonymous links, relationships cascade
    RETURN 'deleted';
END
$$;
