-- The manual segments a person is in, as a JSON array of numbers in order: what rules read as
-- person.segments.
CREATE OR REPLACE FUNCTION trackd_person_segments(p_person bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(segment_id ORDER BY segment_id), '[]'::json)::text
    FROM segment_members WHERE person_id = p_person
$$;
COMMENT ON FUNCTION trackd_person_segments(bigint) IS 'The manual segments a person is in (person.segments of rules).';
