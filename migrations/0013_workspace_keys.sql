-- 0013: a workspace's keys get a table of their own, so that a key can be rotated: the new one
-- works at once and the old one until its grace period ends. Each key's hash moves over from
-- the workspaces row, which keeps no key.
CREATE TABLE workspace_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id bigint NOT NULL REFERENCES workspaces (id),
    kind         text NOT NULL CHECK (kind IN ('write', 'api')),
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX workspace_keys_workspace_idx ON workspace_keys (workspace_id, kind);
COMMENT ON TABLE workspace_keys IS 'The keys of each workspace: the Pipelines write key and the Track API key, current and rotated. Only their hashes are stored.';
COMMENT ON COLUMN workspace_keys.id IS 'Internal id.';
COMMENT ON COLUMN workspace_keys.workspace_id IS 'The workspace the key opens.';
COMMENT ON COLUMN workspace_keys.kind IS 'write: the Pipelines write key (HTTP Basic user); api: the Track API key (password of the workspace''s site_id).';
COMMENT ON COLUMN workspace_keys.key_hash IS 'SHA-256 of the key; the key itself is shown once, when created, and never stored.';
COMMENT ON COLUMN workspace_keys.created_at IS 'When the key was created.';
COMMENT ON COLUMN workspace_keys.expires_at IS 'When a rotated key stops working; NULL for a current key. Setting it to now() revokes the key (running servers notice within 30 seconds).';
COMMENT ON COLUMN workspace_keys.last_used_at IS 'When a request last authenticated with the key, to the minute (servers write it as they reload their keys, within about 30 seconds of the use); NULL if never.';

INSERT INTO workspace_keys (workspace_id, kind, key_hash, created_at)
SELECT id, 'write', write_key_hash, created_at FROM workspaces
UNION ALL
SELECT id, 'api', api_key_hash, created_at FROM workspaces;

ALTER TABLE workspaces DROP COLUMN api_key_hash, DROP COLUMN write_key_hash;
