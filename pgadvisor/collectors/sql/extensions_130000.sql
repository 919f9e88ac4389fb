SELECT current_database()::text AS database, e.extname::text AS name, n.nspname::text AS schema,
       e.extversion AS version, a.default_version
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
LEFT JOIN pg_available_extensions a ON a.name = e.extname
ORDER BY e.extname
