-- Creates, in one fixed order, the people that a group of calls will create anyway, and locks,
-- in id order, those that its calls will update (identifies carrying an email or a body id
-- included). Writers that start each group this way never wait on each other in a cycle, so
-- concurrent groups touching the same people do not deadlock (two groups identifying the same
-- two people in opposite orders, with emails as SDKs send them, otherwise would).
-- p_people: [{"w": workspace, "c": customer_id, "l": lock, "x": lock if it exists, never
-- create}, ...].
-- Each person is found with one index lookup (a LATERAL ... LIMIT 1): a join the planner is free
-- to choose could hash the whole people table for a handful of names.
CREATE OR REPLACE FUNCTION trackd_prepare_people(p_people jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_created integer;
BEGIN
    -- One statement for all: rows are inserted in the order of the ORDER BY, and a row that a
    -- concurrent group is inserting is waited for in that order too.
    WITH wanted AS (
        SELECT DISTINCT u.w, u.c
        FROM jsonb_to_recordset(p_people) AS u (w bigint, c text, x boolean)
        WHERE NOT coalesce(u.x, false)
    ), missing AS (
        SELECT nextval(pg_get_serial_sequence('people', 'id')) AS id, w, c
        FROM (SELECT wanted.w, wanted.c FROM wanted
              LEFT JOIN LATERAL (SELECT id FROM people p
                                 WHERE p.workspace_id = wanted.w AND p.customer_id = wanted.c
                                 LIMIT 1) AS found ON true
              WHERE found.id IS NULL
                AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.workspace_id = wanted.w
                                   AND s.identifier_type = 'id' AND s.identifier = wanted.c)
              ORDER BY wanted.w, wanted.c COLLATE "C") AS ordered
    )
    INSERT INTO people (id, workspace_id, cio_id, customer_id)
    SELECT id, w, trackd_cio_id(id), c FROM missing ORDER BY w, c COLLATE "C"
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    IF jsonb_path_exists(p_people, '$[*] ? (@.l == true)') THEN
        PERFORM 1 FROM people p
        WHERE p.id = ANY (ARRAY(
            SELECT found.id
            FROM jsonb_to_recordset(p_people) AS u (w bigint, c text, l boolean)
            CROSS JOIN LATERAL (SELECT id FROM people q
                                WHERE q.workspace_id = u.w AND q.customer_id = u.c
                                LIMIT 1) AS found
            WHERE u.l))
        ORDER BY p.id FOR UPDATE;
    END IF;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION trackd_prepare_people(jsonb) IS 'Run first in each write group: creates and locks its people in a fixed order so that concurrent groups cannot deadlock.';
