-- 0015: rules that end early or count conversions. A rule's exit_on and goal name events of
-- their own, which must be evaluated even when no rule is triggered by them; and a delivery
-- cancelled by an exit says when.
ALTER TABLE rules ADD COLUMN watch_events text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN rules.watch_events IS 'The events its exit_on and goal name (custom events): written by rules load, read when an event is queued for evaluation.';
ALTER TABLE deliveries ADD COLUMN exited_at timestamptz;
COMMENT ON COLUMN deliveries.exited_at IS 'When an exit_on event of its rule cancelled it (status cancelled, last_error names the event).';
