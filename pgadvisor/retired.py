"""Check codes that were retired. A code is never reused: config naming one gets a clear message."""

RETIRED: dict[str, str] = {}
