SELECT pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       extract(epoch FROM pg_last_xact_replay_timestamp())::float8 AS last_replay_time,
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0::float8
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS replay_lag_s,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS replay_lag_bytes,
-- if version >= 140000
       pg_get_wal_replay_pause_state() <> 'not paused' AS replay_paused,
-- else
       pg_is_wal_replay_paused() AS replay_paused,
-- end
       (SELECT w.status FROM pg_stat_wal_receiver w) AS receiver_status,
       (SELECT w.sender_host FROM pg_stat_wal_receiver w) AS sender_host,
       (SELECT setting::float8 / 1000 FROM pg_settings WHERE name = 'recovery_min_apply_delay') AS min_apply_delay_s
