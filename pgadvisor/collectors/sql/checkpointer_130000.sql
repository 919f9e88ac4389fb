-- if version >= 170000
SELECT c.num_timed AS checkpoints_timed, c.num_requested AS checkpoints_requested,
       c.write_time::float8 AS write_time_ms, c.sync_time::float8 AS sync_time_ms,
       c.buffers_written AS buffers_checkpoint, b.buffers_clean, b.maxwritten_clean,
       NULL::bigint AS buffers_backend, b.buffers_alloc,
       extract(epoch FROM c.stats_reset)::float8 AS stats_reset
FROM pg_stat_checkpointer c CROSS JOIN pg_stat_bgwriter b
-- else
SELECT checkpoints_timed, checkpoints_req AS checkpoints_requested,
       checkpoint_write_time::float8 AS write_time_ms, checkpoint_sync_time::float8 AS sync_time_ms,
       buffers_checkpoint, buffers_clean, maxwritten_clean, buffers_backend, buffers_alloc,
       extract(epoch FROM stats_reset)::float8 AS stats_reset
FROM pg_stat_bgwriter
-- end
