"""A full-body UV texture from one photo, through our rasteriser.

1. Bake: rasterise the mesh in UV space (UVs as clip positions) to get every texel's triangle
   and barycentrics, hence its point on the fitted (posed) body; project it into the photo.
2. Visibility: a texel takes the photo's colour only where its point is the front-most surface
   (depth test against a camera-view raster), faces the camera, and lies inside the person mask;
   the weight fades with the viewing angle so grazing, stretched samples do not dominate.
3. Completion on the mesh, not in UV space (so no seams): per-vertex colours from the visible
   texels, then each unseen vertex takes its left/right mirror vertex's colour where that was
   seen, then harmonic diffusion over the mesh graph fills the rest (e.g. the back) with colours
   continuous with the visible side.
4. Compose: the completed colour field (rasterised in UV space) under the projected detail,
   blended by the visibility weight; then empty texels around UV islands are dilated so
   bilinear filtering never reads black.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avatar3d import ops
from avatar3d.core import Camera
from avatar3d.render import rasterize_world
from avatar3d.core.geometry import unique_pairs, vertex_normals

#: Texels facing the camera more obliquely than this (cosine) are not taken from the photo.
MIN_FACING_COS = 0.25
#: Depth tolerance of the visibility test, in NDC depth units relative to the texel's own depth.
DEPTH_TOLERANCE = 2e-3


@dataclass(frozen=True)
class TextureConfig:
    """Settings of :func:`bake_texture`."""

    size: int = 1024
    diffusion_iterations: int = 200
    dilation_pixels: int = 8
    detail_blend_power: float = 1.0


@dataclass(frozen=True)
class BakedTexture:
    """A baked texture and how much of it came from the photo.

    Attributes:
        image: ``[S, S, 3]`` float RGB in [0, 1] (glTF UVs: v down).
        seen_fraction: fraction of the body's texels taken from the photo.
        vertex_colors: ``[V, 3]`` the completed per-vertex colours.
    """

    image: torch.Tensor
    seen_fraction: float
    vertex_colors: torch.Tensor


def uv_raster(uvs: torch.Tensor, face_uvs: torch.Tensor, size: int) -> torch.Tensor:
    """``[1, S, S, 4]`` raster of the UV layout: each texel's (barycentrics, -, triangle id + 1)."""
    pos = torch.cat((uvs * 2.0 - 1.0, torch.zeros_like(uvs[:, :1]), torch.ones_like(uvs[:, :1])), dim=1)
    return ops.rasterize(pos.float().contiguous(), face_uvs.to(torch.int32).contiguous(), (size, size))


