-- Stores a run of events, in order, with the same outcomes as calling trackd_ingest_event on
-- each in turn; returns one outcome number per event (see trackd_outcome), in the order given.
-- The arguments are parallel arrays, one element per event: the arguments of
-- trackd_ingest_event. The writer sends them in binary, so nothing is quoted or parsed twice,
-- and sends a single event as a run of one: this is the only way events are written.
--
-- New people by id are created first. Most events are then "simple": for a person by id who
-- exists and is not suppressed, whose anonymous id is a placeholder or already
-- linked to them; or anonymous. The others (email or cio_id addressing, a new or refused
-- link, a suppressed or missing person) go through trackd_ingest_event one by one, first,
-- so that the anonymous events stored after them see the links they made, just as they would
-- have one call at a time (an anonymous event stored before a link joins the person through
-- the link, one stored after it through the 5-minute window: the result is the same).
-- Within the run, a repeated message id is kept by the first of its events that a call of
-- trackd_ingest_event would have kept.
CREATE OR REPLACE FUNCTION trackd_ingest_events(
    p_workspace bigint[], p_message_id text[], p_person_type text[], p_person text[],
    p_anonymous_id text[], p_type text[], p_name text[], p_properties jsonb[],
    p_context jsonb[], p_timestamp timestamptz[], p_received timestamptz[])
RETURNS SETOF smallint LANGUAGE plpgsql AS $$
DECLARE
    v_in trackd_event_input[];
    v_out smallint[];
    v_person bigint[];  -- by ord: the person of an event by id, if they exist
    v_slow boolean[];   -- by ord: whether the event takes the one-at-a-time path
    v_row trackd_event_input;
    v_ords integer[];
    v_outcomes smallint[];
