SELECT current_database()::text AS database, s.schemaname::text AS schema, s.tablename::text AS "table",
       s.attname::text AS "column", s.null_frac::float8 AS null_frac, s.avg_width::int AS avg_width,
       s.n_distinct::float8 AS n_distinct, s.correlation::float8 AS correlation,
       (SELECT max(f) FROM unnest(s.most_common_freqs) AS f)::float8 AS mcv_max_freq
FROM pg_stats s
WHERE NOT s.inherited
  AND s.schemaname NOT IN ('pg_catalog', 'information_schema')
  AND s.schemaname !~ '^pg_toast' AND s.schemaname !~ '^pg_temp_'
ORDER BY s.schemaname, s.tablename, s.attname
