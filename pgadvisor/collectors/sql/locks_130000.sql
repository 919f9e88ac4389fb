SELECT l.pid, l.locktype, d.datname::text AS database,
       CASE WHEN l.relation IS NULL THEN NULL
            WHEN l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN (SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.oid = l.relation)
            ELSE l.relation::text END AS relation,
-- if version >= 140000
       l.mode, l.granted, extract(epoch FROM l.waitstart)::float8 AS wait_start
-- else
       l.mode, l.granted, NULL::float8 AS wait_start
-- end
FROM pg_locks l
LEFT JOIN pg_database d ON d.oid = l.database
WHERE (l.locktype = 'relation' OR NOT l.granted) AND l.pid IS DISTINCT FROM pg_backend_pid()
ORDER BY l.pid
