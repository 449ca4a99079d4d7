-- How long after an anonymous id is linked to a person its new anonymous events still join that
-- person directly (the SDKs keep sending the anonymous id alone for a moment after identify).
CREATE OR REPLACE FUNCTION trackd_link_window()
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '5 minutes' $$;
COMMENT ON FUNCTION trackd_link_window() IS 'How long a fresh anonymous link attributes later anonymous events directly (5 minutes).';
