-- The number the writer reads for a write function's word (server/core/outcome.h holds the same
-- numbers): 1 stored (or created, updated, recorded, deleted, merged, unsuppressed), 2 stored
-- but the anonymous id's link refused, 3 duplicate, 4 conflict, 5 ignored (a suppressed or
-- unknown person, nothing to do), 6 the primary person of a merge not found.
-- Immutable and written in SQL, so PostgreSQL folds it into the statements that call it.
CREATE OR REPLACE FUNCTION trackd_outcome(p_word text)
RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (CASE
        WHEN p_word LIKE '%;link\_refused' THEN 2
        WHEN p_word IN ('duplicate', 'repeat') THEN 3
        WHEN p_word = 'conflict' THEN 4
        WHEN p_word IN ('suppressed', 'not_found', 'skipped') THEN 5
        WHEN p_word = 'primary_not_found' THEN 6
        ELSE 1
    END)::smallint
$$;
COMMENT ON FUNCTION trackd_outcome(text) IS 'The outcome number of a write function''s word, as server/core/outcome.h numbers them.';
