-- 0017: manual segments, Customer.io's POST /api/v1/segments/{id}/add_customers and
-- remove_customers: a segment is a number the caller chooses, and its members are people.
CREATE TABLE segments (
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    segment_id   integer NOT NULL CHECK (segment_id > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, segment_id)
);
COMMENT ON TABLE segments IS 'Manual segments: made by the first add_customers call that names them.';
COMMENT ON COLUMN segments.workspace_id IS 'The workspace.';
COMMENT ON COLUMN segments.segment_id IS 'The segment''s number, as the API calls name it (a positive 32-bit integer).';
COMMENT ON COLUMN segments.created_at IS 'When the first add_customers call named it.';
COMMENT ON COLUMN segments.updated_at IS 'When an add_customers or remove_customers call last named it.';

CREATE TABLE segment_members (
    workspace_id bigint NOT NULL,
    segment_id   integer NOT NULL,
    person_id    bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, segment_id, person_id),
    FOREIGN KEY (workspace_id, segment_id) REFERENCES segments (workspace_id, segment_id)
        ON DELETE CASCADE
);
-- A person's segments, read when their events are evaluated; and the cascade of a delete.
CREATE INDEX segment_members_person_idx ON segment_members (person_id);
COMMENT ON TABLE segment_members IS 'Who is in each manual segment. A deleted person leaves every segment (cascade); a merged one''s memberships go to the person it is merged into.';
COMMENT ON COLUMN segment_members.workspace_id IS 'The workspace.';
COMMENT ON COLUMN segment_members.segment_id IS 'The segment.';
COMMENT ON COLUMN segment_members.person_id IS 'The member.';
COMMENT ON COLUMN segment_members.added_at IS 'When they were added.';
