"""Layer 6: the Avatar - a fitted, textured, rigged body to pose, animate and export."""

from avatar3d.avatar.build import Avatar, build_avatar, with_texture

__all__ = ["Avatar", "build_avatar", "with_texture"]
