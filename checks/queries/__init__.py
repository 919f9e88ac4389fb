"""Built-in query checks (QR*)."""
