-- 0015: rules that end early or count conversions. A rule's exit_on and goal name events of
-- their own, which must be evaluated even when no rule is triggered by them; and a delivery
-- cancelled by an exit says when.
ALTER TABLE rules ADD COLUMN watch_events text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN rules.watch_events IS 'The events its exit_on and goal name (custom events): written by rules load, read when an event is queued for evaluation.';
-- Most events watch nothing: this finds the rules that watch something without reading the
-- others (the queue check of every stored event asks it).
CREATE INDEX rules_watch_idx ON rules (workspace_id) WHERE enabled AND watch_events <> '{}';
ALTER TABLE deliveries ADD COLUMN exited_at timestamptz;
-- A goal event looks for the deliveries of its rule sent to the person (trackd_convert).
CREATE INDEX deliveries_rule_person_sent_idx ON deliveries (rule_id, person_id, sent_at)
    WHERE status = 'sent';
COMMENT ON COLUMN deliveries.exited_at IS 'When an exit_on event of its rule cancelled it (status cancelled, last_error names the event).';
