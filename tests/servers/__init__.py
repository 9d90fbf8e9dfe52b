"""Local fake servers for tests (bind 127.0.0.1 only)."""
