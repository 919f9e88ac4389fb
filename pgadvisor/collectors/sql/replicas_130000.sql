SELECT r.pid, coalesce(r.application_name, '') AS application_name, host(r.client_addr) AS client_addr,
       r.state, r.sync_state, r.sent_lsn::text AS sent_lsn, r.replay_lsn::text AS replay_lsn,
       extract(epoch FROM r.write_lag)::float8 AS write_lag_s,
       extract(epoch FROM r.flush_lag)::float8 AS flush_lag_s,
       extract(epoch FROM r.replay_lag)::float8 AS replay_lag_s,
       CASE WHEN r.replay_lsn IS NULL THEN NULL
            WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), r.replay_lsn)::bigint
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint END AS replay_lag_bytes,
       extract(epoch FROM r.reply_time)::float8 AS reply_time,
       age(r.backend_xmin) AS backend_xmin_age
FROM pg_stat_replication r
ORDER BY r.application_name, r.pid
