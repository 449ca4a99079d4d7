-- 0012: trackd_ingest_events reads its parallel arrays directly; the composite type it used to
-- gather them into (0006) has no use left.
DROP TYPE IF EXISTS trackd_event_input;
