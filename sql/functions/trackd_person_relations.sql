-- What rules read of a person besides their attributes, as JSON text:
--   "segments":   the manual segments they are in, an array of numbers in order;
--   "objects":    per object type, the object of that type they were most recently related to:
--                 its attributes, with "object_id", "cio_object_id" and "relationship" (the
--                 relationship attributes) added;
--   "object_ids": per object type, the ids of the objects of that type they are related to,
--                 most recent first.
-- Only the person's 20 most recently added or changed relationships are read, so that a person
-- related to thousands of objects costs an evaluation no more than one related to twenty.
CREATE OR REPLACE FUNCTION trackd_person_relations(p_person bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    WITH recent AS (
        SELECT r.object_type_id, r.object_id, r.attributes AS relationship, r.updated_at, r.id,
               o.attributes, o.cio_object_id
        FROM relationships r
        JOIN objects o ON o.workspace_id = r.workspace_id AND o.object_type_id = r.object_type_id
                      AND o.object_id = r.object_id
        WHERE r.person_id = p_person
        ORDER BY r.updated_at DESC, r.id DESC
        LIMIT 20
    ), by_type AS (
        SELECT object_type_id,
               (array_agg(attributes || jsonb_build_object('object_id', object_id,
                                                           'cio_object_id', cio_object_id,
                                                           'relationship', relationship)
                          ORDER BY updated_at DESC, id DESC))[1] AS newest,
               jsonb_agg(object_id ORDER BY updated_at DESC, id DESC) AS ids
        FROM recent GROUP BY object_type_id
    )
    SELECT jsonb_build_object(
        'segments', (SELECT coalesce(jsonb_agg(segment_id ORDER BY segment_id), '[]')
                     FROM segment_members WHERE person_id = p_person),
        'objects', (SELECT coalesce(jsonb_object_agg(object_type_id, newest), '{}') FROM by_type),
        'object_ids', (SELECT coalesce(jsonb_object_agg(object_type_id, ids), '{}') FROM by_type)
    )::text
$$;
COMMENT ON FUNCTION trackd_person_relations(bigint) IS 'A person''s manual segments and (at most 20) related objects, as rules read them (person.segments, person.objects, person.object_ids).';
