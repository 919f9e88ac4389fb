SELECT current_database()::text AS database, n.nspname::text AS schema, c.relname::text AS "table",
       a.attname::text AS "column", o.oprname::text AS operator, q.constvalue::text AS constvalue,
       q.eval_type::text AS eval_type, sum(q.execution_count)::bigint AS execution_count,
       sum(q.nbfiltered)::bigint AS nbfiltered, min(q.queryid) AS queryid
FROM {schema}.pg_qualstats q
JOIN pg_class c ON c.oid = q.lrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = q.lrelid AND a.attnum = q.lattnum
JOIN pg_operator o ON o.oid = q.opno
WHERE q.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND q.rrelid IS NULL AND q.lrelid IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7
ORDER BY sum(q.execution_count) DESC
LIMIT 1000
