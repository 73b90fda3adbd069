"""A renderer = our rasteriser + a shader (in the spirit of PyTorch3D's MeshRenderer).

Everything is differentiable where it says so; images are ``[B, H, W, C]`` float in [0, 1],
row 0 at the top (DESIGN.md pixel convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avatar3d import ops
from avatar3d.core import Camera
from avatar3d.core.geometry import seam_split, vertex_normals
from avatar3d.render.camera import DEFAULT_FAR_M, DEFAULT_NEAR_M, world_to_clip

#: Light direction (world, pointing *towards* the light): front, above, a little to the left.
DEFAULT_LIGHT_DIR = (0.3, 0.6, 0.75)
AMBIENT = 0.35


@dataclass(frozen=True)
class Fragments:
    """Rasteriser output for a batch of views.

    Attributes:
        rast: ``[B, H, W, 4]`` (u, v, z/w, triangle_id + 1) from :func:`avatar3d.ops.rasterize`.
        pos_clip: ``[B, V, 4]`` clip positions that produced it.
        faces: ``[F, 3]`` int32 faces.
    """

    rast: torch.Tensor
    pos_clip: torch.Tensor
    faces: torch.Tensor

    @property
    def coverage(self) -> torch.Tensor:
        """``[B, H, W]`` 1 where a triangle covers the pixel centre, else 0 (no gradient)."""
        return (self.rast[..., 3] > 0).to(self.rast.dtype)


def rasterize_world(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera,
                    near: float = DEFAULT_NEAR_M, far: float = DEFAULT_FAR_M) -> Fragments:
    """Rasterise ``[B, V, 3]`` (or ``[V, 3]``) world-frame vertices seen by ``camera``."""
    if vertices.dim() == 2:
        vertices = vertices[None]
    pos_clip = world_to_clip(vertices, camera, near, far).contiguous()
    faces32 = faces.to(torch.int32).contiguous()
    rast = ops.rasterize(pos_clip, faces32, (camera.height, camera.width))
    return Fragments(rast=rast, pos_clip=pos_clip, faces=faces32)


def soft_silhouette(fragments: Fragments) -> torch.Tensor:
    """``[B, H, W]`` antialiased coverage whose gradient moves silhouette edges (for fitting)."""
    coverage = fragments.coverage[..., None].contiguous()
    return ops.antialias(coverage, fragments.rast, fragments.pos_clip, fragments.faces)[..., 0]


def shade_lambert(fragments: Fragments, vertices: torch.Tensor, albedo: torch.Tensor,
                  light_dir: tuple[float, float, float] = DEFAULT_LIGHT_DIR, two_sided: bool = True) -> torch.Tensor:
    """``[B, H, W, 3]`` Lambert-shaded colour; ``albedo`` is ``[B, H, W, 3]`` per pixel."""
    normals = ops.interpolate(vertex_normals(vertices, fragments.faces).contiguous(), fragments.rast, fragments.faces)
    light = torch.nn.functional.normalize(torch.tensor(light_dir, dtype=normals.dtype), dim=0)
    cos = (normals * light).sum(-1, keepdim=True)
    cos = cos.abs() if two_sided else cos.clamp_min(0.0)
    return albedo * (AMBIENT + (1.0 - AMBIENT) * cos)


def render_textured(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                    texture_image: torch.Tensor, camera: Camera, background: torch.Tensor | None = None,
                    shade: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a UV-textured mesh; returns (rgb ``[B, H, W, 3]``, alpha ``[B, H, W]``).

    ``texture_image``: ``[Ht, Wt, 3]`` float in [0, 1] (glTF UVs: v down); ``background``:
    ``[3]`` or ``[B, H, W, 3]`` (default black); edges are antialiased against it.  UV seams are
    handled by rasterising a seam-split copy of the mesh (one UV per vertex).
    """
    if vertices.dim() == 2:
        vertices = vertices[None]
    split_vertices, split_faces, split_uvs = split_for_uvs(vertices, faces, uvs, face_uvs)
    fragments = rasterize_world(split_vertices, split_faces, camera)
    uv = ops.interpolate(split_uvs.expand(split_vertices.shape[0], -1, -1).contiguous(), fragments.rast, fragments.faces)
    tex = texture_image.to(uv.dtype)[None].expand(uv.shape[0], -1, -1, -1).contiguous()
    albedo = ops.texture(tex, uv.contiguous(), filter="bilinear", boundary="clamp")
    rgb = shade_lambert(fragments, split_vertices, albedo) if shade else albedo
    alpha = fragments.coverage
    background = torch.zeros(3) if background is None else background
    rgb = rgb * alpha[..., None] + background.to(rgb) * (1 - alpha[..., None])
    rgb = ops.antialias(rgb.contiguous(), fragments.rast, fragments.pos_clip, fragments.faces)
    return rgb, alpha


def split_for_uvs(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One vertex per distinct (position, uv) corner pair: ``[B, V', 3]``, ``[F, 3]``, ``[1, V', 2]``."""
    position, split_faces, uv = seam_split(faces, face_uvs)
    return vertices[:, position], split_faces, uvs[uv][None]


def overlay(image: torch.Tensor, rendered: torch.Tensor, alpha: torch.Tensor, opacity: float = 0.6) -> torch.Tensor:
    """Blend ``[H, W, 3]`` rendered colours over ``[H, W, 3]`` image where ``alpha`` ``[H, W]`` > 0."""
    a = (alpha * opacity)[..., None]
    return image * (1 - a) + rendered * a
