-- Creates, in one fixed order, the people that a group of calls will create anyway, and locks,
-- in id order, those that its calls will update (identifies carrying an email or a body id
-- included). Writers that start each group this way never wait on each other in a cycle, so
-- concurrent groups touching the same people do not deadlock (two groups identifying the same
-- two people in opposite orders, with emails as SDKs send them, otherwise would).
-- The arguments are parallel arrays, one element per person: the workspace, the customer_id,
-- whether to lock them, and whether only to lock them if they exist (never create).
-- Each person is found with one index lookup (a LATERAL ... LIMIT 1): a join the planner is free
-- to choose could hash the whole people table for a handful of names.
CREATE OR REPLACE FUNCTION trackd_prepare_people(
    p_workspace bigint[], p_customer text[], p_lock boolean[], p_lock_only boolean[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_created integer;
BEGIN
    -- One statement for all: rows are inserted in the order of the ORDER BY, and a row that a
    -- concurrent group is inserting is waited for in that order too.
    WITH wanted AS (
        SELECT DISTINCT u.w, u.c
        FROM unnest(p_workspace, p_customer, p_lock_only) AS u (w, c, x)
        WHERE NOT u.x
    ), missing AS (
        SELECT nextval(pg_get_serial_sequence('people', 'id')) AS id, w, c
        FROM (SELECT wanted.w, wanted.c FROM wanted
              LEFT JOIN LATERAL (SELECT id FROM people p
                                 WHERE p.workspace_id = wanted.w AND p.customer_id = wanted.c
                                 LIMIT 1) AS found ON true
              WHERE found.id IS NULL
                AND NOT EXISTS (SELECT 1 FROM trackd_suppression(wanted.w, 'id', wanted.c))
              ORDER BY wanted.w, wanted.c COLLATE "C") AS ordered
    )
    INSERT INTO people (id, workspace_id, cio_id, customer_id)
    SELECT id, w, trackd_cio_id(id), c FROM missing ORDER BY w, c COLLATE "C"
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    IF true = ANY (p_lock) THEN
        PERFORM 1 FROM people p
        WHERE p.id = ANY (ARRAY(
            SELECT found.id
            FROM unnest(p_workspace, p_customer, p_lock) AS u (w, c, l)
            CROSS JOIN LATERAL (SELECT id FROM people q
                                WHERE q.workspace_id = u.w AND q.customer_id = u.c
                                LIMIT 1) AS found
            WHERE u.l))
        ORDER BY p.id FOR UPDATE;
    END IF;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION trackd_prepare_people(bigint[], text[], boolean[], boolean[]) IS 'Run first in each write group: creates and locks its people in a fixed order so that concurrent groups cannot deadlock.';
