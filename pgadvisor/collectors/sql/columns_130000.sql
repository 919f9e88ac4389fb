SELECT current_database()::text AS database,
       n.nspname::text AS schema, c.relname::text AS "table", a.attname::text AS name, a.attnum::int AS attnum,
       format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::bigint AS type_oid,
       a.attnotnull AS not_null, a.atthasdef AS has_default,
       nullif(a.attidentity, '')::text AS identity, nullif(a.attgenerated, '')::text AS generated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'm', 'v', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'
ORDER BY n.nspname, c.relname, a.attnum
