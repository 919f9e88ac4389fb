WITH locked AS (
    SELECT l.relation FROM pg_locks l
    WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
), bs AS (SELECT current_setting('block_size')::bigint AS b)
SELECT current_database()::text AS database,
       n.nspname::text AS schema, c.relname::text AS name, c.oid::bigint AS oid, c.relkind::text AS relkind,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::float8 END AS reltuples,
       c.relpages::bigint AS relpages,
       CASE WHEN c.oid IN (SELECT relation FROM locked) THEN c.relpages::bigint * bs.b
            ELSE pg_relation_size(c.oid) END AS size_bytes,
       CASE WHEN c.oid IN (SELECT relation FROM locked)
              OR c.reltoastrelid IN (SELECT relation FROM locked)
              OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indexrelid IN (SELECT relation FROM locked))
            THEN (c.relpages::bigint + coalesce((SELECT sum(ic.relpages) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid), 0)::bigint) * bs.b
            ELSE pg_total_relation_size(c.oid) END AS total_bytes,
       coalesce(s.n_live_tup, 0) AS n_live_tup, coalesce(s.n_dead_tup, 0) AS n_dead_tup,
       coalesce(s.n_mod_since_analyze, 0) AS n_mod_since_analyze,
       coalesce(s.n_ins_since_vacuum, 0) AS n_ins_since_vacuum,
       coalesce(s.seq_scan, 0) AS seq_scan, coalesce(s.seq_tup_read, 0) AS seq_tup_read,
       s.idx_scan, s.idx_tup_fetch,
       coalesce(s.n_tup_ins, 0) AS n_tup_ins, coalesce(s.n_tup_upd, 0) AS n_tup_upd,
       coalesce(s.n_tup_hot_upd, 0) AS n_tup_hot_upd, coalesce(s.n_tup_del, 0) AS n_tup_del,
       extract(epoch FROM s.last_vacuum)::float8 AS last_vacuum,
       extract(epoch FROM s.last_autovacuum)::float8 AS last_autovacuum,
       extract(epoch FROM s.last_analyze)::float8 AS last_analyze,
       extract(epoch FROM s.last_autoanalyze)::float8 AS last_autoanalyze,
       coalesce(s.vacuum_count, 0) AS vacuum_count, coalesce(s.autovacuum_count, 0) AS autovacuum_count,
       coalesce(s.analyze_count, 0) AS analyze_count, coalesce(s.autoanalyze_count, 0) AS autoanalyze_count,
-- if version >= 160000
       extract(epoch FROM s.last_seq_scan)::float8 AS last_seq_scan,
-- else
       NULL::float8 AS last_seq_scan,
-- end
       coalesce(c.reloptions, '{}')::text[] AS reloptions,
       CASE WHEN c.relkind IN ('r', 'm') THEN age(c.relfrozenxid) END AS frozenxid_age,
       CASE WHEN c.relkind IN ('r', 'm') THEN mxid_age(c.relminmxid) END AS minmxid_age,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_primary_key,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
CROSS JOIN bs
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
