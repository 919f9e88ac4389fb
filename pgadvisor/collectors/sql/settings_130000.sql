SELECT name, setting, unit, vartype, source, boot_val, reset_val, pending_restart, NULL::float8 AS value
FROM pg_settings
ORDER BY name
