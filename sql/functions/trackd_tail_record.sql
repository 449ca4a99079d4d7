-- Records the calls of a write transaction for `trackd tail` (the writer sends this, before its
-- COMMIT, only while a tail is connected), and notifies the tails: the notification goes out
-- when the transaction commits, and its payload is the workspaces it concerns ("1,3"; "*" when
-- there are too many to list), so that a tail of another workspace need not look.
CREATE OR REPLACE FUNCTION trackd_tail_record(p_workspace bigint[], p_type text[],
                                              p_endpoint text[], p_person_type text[],
                                              p_person text[], p_anonymous text[], p_name text[],
                                              p_detail jsonb[], p_reason text[],
                                              p_message text[], p_received timestamptz[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_workspaces text;
BEGIN
    INSERT INTO tail_calls (workspace_id, type, endpoint, person_type, person, anonymous_id,
                            name, detail, reason, message, received_at)
    SELECT * FROM unnest(p_workspace, p_type, p_endpoint, p_person_type, p_person, p_anonymous,
                         p_name, p_detail, p_reason, p_message, p_received);
    SELECT string_agg(DISTINCT w::text, ',') INTO v_workspaces FROM unnest(p_workspace) AS w;
    PERFORM pg_notify('trackd_tail',
                      CASE WHEN length(v_workspaces) <= 200 THEN v_workspaces ELSE '*' END);
END
$$;
COMMENT ON FUNCTION trackd_tail_record(bigint[], text[], text[], text[], text[], text[], text[], jsonb[], text[], text[], timestamptz[]) IS 'Records a write transaction''s calls for trackd tail and notifies it on commit.';
