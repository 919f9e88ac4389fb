-- Who and what we are connected to.
SELECT current_setting('server_version_num')::int AS version_num,
       version() AS version,
       current_database()::text AS database,
       current_user::text AS current_user,
       coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) AS is_superuser,
       pg_has_role(current_user, 'pg_monitor', 'USAGE') AS has_pg_monitor,
       pg_is_in_recovery() AS in_recovery,
       extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time,
       extract(epoch FROM now())::float8 AS now,
       current_setting('block_size')::int AS block_size
