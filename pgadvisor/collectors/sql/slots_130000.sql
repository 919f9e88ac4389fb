SELECT s.slot_name::text AS name, s.plugin::text AS plugin, s.slot_type, s.database::text AS database,
       s.active, s.temporary, age(s.xmin) AS xmin_age, age(s.catalog_xmin) AS catalog_xmin_age,
       CASE WHEN s.restart_lsn IS NULL THEN NULL
            WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), s.restart_lsn)::bigint
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint END AS retained_bytes,
       s.wal_status, s.safe_wal_size,
-- if version >= 170000
       extract(epoch FROM s.inactive_since)::float8 AS inactive_since, s.invalidation_reason, s.conflicting
-- elif version >= 160000
       NULL::float8 AS inactive_since, NULL::text AS invalidation_reason, s.conflicting
-- else
       NULL::float8 AS inactive_since, NULL::text AS invalidation_reason, NULL::bool AS conflicting
-- end
FROM pg_replication_slots s
ORDER BY s.slot_name
