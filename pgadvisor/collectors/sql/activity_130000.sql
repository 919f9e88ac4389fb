SELECT a.pid, a.datname::text AS database, a.usename::text AS "user",
       coalesce(a.application_name, '') AS application_name, host(a.client_addr) AS client_addr,
       coalesce(a.backend_type, '') AS backend_type, a.state,
       extract(epoch FROM a.backend_start)::float8 AS backend_start,
       extract(epoch FROM a.xact_start)::float8 AS xact_start,
       extract(epoch FROM a.query_start)::float8 AS query_start,
       extract(epoch FROM a.state_change)::float8 AS state_change,
       a.wait_event_type, a.wait_event,
       age(a.backend_xid) AS backend_xid_age, age(a.backend_xmin) AS backend_xmin_age,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) ELSE '{}'::int[] END AS blocked_by,
       a.query
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid()
ORDER BY a.pid
