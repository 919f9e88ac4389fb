"""pgadvisor: a live PostgreSQL health and optimization analyzer."""

__version__ = "0.1.0"
