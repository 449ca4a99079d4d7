-- Deletes one bounded batch of refused requests received more than p_days days ago; returns how
-- many (the retention job calls it until it returns less than the batch).
CREATE OR REPLACE FUNCTION trackd_purge_rejections(p_days integer, p_batch integer)
RETURNS integer LANGUAGE sql AS $$
    WITH old AS (
        SELECT id FROM rejected_requests
        WHERE received_at < now() - p_days * interval '1 day'
        ORDER BY id LIMIT p_batch
    ), gone AS (
        DELETE FROM rejected_requests r USING old WHERE r.id = old.id RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION trackd_purge_rejections(integer, integer) IS 'Deletes up to p_batch rejected_requests older than p_days days; returns how many.';
