WITH locked AS (
    SELECT l.relation FROM pg_locks l
    WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT current_database()::text AS database,
       n.nspname::text AS schema, t.relname::text AS "table", ic.relname::text AS name, ic.oid::bigint AS oid,
       am.amname::text AS method,
       ARRAY(SELECT a.attname::text
             FROM generate_series(0, i.indnkeyatts - 1) AS k(pos)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.pos] AND i.indkey[k.pos] <> 0
             ORDER BY k.pos) AS columns,
       ARRAY(SELECT a.attname::text
             FROM generate_series(i.indnkeyatts, i.indnatts - 1) AS k(pos)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.pos]
             ORDER BY k.pos) AS include_columns,
       ARRAY(SELECT opc.opcname::text
             FROM generate_series(0, i.indnkeyatts - 1) AS k(pos)
             JOIN pg_opclass opc ON opc.oid = i.indclass[k.pos]
             ORDER BY k.pos) AS opclasses,
       ARRAY(SELECT coll.collname::text
             FROM generate_series(0, i.indnkeyatts - 1) AS k(pos)
             LEFT JOIN pg_collation coll ON coll.oid = i.indcollation[k.pos]
             ORDER BY k.pos) AS collations,
       ARRAY(SELECT i.indoption[k.pos]::int FROM generate_series(0, i.indnkeyatts - 1) AS k(pos) ORDER BY k.pos)
           AS options,
       -- pg_get_expr() and pg_get_indexdef() open the table (ACCESS SHARE): not for a locked one
       CASE WHEN t.oid IN (SELECT relation FROM locked) OR ic.oid IN (SELECT relation FROM locked) THEN NULL
            ELSE pg_get_expr(i.indexprs, i.indrelid) END AS expressions,
       CASE WHEN t.oid IN (SELECT relation FROM locked) OR ic.oid IN (SELECT relation FROM locked) THEN NULL
            ELSE pg_get_expr(i.indpred, i.indrelid) END AS predicate,
       i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisexclusion AS is_exclusion,
       i.indisvalid AS is_valid, i.indisready AS is_ready, i.indisreplident AS is_replident,
       ic.relkind = 'I' AS is_partitioned,
       con.conname::text AS constraint_name, con.contype::text AS constraint_type,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
           AS build_in_progress,
       coalesce(s.idx_scan, 0) AS idx_scan, coalesce(s.idx_tup_read, 0) AS idx_tup_read,
       coalesce(s.idx_tup_fetch, 0) AS idx_tup_fetch,
-- if version >= 160000
       extract(epoch FROM s.last_idx_scan)::float8 AS last_idx_scan,
-- else
       NULL::float8 AS last_idx_scan,
-- end
       CASE WHEN ic.oid IN (SELECT relation FROM locked)
            THEN ic.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_relation_size(ic.oid) END AS size_bytes,
       CASE WHEN ic.reltuples < 0 THEN NULL ELSE ic.reltuples::float8 END AS reltuples,
       CASE WHEN t.oid IN (SELECT relation FROM locked) OR ic.oid IN (SELECT relation FROM locked) THEN NULL
            ELSE pg_get_indexdef(i.indexrelid) END AS definition,
       obj_description(ic.oid, 'pg_class') AS comment
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con
       ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE t.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY n.nspname, t.relname, ic.relname
