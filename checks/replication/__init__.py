"""Built-in replication checks (RP*)."""