def mesh_adjacency(faces: torch.Tensor, num_vertices: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Undirected vertex adjacency as (rows, cols) int64 index pairs (each edge both ways)."""
    f = faces.long()
    edges = torch.cat((f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]))
    edges = torch.cat((edges, edges.flip(1)))
    rows, cols, _ = unique_pairs(edges[:, 0], edges[:, 1])
    return rows, cols


def diffuse(values: torch.Tensor, known: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, iterations: int) -> torch.Tensor:
    """Harmonic fill: unknown vertices converge to the mean of their neighbours; known stay fixed.

    ``values`` ``[V, C]``; ``known`` ``[V]`` bool.  Unknown vertices start from the mean of the
    known ones, so isolated components still get a plausible colour.
    """
    out = values.clone()
    if bool(known.any()):
        out[~known] = values[known].mean(0)
    degree = torch.zeros(values.shape[0], dtype=values.dtype).index_add_(0, rows, torch.ones_like(rows, dtype=values.dtype))
    for _ in range(iterations):
        summed = torch.zeros_like(out).index_add_(0, rows, out[cols])
        averaged = summed / degree.clamp_min(1)[:, None]
        out = torch.where(known[:, None], values, averaged)
    return out


def mirror_vertex_map(rest_vertices: torch.Tensor) -> torch.Tensor:
    """``[V]`` index of each vertex's left/right mirror (x -> -x) on a symmetric rest mesh."""
    from scipy.spatial import cKDTree

    points = rest_vertices.detach().cpu().double().numpy()
    _, index = cKDTree(points).query(points * [-1.0, 1.0, 1.0])
    return torch.as_tensor(index, dtype=torch.long)


def front_vertex_map(rest_vertices: torch.Tensor, rest_normals: torch.Tensor) -> torch.Tensor:
    """``[V]`` for each vertex, the front-facing vertex (normal z > 0) nearest in (x, y) at rest:
    the point on the front of the body "behind" which it lies.  Clothing continues round the
    body, so the back takes the front's colours (the head is excluded by the caller)."""
    from scipy.spatial import cKDTree

    pts = rest_vertices.detach().cpu().double().numpy()
    front = (rest_normals[:, 2] > 0.2).cpu().numpy()
    candidates = front.nonzero()[0]
    _, nearest = cKDTree(pts[candidates][:, :2]).query(pts[:, :2])
    return torch.as_tensor(candidates[nearest], dtype=torch.long)


def dilate(image: torch.Tensor, filled: torch.Tensor, pixels: int) -> torch.Tensor:
    """Grow filled texels of ``[S, S, 3]`` into empty neighbours, ``pixels`` rings deep."""
    img, have = image.clone(), filled.clone().float()
    for _ in range(pixels):
        pooled = torch.nn.functional.avg_pool2d((img * have[..., None]).permute(2, 0, 1)[None], 3, 1, 1)[0].permute(1, 2, 0)
        count = torch.nn.functional.avg_pool2d(have[None, None], 3, 1, 1)[0, 0]
        grow = (have == 0) & (count > 0)
        img[grow] = pooled[grow] / count[grow][:, None]
        have = torch.where(grow, torch.ones_like(have), have)
    return img


def bake_texture(image: torch.Tensor, mask: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                 uvs: torch.Tensor, face_uvs: torch.Tensor, camera: Camera, rest_vertices: torch.Tensor,
                 head_vertices: torch.Tensor | None = None, config: TextureConfig | None = None) -> BakedTexture:
    """Bake a complete UV texture of the fitted body from the photo.

    Args:
        image: ``[H, W, 3]`` float RGB in [0, 1]; mask: ``[H, W]`` person probability.
        vertices: ``[V, 3]`` fitted body, world frame of ``camera``; faces ``[F, 3]``.
        uvs, face_uvs: the body's UV layout (glTF convention).
        rest_vertices: ``[V, 3]`` the body at rest, world frame (for the mirror maps).
        head_vertices: ``[V]`` bool, vertices of the head (never filled from the front: a face
            copied onto the back of the head would be wrong; they are diffused instead).
    """
    config = config or TextureConfig()
    size = config.size
    dtype = torch.float32
    vertices = vertices.to(dtype)
    faces32 = faces.to(torch.int32).contiguous()
    # 1. texel -> point on the body -> pixel
    uvr = uv_raster(uvs, face_uvs, size)
    texel_tri = uvr[0, ..., 3].long() - 1
    covered = texel_tri >= 0
    cam_points = camera.world_to_camera(vertices)
    points = ops.interpolate(cam_points[None].contiguous(), uvr, faces32)[0]  # [S, S, 3]
    proj = camera.project(points)
    # 2. visibility: depth test against the camera raster, facing, inside the mask
    frags = rasterize_world(vertices[None], faces, camera)
    depth_map = frags.rast[0, ..., 2]
    hit = frags.rast[0, ..., 3] > 0
    h, w = depth_map.shape
    col = proj[..., 0].floor().long()
    row = proj[..., 1].floor().long()
    inside = covered & (col >= 0) & (col < w) & (row >= 0) & (row < h) & (points[..., 2] > 0)
    col_c, row_c = col.clamp(0, w - 1), row.clamp(0, h - 1)
    from avatar3d.render.camera import camera_points_to_clip

    clip = camera_points_to_clip(points, camera)
    texel_depth = clip[..., 2] / clip[..., 3].clamp_min(1e-6)
    visible = inside & hit[row_c, col_c] & (texel_depth <= depth_map[row_c, col_c] + DEPTH_TOLERANCE)
    normals_v = vertex_normals(cam_points[None], faces)[0]
    normals = torch.nn.functional.normalize(ops.interpolate(normals_v[None].contiguous(), uvr, faces32)[0], dim=-1)
    view = torch.nn.functional.normalize(-points, dim=-1)
    facing = (normals * view).sum(-1)
    in_mask = mask.to(dtype)[row_c, col_c]
    weight = torch.where(visible, ((facing - MIN_FACING_COS) / (1 - MIN_FACING_COS)).clamp(0, 1) * in_mask, torch.zeros_like(facing))
    weight = weight ** config.detail_blend_power
    # sample the photo (bilinear) at every texel's projection
    uv_img = torch.stack((proj[..., 0] / w, proj[..., 1] / h), dim=-1)
    photo = ops.texture(image.to(dtype)[None].contiguous(), uv_img[None].contiguous(), filter="bilinear", boundary="clamp")[0]
    # 3. per-vertex colours from seen texels (weighted splat to the triangle's corners)
    bary = torch.stack((1 - uvr[0, ..., 0] - uvr[0, ..., 1], uvr[0, ..., 0], uvr[0, ..., 1]), dim=-1)
    sel = weight > 0.05
    tri = texel_tri[sel]
    wts = (bary[sel] * weight[sel][:, None]).reshape(-1)
    corner_vertices = faces.long()[tri].reshape(-1)
    num_v = vertices.shape[0]
    acc = torch.zeros(num_v, 3, dtype=dtype).index_add_(0, corner_vertices, (photo[sel][:, None, :].expand(-1, 3, -1).reshape(-1, 3)) * wts[:, None])
    wsum = torch.zeros(num_v, dtype=dtype).index_add_(0, corner_vertices, wts)
    known = wsum > 0.2
    colors = torch.where(known[:, None], acc / wsum.clamp_min(1e-6)[:, None], torch.zeros_like(acc))
    mirror = mirror_vertex_map(rest_vertices.to(dtype))
    from_mirror = (~known) & known[mirror]
    colors[from_mirror] = colors[mirror[from_mirror]]
    known = known | from_mirror
    rest_normals = vertex_normals(rest_vertices.to(dtype)[None], faces)[0]
    front = front_vertex_map(rest_vertices, rest_normals)
    from_front = (~known) & known[front] & (rest_normals[:, 2] < 0)
    if head_vertices is not None:
        from_front &= ~head_vertices
    colors[from_front] = colors[front[from_front]]
    known = known | from_front
    rows, cols = mesh_adjacency(faces, num_v)
    colors = diffuse(colors, known, rows, cols, config.diffusion_iterations)
    # 4. compose in UV space: completed field under projected detail, then dilate
    base = ops.interpolate(colors[None].contiguous(), uvr, faces32)[0]
    blend = weight[..., None]
    tex = base * (1 - blend) + photo * blend
    tex = torch.where(covered[..., None], tex, torch.zeros_like(tex))
    tex = dilate(tex, covered, config.dilation_pixels)
    seen = float((weight > 0.05).sum()) / max(float(covered.sum()), 1.0)
    return BakedTexture(image=tex.clamp(0, 1), seen_fraction=seen, vertex_colors=colors)

