-- The "objects" and "object_ids" of trackd_person_relations, as a JSON object: from the person's
-- 20 most recently added or changed relationships.
CREATE OR REPLACE FUNCTION trackd_person_objects(p_person bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
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
        'objects', (SELECT coalesce(jsonb_object_agg(object_type_id, newest), '{}') FROM by_type),
        'object_ids', (SELECT coalesce(jsonb_object_agg(object_type_id, ids), '{}') FROM by_type))
$$;
COMMENT ON FUNCTION trackd_person_objects(bigint) IS 'The objects a person is related to (at most the 20 most recent), as rules read them.';
