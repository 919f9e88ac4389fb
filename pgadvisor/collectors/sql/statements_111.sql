SELECT s.queryid AS queryid, d.datname::text AS database, r.rolname::text AS "user", s.userid::int8 AS userid,
       s.toplevel AS toplevel,
       coalesce(s.query, '') AS query, s.calls,
       s.total_exec_time::float8 AS total_exec_ms,
       s.mean_exec_time::float8 AS mean_exec_ms,
       s.stddev_exec_time::float8 AS stddev_exec_ms,
       s.min_exec_time::float8 AS min_exec_ms,
       s.max_exec_time::float8 AS max_exec_ms,
       s.plans, s.total_plan_time::float8 AS total_plan_ms,
       s.rows, s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
       s.temp_blks_read, s.temp_blks_written,
       s.shared_blk_read_time::float8 AS blk_read_ms, s.shared_blk_write_time::float8 AS blk_write_ms,
       s.temp_blk_write_time::float8 AS temp_blk_write_ms,
       s.wal_records, s.wal_fpi, s.wal_bytes::float8 AS wal_bytes,
       (s.jit_generation_time + s.jit_inlining_time + s.jit_optimization_time + s.jit_emission_time)::float8 AS jit_ms
FROM {schema}.pg_stat_statements(true) s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.queryid IS NOT NULL
