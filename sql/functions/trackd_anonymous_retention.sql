-- How long anonymous events that never joined a person, and deduplication keys, are kept: an
-- identify joins the anonymous events received within it, and a message id repeated within it
-- is a duplicate.
CREATE OR REPLACE FUNCTION trackd_anonymous_retention()
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '30 days' $$;
COMMENT ON FUNCTION trackd_anonymous_retention() IS 'How long unlinked anonymous events and deduplication keys are kept (30 days).';
