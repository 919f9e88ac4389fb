SELECT checkpoints_timed, checkpoints_req AS checkpoints_requested,
       checkpoint_write_time::float8 AS write_time_ms, checkpoint_sync_time::float8 AS sync_time_ms,
       buffers_checkpoint, buffers_clean, maxwritten_clean, buffers_backend, buffers_alloc,
       extract(epoch FROM stats_reset)::float8 AS stats_reset
FROM pg_stat_bgwriter
