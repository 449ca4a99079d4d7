-- Values clients send when they have no real anonymous id; they are never linked.
CREATE OR REPLACE FUNCTION trackd_is_junk_anonymous_id(p_anonymous_id text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_anonymous_id IS NULL OR btrim(p_anonymous_id) = ''
        OR lower(btrim(p_anonymous_id)) IN ('null', 'undefined', 'anonymous', '0', 'nil', 'none')
$$;
COMMENT ON FUNCTION trackd_is_junk_anonymous_id(text) IS 'True for placeholders (null, undefined, anonymous, 0, blank) that must never link people.';
