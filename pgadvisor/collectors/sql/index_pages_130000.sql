SELECT n.nspname::text AS schema, t.relname::text AS "table", ic.relname::text AS name, ic.oid::bigint AS oid, ic.relpages::bigint AS relpages,
       CASE WHEN ic.reltuples < 0 THEN NULL ELSE ic.reltuples::float8 END AS reltuples,
       coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int FROM unnest(ic.reloptions) AS o
                 WHERE o LIKE 'fillfactor=%'), 90) AS fillfactor,
       i.indnatts::int AS natts, i.indexprs IS NOT NULL AS has_expressions,
       ARRAY(SELECT a.attname::text FROM generate_series(0, i.indnatts - 1) AS k(pos)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.pos]
             ORDER BY k.pos) AS columns,
       ic.oid IN (SELECT l.relation FROM pg_locks l WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS locked
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = ic.relam
WHERE am.amname = 'btree' AND ic.relkind = 'i' AND i.indisvalid AND i.indisready
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
ORDER BY ic.relpages DESC
