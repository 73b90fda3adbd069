"""avatar layer."""
