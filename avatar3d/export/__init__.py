"""Layer 7: files for other tools (GLB, OBJ, PLY; later BVH, MP4)."""
