"""Tests of the query checks (QR*), the keyset rewrite on a real server and `pgadvisor explain`."""
