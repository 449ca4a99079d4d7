-- 0018: objects of the Track API (v2 object operations, relationships from either side) and the
-- ordering of identify updates by their timestamp.

-- Track API v2 can address an object by Customer.io's immutable cio_object_id as well as by type
-- and id; every object gets one, as every person has a cio_id.
ALTER TABLE objects ADD COLUMN cio_object_id text;
UPDATE objects SET cio_object_id = left(replace(gen_random_uuid()::text, '-', ''), 20);
ALTER TABLE objects ALTER COLUMN cio_object_id SET NOT NULL;
ALTER TABLE objects ALTER COLUMN cio_object_id SET DEFAULT left(replace(gen_random_uuid()::text, '-', ''), 20);
ALTER TABLE objects ADD CONSTRAINT objects_cio_object_id_key UNIQUE (workspace_id, cio_object_id);
COMMENT ON COLUMN objects.cio_object_id IS 'trackd''s immutable id of the object (20 hex digits), for Track API v2 identifiers {"cio_object_id": ...}.';
COMMENT ON TABLE objects IS 'Objects (companies, accounts, courses, ...): from Track API v2 object operations and Pipelines group calls.';
COMMENT ON COLUMN objects.object_id IS 'The object''s id within its type (v2 identifiers.object_id, Pipelines groupId).';
COMMENT ON COLUMN objects.attributes IS 'The object''s attributes (v2 attributes, group traits without object_type_id and relationshipAttributes), merged on each call; null removes one.';
COMMENT ON COLUMN objects.updated_at IS 'When a call last changed it.';

ALTER TABLE relationships ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
COMMENT ON COLUMN relationships.updated_at IS 'When a call last added or changed the relationship; rules load a person''s most recently updated relationships first.';
COMMENT ON COLUMN relationships.attributes IS 'Relationship attributes (v2 relationship_attributes, group traits.relationshipAttributes), merged on each call; null or "" removes one.';
COMMENT ON COLUMN relationships.anonymous_id IS 'The anonymous id of the group call or identify_anonymous operation; the relationship moves to the person when the id is linked.';
-- A person's newest relationships, which rules read (bounded).
CREATE INDEX relationships_person_recent_idx ON relationships (person_id, updated_at DESC)
    WHERE person_id IS NOT NULL;
DROP INDEX relationships_person_idx;

-- When each attribute was last set or removed, so that an identify stamped with an older
-- _timestamp (v1) or timestamp (v2) never overwrites a newer value.
ALTER TABLE people ADD COLUMN attribute_times jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN people.attribute_times IS 'Per attribute, the unix time (seconds) of the update that last set or removed it: the identify''s _timestamp (v1) or timestamp (v2) when it sent one, else when it was received. Identifies stamped older than this leave the attribute alone.';
