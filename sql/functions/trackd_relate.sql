-- Adds (or, when not p_add, removes) one relationship between an object and a person, or an
-- anonymous id when p_person is NULL. Adding an existing one merges its attributes.
CREATE OR REPLACE FUNCTION trackd_relate(p_workspace bigint, p_add boolean, p_person bigint,
                                         p_anonymous_id text, p_object_type_id text,
                                         p_object_id text, p_attributes jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_add THEN
        DELETE FROM relationships
        WHERE workspace_id = p_workspace AND object_type_id = p_object_type_id
          AND object_id = p_object_id
          AND (person_id = p_person
               OR (p_person IS NULL AND person_id IS NULL AND anonymous_id = p_anonymous_id));
    ELSIF p_person IS NOT NULL THEN
        INSERT INTO relationships (workspace_id, object_type_id, object_id, person_id, attributes)
        VALUES (p_workspace, p_object_type_id, p_object_id, p_person,
                trackd_merge_attributes('{}', p_attributes, true))
        ON CONFLICT (workspace_id, object_type_id, object_id, person_id) WHERE person_id IS NOT NULL
        DO UPDATE SET attributes = trackd_merge_attributes(relationships.attributes, p_attributes, true),
                      updated_at = now();
    ELSE
        INSERT INTO relationships (workspace_id, object_type_id, object_id, anonymous_id, attributes)
        VALUES (p_workspace, p_object_type_id, p_object_id, p_anonymous_id,
                trackd_merge_attributes('{}', p_attributes, true))
        ON CONFLICT (workspace_id, object_type_id, object_id, anonymous_id) WHERE person_id IS NULL
        DO UPDATE SET attributes = trackd_merge_attributes(relationships.attributes, p_attributes, true),
                      updated_at = now();
    END IF;
END
$$;
COMMENT ON FUNCTION trackd_relate(bigint, boolean, bigint, text, text, text, jsonb) IS 'Adds or removes one object relationship of a person (or of an anonymous id).';
