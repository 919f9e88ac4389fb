"""Built-in index checks (IX*)."""
