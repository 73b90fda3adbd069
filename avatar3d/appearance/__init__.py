"""appearance layer."""
