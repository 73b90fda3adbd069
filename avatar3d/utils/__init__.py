"""Layer 0: errors, atomic writes, logging, config loading, safe file handling."""

from avatar3d.utils.errors import UserError

__all__ = ["UserError"]
