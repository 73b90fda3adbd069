"""encoder layer."""
