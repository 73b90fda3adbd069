"""Layer 2: camera -> clip space, shading, renderers composed of our rasteriser and a shader."""

from avatar3d.render.camera import camera_points_to_clip, intrinsics_from_fov, intrinsics_to_clip, world_to_clip
from avatar3d.render.renderer import Fragments, overlay, rasterize_world, render_textured, shade_lambert, soft_silhouette

__all__ = [
    "Fragments", "camera_points_to_clip", "intrinsics_from_fov", "intrinsics_to_clip", "overlay",
    "rasterize_world", "render_textured", "shade_lambert", "soft_silhouette", "world_to_clip",
]
