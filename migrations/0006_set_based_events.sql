-- 0006: events are written a group at a time. The writer sends each run of consecutive track
-- calls of a group as one call of trackd_ingest_events instead of one trackd_ingest_event per
-- event: PostgreSQL then resolves, deduplicates and inserts the common events with a handful of
-- set-based statements, and keeps the per-event function for the rare ones that need it.

-- One event as the writer sends it; ord is its position in the run (1-based).
CREATE TYPE trackd_event_input AS (
    ord          integer,
    workspace_id bigint,
    message_id   text,
    person_type  text,
    person       text,
    anonymous_id text,
    type         text,
    name         text,
    properties   jsonb,
    context      jsonb,
    "timestamp"  timestamptz,
    received_at  timestamptz
);
COMMENT ON TYPE trackd_event_input IS 'One event of a trackd_ingest_events call: the arguments of trackd_ingest_event plus its position.';
