"""Clothing and hair silhouette as per-vertex offsets along the body's normals.

The fitted body is unclothed; the person mask includes clothes and hair.  For every vertex on
the fitted body's visible silhouette we measure, in the photo, how far the person mask extends
beyond it along the vertex's projected normal (marching pixel by pixel), and convert that
distance to metres with the vertex's depth.  These measurements are robustified (a one-ring
median), then completed over the whole mesh by harmonic diffusion - thickness seen at the
silhouette continues round the body - with hands and face pinned at zero (clothes rarely cover
them and keypoints already place them).  The offsets are applied along the *rest* normals of the
rest mesh and skinned with the body's weights, so the clothes move with the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avatar3d.appearance.texture import diffuse, mesh_adjacency
from avatar3d.core import Camera
from avatar3d.render import rasterize_world
from avatar3d.render.crop import person_crop
from avatar3d.core.geometry import vertex_normals

#: A vertex is on the contour generator when |normal . view| is below this.
CONTOUR_COS = 0.3


@dataclass(frozen=True)
class ClothingConfig:
    """Settings of :func:`fit_clothing_offsets`.

    Attributes:
        max_offset_m: largest offset measured (beyond it the mask is something else: a bag, a
            second person, a table).
        silhouette_size: resolution of the crop the silhouette is measured on.
        completion_iterations: harmonic-diffusion sweeps filling unseen vertices.
        shrink: measured offsets are scaled by this (< 1: a margin against mask bleeding).
    """

    max_offset_m: float = 0.12
    silhouette_size: int = 256
    completion_iterations: int = 150
    shrink: float = 0.9


def fit_clothing_offsets(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, mask: torch.Tensor,
                         bbox: tuple[float, float, float, float], protected: torch.Tensor | None = None,
                         config: ClothingConfig | None = None) -> tuple[torch.Tensor, float, float]:
    """Offsets ``[V]`` (metres, >= 0) and the silhouette IoU (on the person crop) before/after.

    Args:
        vertices: ``[V, 3]`` the fitted posed body (world frame of ``camera``); faces ``[F, 3]``.
        mask: ``[H, W]`` person mask of the photo; bbox: the person's (u0, v0, u1, v1).
        protected: ``[V]`` bool vertices kept at zero offset (hands, face).
    """
    config = config or ClothingConfig()
    dtype = torch.float32
    vertices = vertices.detach().to(dtype)
    crop = person_crop(camera, mask, bbox, config.silhouette_size, dtype)
    cam = crop.camera
    normals = vertex_normals(vertices[None], faces)[0]
    frags = rasterize_world(vertices[None], faces, cam)
    body = frags.coverage[0] > 0
    size = config.silhouette_size
    # contour vertices that are visible: projected inside the crop, next to empty body pixels
    points = cam.world_to_camera(vertices)
    uv = cam.project(points)
    tip = cam.project(cam.world_to_camera(vertices + 0.01 * normals))
    direction = torch.nn.functional.normalize(tip - uv, dim=-1)
    view = torch.nn.functional.normalize(cam.center.to(vertices) - vertices, dim=-1)
    contour = (normals * view).sum(-1).abs() < CONTOUR_COS
    px_per_m = cam.K[0, 0] / points[:, 2].clamp_min(1e-3)
    max_steps = int(float((config.max_offset_m * px_per_m).max().clamp(1, size)))
    # march along the projected normal: first step off the body, then while the mask continues
    step = torch.arange(1, max_steps + 1, dtype=dtype)
    path = uv[:, None, :] + direction[:, None, :] * step[None, :, None]  # [V, S, 2]
    col = path[..., 0].floor().long().clamp(0, size - 1)
    row = path[..., 1].floor().long().clamp(0, size - 1)
    inside = (path[..., 0] >= 0) & (path[..., 0] < size) & (path[..., 1] >= 0) & (path[..., 1] < size)
    on_body = body[row, col] & inside
    in_mask = (crop.mask[row, col] > 0.5) & inside
    valid_px = (crop.valid[row, col] > 0.5) | ~inside
    # visible contour: within 2 px the march leaves the body
    leaves_body = (~on_body[:, :2]).any(dim=1)
    measured = contour & leaves_body & valid_px.all(dim=1)
    # distance = number of consecutive mask pixels after leaving the body
    outside_body = ~on_body
    cover = (in_mask & outside_body).to(dtype)
    first_gap = torch.cumprod(cover + (~outside_body).to(dtype), dim=1)  # 1 until the mask ends
    extent_px = first_gap.sum(dim=1) - (~outside_body).to(dtype).sum(dim=1)
    offsets_m = (extent_px / px_per_m).clamp(0, config.max_offset_m) * config.shrink
    known = measured.clone()
    values = torch.where(measured, offsets_m, torch.zeros_like(offsets_m))
    rows, cols = mesh_adjacency(faces, vertices.shape[0])
    values = _ring_median(values, known, rows, cols)
    if protected is not None:
        values = torch.where(protected, torch.zeros_like(values), values)
        known = known | protected
    offsets = diffuse(values[:, None], known, rows, cols, config.completion_iterations)[:, 0].clamp_min(0)

    def iou_of(d: torch.Tensor) -> float:
        sil = rasterize_world((vertices + d[:, None] * normals)[None], faces, cam).coverage[0] * crop.valid
        union = ((sil + crop.mask) > 0).to(dtype).sum()
        return float((sil * crop.mask).sum() / union.clamp_min(1))

    before, after = iou_of(torch.zeros_like(offsets)), iou_of(offsets)
    if after < before:  # never make the fit worse than the bare body
        return torch.zeros_like(offsets), before, before
    return offsets, before, after


def _ring_median(values: torch.Tensor, known: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Replace each known value by the mean of it and its known neighbours when it is an outlier
    (more than twice their mean): one stray mask pixel must not raise a spike."""
    ones = known.to(values.dtype)
    neighbour_sum = torch.zeros_like(values).index_add_(0, rows, values[cols] * ones[cols])
    neighbour_count = torch.zeros_like(values).index_add_(0, rows, ones[cols])
    mean = (neighbour_sum + values) / (neighbour_count + 1)
    spike = known & (neighbour_count > 0) & (values > 2 * mean + 0.005)
    return torch.where(spike, mean, values)
