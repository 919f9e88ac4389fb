SELECT s.queryid AS queryid, d.datname::text AS database, r.rolname::text AS "user", s.userid::int8 AS userid,
-- if version >= 109
       s.toplevel AS toplevel,
-- else
       true AS toplevel,
-- end
       coalesce(s.query, '') AS query, s.calls,
-- if version >= 108
       s.total_exec_time::float8 AS total_exec_ms,
       s.mean_exec_time::float8 AS mean_exec_ms,
       s.stddev_exec_time::float8 AS stddev_exec_ms,
       s.min_exec_time::float8 AS min_exec_ms,
       s.max_exec_time::float8 AS max_exec_ms,
       s.plans, s.total_plan_time::float8 AS total_plan_ms,
-- else
       s.total_time::float8 AS total_exec_ms,
       s.mean_time::float8 AS mean_exec_ms,
       s.stddev_time::float8 AS stddev_exec_ms,
       s.min_time::float8 AS min_exec_ms,
       s.max_time::float8 AS max_exec_ms,
       NULL::bigint AS plans, NULL::float8 AS total_plan_ms,
-- end
       s.rows, s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written,
       s.temp_blks_read, s.temp_blks_written,
-- if version >= 111
       s.shared_blk_read_time::float8 AS blk_read_ms, s.shared_blk_write_time::float8 AS blk_write_ms,
-- else
       s.blk_read_time::float8 AS blk_read_ms, s.blk_write_time::float8 AS blk_write_ms,
-- end
-- if version >= 110
       s.temp_blk_write_time::float8 AS temp_blk_write_ms,
-- else
       NULL::float8 AS temp_blk_write_ms,
-- end
-- if version >= 108
       s.wal_records, s.wal_fpi, s.wal_bytes::float8 AS wal_bytes,
-- else
       NULL::bigint AS wal_records, NULL::bigint AS wal_fpi, NULL::float8 AS wal_bytes,
-- end
-- if version >= 110
       (s.jit_generation_time + s.jit_inlining_time + s.jit_optimization_time + s.jit_emission_time)::float8 AS jit_ms
-- else
       NULL::float8 AS jit_ms
-- end
FROM {schema}.pg_stat_statements(true) s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
WHERE s.queryid IS NOT NULL
