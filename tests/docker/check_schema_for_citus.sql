-- check_schema_for_citus.sql — what stands between the schema and the Citus plan of
-- docs/scaling.md. Run against a migrated database:
--
--   psql -X -A -t -F ' | ' -v ON_ERROR_STOP=1 -f tests/docker/check_schema_for_citus.sql "$DATABASE_URL"
--
-- The plan (below, and in docs/scaling.md): every table of the public schema is either
-- distributed by workspace_id, a reference table (copied to every node), or kept on the
-- coordinator. One line per fact that Citus would refuse, or that the plan does not cover:
--
--   unplaced table                      a table the plan does not mention (decide, then add it)
--   planned table missing               the plan names a table that does not exist
--   no workspace_id column              a distributed table without the distribution column
--   workspace_id allows NULL            Citus refuses a NULL distribution column on insert
--   primary key without workspace_id    \  Citus enforces uniqueness per shard only, so it
--   unique constraint without ...        > refuses keys that do not include the distribution
--   unique index without workspace_id   /  column
--   foreign key without workspace_id    between two distributed tables: must include it on
--                                       both sides, at the same position
--   foreign key sets NULL on delete     between two distributed tables: once the key includes
--                                       workspace_id, SET NULL / SET DEFAULT would null it
--   foreign key from reference table    a reference table may not point at a distributed one
--   foreign key to coordinator table    nor may a distributed or reference table point at a
--                                       table kept on the coordinator
--   identity not bigint                 Citus supports identity columns on distributed tables
--                                       only as bigint
--
-- An empty result means the schema can be distributed as planned. tests/docker/check_citus_doc.sh
-- compares the result with the list in docs/scaling.md, so that the document tells the truth.

WITH plan (table_name, placement) AS (
    VALUES
        ('anonymous_ids', 'distributed'),
        ('deliveries', 'distributed'),
        ('delivery_metrics', 'distributed'),
        ('devices', 'distributed'),
        ('events', 'distributed'),
        ('firings', 'distributed'),
        ('identity_calls', 'distributed'),
        ('journey_runs', 'distributed'),
        ('message_ids', 'distributed'),
        ('objects', 'distributed'),
        ('pending_evaluations', 'distributed'),
        ('people', 'distributed'),
        ('rejected_requests', 'distributed'),
        ('relationships', 'distributed'),
        ('segment_members', 'distributed'),
        ('segments', 'distributed'),
        ('suppressions', 'distributed'),
        ('rules', 'reference'),
        ('signing_keys', 'reference'),
        ('workspace_keys', 'reference'),
        ('workspaces', 'reference'),
        ('schema_migrations', 'coordinator'),
        ('tail_calls', 'coordinator')
),
tables AS (
    -- Ordinary and partitioned tables; partitions follow their parent.
    SELECT c.oid, c.relname::text AS table_name, p.placement
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN plan p ON p.table_name = c.relname
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
),
distributed AS (
    SELECT t.oid, t.table_name, a.attnum AS ws, a.attnotnull AS ws_not_null
    FROM tables t
    LEFT JOIN pg_attribute a
        ON a.attrelid = t.oid AND a.attname = 'workspace_id' AND NOT a.attisdropped
    WHERE t.placement = 'distributed'
),
foreign_keys AS (
    SELECT con.oid, con.conname::text AS name, con.conkey, con.confkey, con.confdeltype,
           src.table_name AS from_table, src.placement AS from_placement,
           dst.table_name AS to_table, dst.placement AS to_placement,
           ds.ws AS from_ws, dd.ws AS to_ws
    FROM pg_constraint con
    JOIN tables src ON src.oid = con.conrelid
    JOIN tables dst ON dst.oid = con.confrelid
    LEFT JOIN distributed ds ON ds.oid = con.conrelid
    LEFT JOIN distributed dd ON dd.oid = con.confrelid
    WHERE con.contype = 'f'
),
problems (problem, table_name, name, detail) AS (
    SELECT 'unplaced table', table_name, '', 'not in the plan of docs/scaling.md'
    FROM tables WHERE placement IS NULL
    UNION ALL
    SELECT 'planned table missing', p.table_name, '', p.placement
    FROM plan p WHERE NOT EXISTS (SELECT 1 FROM tables t WHERE t.table_name = p.table_name)
    UNION ALL
    SELECT 'no workspace_id column', table_name, '', ''
    FROM distributed WHERE ws IS NULL
    UNION ALL
    SELECT 'workspace_id allows NULL', table_name, 'workspace_id', ''
    FROM distributed WHERE ws IS NOT NULL AND NOT ws_not_null
    UNION ALL
    SELECT CASE con.contype WHEN 'p' THEN 'primary key without workspace_id'
                            ELSE 'unique constraint without workspace_id' END,
           d.table_name, con.conname::text, pg_get_constraintdef(con.oid)
    FROM distributed d
    JOIN pg_constraint con ON con.conrelid = d.oid AND con.contype IN ('p', 'u', 'x')
    WHERE d.ws IS NULL OR NOT (d.ws = ANY (con.conkey))
    UNION ALL
    -- Unique indexes that back no constraint (those are listed above).
    SELECT 'unique index without workspace_id', d.table_name, ic.relname::text,
           regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING [a-z]+ ', '')
    FROM distributed d
    JOIN pg_index i ON i.indrelid = d.oid AND i.indisunique
    JOIN pg_class ic ON ic.oid = i.indexrelid
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c2
                      WHERE c2.conindid = i.indexrelid AND c2.conrelid = d.oid
                        AND c2.contype IN ('p', 'u', 'x'))
      AND (d.ws IS NULL OR NOT (d.ws = ANY (i.indkey::int2[])))
    UNION ALL
    SELECT 'foreign key without workspace_id', fk.from_table, fk.name, pg_get_constraintdef(fk.oid)
    FROM foreign_keys fk
    WHERE fk.from_placement = 'distributed' AND fk.to_placement = 'distributed'
      AND NOT EXISTS (SELECT 1 FROM generate_subscripts(fk.conkey, 1) AS k
                      WHERE fk.conkey[k] = fk.from_ws AND fk.confkey[k] = fk.to_ws)
    UNION ALL
    SELECT 'foreign key sets NULL on delete', fk.from_table, fk.name, pg_get_constraintdef(fk.oid)
    FROM foreign_keys fk
    WHERE fk.from_placement = 'distributed' AND fk.to_placement = 'distributed'
      AND fk.confdeltype IN ('n', 'd')
    UNION ALL
    SELECT 'foreign key from reference table', fk.from_table, fk.name, pg_get_constraintdef(fk.oid)
    FROM foreign_keys fk
    WHERE fk.from_placement = 'reference' AND fk.to_placement = 'distributed'
    UNION ALL
    SELECT 'foreign key to coordinator table', fk.from_table, fk.name, pg_get_constraintdef(fk.oid)
    FROM foreign_keys fk
    WHERE fk.from_placement IN ('distributed', 'reference') AND fk.to_placement = 'coordinator'
    UNION ALL
    SELECT 'identity not bigint', d.table_name, a.attname::text, format_type(a.atttypid, a.atttypmod)
    FROM distributed d
    JOIN pg_attribute a ON a.attrelid = d.oid AND a.attidentity <> '' AND NOT a.attisdropped
    WHERE a.atttypid <> 'bigint'::regtype
)
SELECT problem, table_name, name, detail
FROM problems
ORDER BY problem, table_name, name;
