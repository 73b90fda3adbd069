"""Layer 1: rasteriser ops (in progress)."""
