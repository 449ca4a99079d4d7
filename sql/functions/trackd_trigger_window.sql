-- How long after its timestamp an event may still trigger campaigns: an event attributed to a
-- person within this window is eligible, and the evaluator fires only while it lasts.
CREATE OR REPLACE FUNCTION trackd_trigger_window()
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '72 hours' $$;
COMMENT ON FUNCTION trackd_trigger_window() IS 'How long after its timestamp an event may trigger campaigns (72 hours).';
