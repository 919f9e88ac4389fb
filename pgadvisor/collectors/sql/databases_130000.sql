SELECT d.datname::text AS name, d.oid::bigint AS oid, d.datallowconn AS allow_connections,
       d.datconnlimit AS connection_limit,
       CASE WHEN has_database_privilege(d.oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE')
            THEN pg_database_size(d.oid) END AS size_bytes,
       age(d.datfrozenxid) AS frozenxid_age, mxid_age(d.datminmxid) AS minmxid_age,
       coalesce(s.numbackends, 0) AS numbackends, coalesce(s.xact_commit, 0) AS xact_commit,
       coalesce(s.xact_rollback, 0) AS xact_rollback, coalesce(s.blks_read, 0) AS blks_read,
       coalesce(s.blks_hit, 0) AS blks_hit, coalesce(s.temp_files, 0) AS temp_files,
       coalesce(s.temp_bytes, 0) AS temp_bytes, coalesce(s.deadlocks, 0) AS deadlocks,
       coalesce(s.conflicts, 0) AS conflicts, s.checksum_failures,
       extract(epoch FROM s.stats_reset)::float8 AS stats_reset,
-- if version >= 140000
       s.sessions, s.session_time::float8 AS session_time_ms
-- else
       NULL::bigint AS sessions, NULL::float8 AS session_time_ms
-- end
FROM pg_database d
LEFT JOIN pg_stat_database s ON s.datid = d.oid
ORDER BY d.datname
