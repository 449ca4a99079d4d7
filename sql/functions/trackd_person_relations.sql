-- What rules read of a person besides their attributes, as JSON text:
--   "segments":   the manual segments they are in, an array of numbers in order;
--   "objects":    per object type, the object of that type they were most recently related to:
--                 its attributes, with "object_id", "cio_object_id" and "relationship" (the
--                 relationship attributes) added;
--   "object_ids": per object type, the ids of the objects of that type they are related to,
--                 most recent first.
-- Only the person's 20 most recently added or changed relationships are read, so that a person
-- related to thousands of objects costs an evaluation no more than one related to twenty.
-- Read for every event evaluated: most people have no relationships, and for them the JSON is
-- written out directly rather than built.
CREATE OR REPLACE FUNCTION trackd_person_relations(p_person bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM relationships WHERE person_id = p_person)
            THEN (jsonb_build_object('segments', segments::jsonb)
                  || trackd_person_objects(p_person))::text
        ELSE '{"segments":' || segments || ',"objects":{},"object_ids":{}}'
    END
    FROM (SELECT coalesce(json_agg(segment_id ORDER BY segment_id), '[]'::json)::text
          FROM segment_members WHERE person_id = p_person) s(segments)
$$;
COMMENT ON FUNCTION trackd_person_relations(bigint) IS 'A person''s manual segments and (at most 20) related objects, as rules read them (person.segments, person.objects, person.object_ids).';
