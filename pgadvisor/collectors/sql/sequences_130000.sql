-- From the pg_sequence catalog, not the pg_sequences view: its last_value calls pg_sequence_last_value(), which
-- takes ROW EXCLUSIVE on the sequence and would wait behind ALTER SEQUENCE (SHARE ROW EXCLUSIVE). Here it is
-- called only for readable sequences on which no session holds or awaits a mode that conflicts with it.
WITH locked AS (
    SELECT l.relation FROM pg_locks l
    WHERE l.locktype = 'relation'
      AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT current_database()::text AS database,
       n.nspname::text AS schema, c.relname::text AS name, format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart AS start_value, s.seqmin AS min_value, s.seqmax AS max_value, s.seqincrement AS increment_by,
       s.seqcycle AS cycle,
       CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE') AND c.oid NOT IN (SELECT relation FROM locked)
            THEN pg_sequence_last_value(c.oid) END AS last_value,
       has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
       own.owned_by, own.owner_column_type
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
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
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_temp_'
ORDER BY n.nspname, c.relname
