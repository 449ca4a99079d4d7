-- Rotates one kind of a workspace's keys: every key of that kind still working stops working
-- after p_grace (or sooner, if it was already due to), and the key whose hash is p_hash starts
-- now. Keys of the workspace that expired more than 30 days ago are forgotten. Returns when the
-- old keys stop working (NULL if there were none).
CREATE OR REPLACE FUNCTION trackd_rotate_key(p_workspace bigint, p_kind text, p_hash bytea,
                                             p_grace interval)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
    v_expires timestamptz;
BEGIN
    DELETE FROM workspace_keys
    WHERE workspace_id = p_workspace AND expires_at < now() - interval '30 days';
    WITH rotated AS (
        UPDATE workspace_keys
        SET expires_at = LEAST(coalesce(expires_at, 'infinity'), now() + p_grace)
        WHERE workspace_id = p_workspace AND kind = p_kind
          AND (expires_at IS NULL OR expires_at > now())
        RETURNING expires_at
    )
    SELECT max(expires_at) INTO v_expires FROM rotated;
    INSERT INTO workspace_keys (workspace_id, kind, key_hash) VALUES (p_workspace, p_kind, p_hash);
    RETURN v_expires;
END
$$;
COMMENT ON FUNCTION trackd_rotate_key(bigint, text, bytea, interval) IS 'Adds a new key of one kind to a workspace; the keys of that kind it replaces stop working after the grace period.';