BEGIN
    SELECT coalesce(array_agg(ROW(e.ord, e.w, e.m, e.pt, e.p, e.a, e.t, e.n, e.pr, e.c, e.ts,
                                  e.r)::trackd_event_input ORDER BY e.ord), '{}')
    INTO v_in
    FROM unnest(p_workspace, p_message_id, p_person_type, p_person, p_anonymous_id, p_type,
                p_name, p_properties, p_context, p_timestamp, p_received) WITH ORDINALITY
         AS e (w, m, pt, p, a, t, n, pr, c, ts, r, ord);
    v_out := array_fill(NULL::smallint, ARRAY[cardinality(v_in)]);

    -- New people by id are created first, in one fixed order, like trackd_prepare_people does
    -- for the groups that need it (the writer skips it for a group of events only): concurrent
    -- runs creating the same people then never wait on each other in a cycle.
    INSERT INTO people (id, workspace_id, cio_id, customer_id)
    SELECT id, workspace_id, trackd_cio_id(id), person
    FROM (SELECT nextval(pg_get_serial_sequence('people', 'id')) AS id, workspace_id, person
          FROM (SELECT DISTINCT workspace_id, person FROM unnest(v_in) AS i
                WHERE person_type = 'id'
                  AND NOT EXISTS (SELECT 1 FROM people p WHERE p.workspace_id = i.workspace_id
                                                           AND p.customer_id = i.person)
                  AND NOT EXISTS (SELECT 1
                                  FROM trackd_suppression(i.workspace_id, 'id', i.person)))
               AS wanted
          ORDER BY workspace_id, person COLLATE "C") AS numbered
    ORDER BY workspace_id, person COLLATE "C"
    ON CONFLICT DO NOTHING;

    -- Each event's person by id, and whether it needs the one-at-a-time path. Every event of a
    -- message id repeated within the run takes it, so that those events claim the id in their
    -- order: which of them keeps it depends on what each finds (a suppressed or unknown person
    -- claims nothing), and a simple one must not lose it to a later one taken first.
    SELECT array_agg(p.id ORDER BY i.ord),
           array_agg(i.repeated OR i.person_type IS NOT NULL AND (
               i.person_type <> 'id' OR p.id IS NULL
               OR EXISTS (SELECT 1 FROM trackd_suppression(i.workspace_id, 'id', i.person))
               OR (NOT trackd_is_junk_anonymous_id(i.anonymous_id)
                   AND NOT EXISTS (SELECT 1 FROM anonymous_ids a
                                   WHERE a.workspace_id = i.workspace_id
                                     AND a.anonymous_id = i.anonymous_id
                                     AND a.person_id = p.id))) ORDER BY i.ord)
    INTO v_person, v_slow
    FROM (SELECT u.*, u.message_id IS NOT NULL
                      AND count(*) OVER (PARTITION BY u.workspace_id, u.message_id) > 1
                      AS repeated
          FROM unnest(v_in) AS u) AS i
    LEFT JOIN LATERAL (SELECT id FROM people
                       WHERE i.person_type = 'id' AND workspace_id = i.workspace_id
                         AND customer_id = i.person
                       -- One index lookup per event: without the LIMIT the planner may hash
                       -- the whole table.
                       LIMIT 1) AS p ON true;
    FOREACH v_row IN ARRAY v_in LOOP
        IF v_slow[v_row.ord] THEN
            v_out[v_row.ord] := trackd_outcome(trackd_ingest_event(
                v_row.workspace_id, v_row.message_id, v_row.person_type, v_row.person,
                v_row.anonymous_id, v_row.type, v_row.name, v_row.properties, v_row.context,
                v_row."timestamp", v_row.received_at));
        END IF;
    END LOOP;

    -- Anonymous events take their ids' locks shared, in one order (see trackd_lock_anonymous_id).
    PERFORM trackd_lock_anonymous_id(workspace_id, anonymous_id, false)
    FROM (SELECT DISTINCT workspace_id, anonymous_id FROM unnest(v_in)
          WHERE person_type IS NULL AND anonymous_id IS NOT NULL
          ORDER BY workspace_id, anonymous_id) AS ids;

    WITH simple AS (
        SELECT i.*,
               CASE WHEN i.person_type IS NULL THEN a.person_id ELSE v_person[i.ord] END
                   AS person_id,
               CASE WHEN i.person_type IS NULL AND a.person_id IS NOT NULL
                    THEN 'anonymous_merge' ELSE 'direct' END AS origin
        FROM unnest(v_in) AS i
        LEFT JOIN LATERAL (SELECT person_id FROM anonymous_ids
                           WHERE i.person_type IS NULL AND workspace_id = i.workspace_id
                             AND anonymous_id = i.anonymous_id
                             AND linked_at > now() - trackd_link_window() LIMIT 1) AS a ON true
        WHERE NOT v_slow[i.ord]
    ), claimed AS (
        INSERT INTO message_ids (workspace_id, message_id, received_at)
        SELECT workspace_id, message_id, received_at FROM simple
        WHERE message_id IS NOT NULL
        ORDER BY ord
        ON CONFLICT DO NOTHING
        RETURNING workspace_id, message_id
    ), kept AS (
        SELECT s.*,
               CASE WHEN s.person_id IS NOT NULL AND now() - s."timestamp" <= trackd_trigger_window()
                    THEN now() END AS eligible_at
        FROM simple s
        WHERE s.message_id IS NULL
           OR EXISTS (SELECT 1 FROM claimed c
                      WHERE c.workspace_id = s.workspace_id AND c.message_id = s.message_id)
    ), stored AS (
        INSERT INTO events (workspace_id, person_id, anonymous_id, message_id, type, name,
                            properties, context, "timestamp", received_at, origin, eligible_at)
        SELECT workspace_id, person_id, anonymous_id, message_id, type, name,
               coalesce(properties, '{}'), context, "timestamp", received_at, origin, eligible_at
        FROM kept ORDER BY ord
        RETURNING id, workspace_id, name, type, eligible_at
    ), queued AS (
        INSERT INTO pending_evaluations (event_id, workspace_id)
        SELECT id, workspace_id FROM stored
        WHERE eligible_at IS NOT NULL
          -- trackd_has_candidate_rules, spelt out: PostgreSQL would call the function per row.
          AND EXISTS (SELECT 1 FROM rules r
                      WHERE r.workspace_id = stored.workspace_id AND r.enabled
                        AND r.trigger_event = stored.name AND r.trigger_type = stored.type)
    )
    SELECT coalesce(array_agg(s.ord), '{}'),
           coalesce(array_agg(trackd_outcome(CASE WHEN k.ord IS NULL THEN 'duplicate'
                                                  ELSE 'stored' END)), '{}')
    INTO v_ords, v_outcomes
    FROM simple s LEFT JOIN kept k ON k.ord = s.ord;
    FOR n IN 1 .. cardinality(v_ords) LOOP
        v_out[v_ords[n]] := v_outcomes[n];
    END LOOP;

    RETURN QUERY SELECT u.o FROM unnest(v_out) WITH ORDINALITY AS u (o, n) ORDER BY u.n;
END
$$;
COMMENT ON FUNCTION trackd_ingest_events(bigint[], text[], text[], text[], text[], text[], text[], jsonb[], jsonb[], timestamptz[], timestamptz[]) IS 'Stores a run of events set-based, with the outcomes trackd_ingest_event would give each in turn; see the comment above it.';
