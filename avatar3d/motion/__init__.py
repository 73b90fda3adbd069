"""motion layer."""
