WITH locked AS (
    SELECT l.relation FROM pg_locks l
    WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT current_database()::text AS database,
       n.nspname::text AS schema, c.relname::text AS "table", con.conname::text AS name,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
       rn.nspname::text AS ref_schema, rc.relname::text AS ref_table,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::float8 END AS child_rows,
       CASE WHEN c.oid IN (SELECT relation FROM locked)
            THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_relation_size(c.oid) END AS child_bytes,
       coalesce(ps.n_tup_upd + ps.n_tup_del, 0) AS parent_writes,
       c.relkind = 'p' AS is_partitioned,
       con.convalidated AS validated
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_stat_user_tables ps ON ps.relid = con.confrelid
WHERE con.contype = 'f' AND con.conparentid = 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY n.nspname, c.relname, con.conname
