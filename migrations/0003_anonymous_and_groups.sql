-- 0003: anonymous activity joins the person it turns out to be; trigger eligibility; groups as
-- objects and relationships; retention.

ALTER TABLE events ADD COLUMN eligible_at timestamptz;
COMMENT ON COLUMN events.eligible_at IS 'When the event became able to trigger campaigns: when it was attributed to its person (receipt, or the anonymous link), if that was within 72 hours of its timestamp. NULL: never (anonymous, too old, or inherited by a profile merge).';
UPDATE events SET eligible_at = received_at
WHERE person_id IS NOT NULL AND origin = 'direct' AND received_at - "timestamp" <= interval '72 hours';

CREATE TABLE objects (
    workspace_id   bigint NOT NULL REFERENCES workspaces (id),
    object_type_id text NOT NULL DEFAULT '1',
    object_id      text NOT NULL,
    attributes     jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, object_type_id, object_id)
);
COMMENT ON TABLE objects IS 'Objects (groups: companies, accounts, ...) from Pipelines group calls.';
COMMENT ON COLUMN objects.workspace_id IS 'The workspace of the object.';
COMMENT ON COLUMN objects.object_type_id IS 'Object type, a string-formatted integer; "1" unless traits.object_type_id says otherwise.';
COMMENT ON COLUMN objects.object_id IS 'The groupId.';
COMMENT ON COLUMN objects.attributes IS 'Group traits (without object_type_id and relationshipAttributes), merged on each call.';
COMMENT ON COLUMN objects.created_at IS 'When the object was first seen.';
COMMENT ON COLUMN objects.updated_at IS 'When a group call last changed it.';

CREATE TABLE relationships (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id   bigint NOT NULL,
    object_type_id text NOT NULL,
    object_id      text NOT NULL,
    person_id      bigint REFERENCES people (id) ON DELETE CASCADE,
    anonymous_id   text,
    attributes     jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, object_type_id, object_id)
        REFERENCES objects (workspace_id, object_type_id, object_id) ON DELETE CASCADE,
    CHECK (person_id IS NOT NULL OR anonymous_id IS NOT NULL)
);
CREATE UNIQUE INDEX relationships_person_key
    ON relationships (workspace_id, object_type_id, object_id, person_id) WHERE person_id IS NOT NULL;
CREATE UNIQUE INDEX relationships_anonymous_key
    ON relationships (workspace_id, object_type_id, object_id, anonymous_id) WHERE person_id IS NULL;
CREATE INDEX relationships_person_idx ON relationships (person_id);
COMMENT ON TABLE relationships IS 'A person''s (or, until identified, an anonymous id''s) membership of an object.';
COMMENT ON COLUMN relationships.id IS 'Internal id.';
COMMENT ON COLUMN relationships.workspace_id IS 'The workspace of the relationship.';
COMMENT ON COLUMN relationships.object_type_id IS 'Type of the object.';
COMMENT ON COLUMN relationships.object_id IS 'The object (groupId).';
COMMENT ON COLUMN relationships.person_id IS 'The member; NULL while only the anonymous id is known.';
COMMENT ON COLUMN relationships.anonymous_id IS 'The anonymous id of the group call; the relationship moves to the person when the id is linked.';
COMMENT ON COLUMN relationships.attributes IS 'traits.relationshipAttributes of the group call.';
COMMENT ON COLUMN relationships.created_at IS 'When the relationship was first recorded.';

ALTER TABLE anonymous_ids ADD COLUMN refused_links integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN anonymous_ids.refused_links IS 'How many calls tried to link this anonymous id to another person and were refused.';

CREATE INDEX message_ids_received_brin ON message_ids USING brin (received_at);
