SELECT current_database()::text AS database,
       s.schemaname::text AS schema, s.sequencename::text AS name, format_type(s.data_type, NULL) AS data_type,
       s.start_value, s.min_value, s.max_value, s.increment_by, s.cycle, s.last_value,
       has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
       own.owned_by, own.owner_column_type
FROM pg_sequences s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename AND c.relkind = 'S'
LEFT JOIN LATERAL (
    SELECT tn.nspname || '.' || t.relname || '.' || a.attname AS owned_by,
           format_type(a.atttypid, a.atttypmod) AS owner_column_type
    FROM pg_depend d
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LIMIT 1
) own ON true
ORDER BY s.schemaname, s.sequencename
