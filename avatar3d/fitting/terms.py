"""Objective terms of the fit: pure functions on tensors (no state, no model calls).

Pixel quantities are in the image's pixel frame (DESIGN.md); 3D quantities in metres.
"""

from __future__ import annotations

import torch


def gmof(residual_sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust penalty of squared residuals: ``s^2 r^2 / (s^2 + r^2)``.

    Quadratic for ``r << sigma``, saturating at ``sigma^2`` for outliers (SMPLify's choice).
    """
    s2 = sigma * sigma
    return s2 * residual_sq / (s2 + residual_sq)


def reprojection_loss(projected: torch.Tensor, observed: torch.Tensor, confidence: torch.Tensor,
                      sigma_px: float, scale_px: float) -> torch.Tensor:
    """``[B]`` robust, confidence-weighted 2D keypoint error.

    Args:
        projected: ``[B, K, 2]`` model keypoints projected to pixels.
        observed: ``[K, 2]`` detected keypoints in pixels.
        confidence: ``[K]`` weights in [0, 1] (0 = ignore).
        sigma_px: robustness scale in pixels.
        scale_px: normaliser (e.g. the person's bbox diagonal) so the loss is resolution free.
    """
    r2 = ((projected - observed[None]) ** 2).sum(-1) / (scale_px * scale_px)
    sigma = sigma_px / scale_px
    weighted = confidence[None] * gmof(r2, sigma)
    return weighted.sum(-1) / confidence.sum().clamp_min(1e-6)


def direction_loss(joints: torch.Tensor, targets: torch.Tensor, bones: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``[B]`` 1 - cosine between model bone directions and target (e.g. detector 3D) directions.

    Args:
        joints: ``[B, N, 3]`` model points; targets: ``[N, 3]`` target points (any origin/scale).
        bones: ``[M, 2]`` int64 (from, to) index pairs; weights: ``[M]``.
    """
    model_dir = torch.nn.functional.normalize(joints[:, bones[:, 1]] - joints[:, bones[:, 0]], dim=-1)
    target_dir = torch.nn.functional.normalize(targets[bones[:, 1]] - targets[bones[:, 0]], dim=-1)
    cos = (model_dir * target_dir[None]).sum(-1)
    return (weights[None] * (1.0 - cos)).sum(-1) / weights.sum().clamp_min(1e-6)


def silhouette_loss(rendered: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                    uncovered_weight: float = 1.0) -> torch.Tensor:
    """``[B]`` asymmetric silhouette error between ``[B, H, W]`` rendered coverage and the
    ``[H, W]`` person mask, as a fraction of the mask's area.

    Body pixels outside the mask always count fully; mask pixels the body leaves uncovered count
    ``uncovered_weight`` (below 1 for clothed people: clothes and hair add volume the bare body
    must not chase).  With ``uncovered_weight = 1`` it equals ``|A xor B| / |B|``.  ``valid``
    ``[H, W]`` masks out pixels where the target is unknown (e.g. outside the photo).
    """
    target = target[None]
    if valid is not None:
        rendered = rendered * valid[None]
        target = target * valid[None]
    outside = (rendered * (1 - target)).sum((-1, -2))
    uncovered = ((1 - rendered) * target).sum((-1, -2))
    return (outside + uncovered_weight * uncovered) / target.sum((-1, -2)).clamp_min(1.0)


def shape_prior(shape: torch.Tensor, mean: float = 0.5, spread: float = 0.3) -> torch.Tensor:
    """``[B]`` Gaussian prior on Anny phenotypes in [0, 1] (``spread`` = standard deviation)."""
    return (((shape - mean) / spread) ** 2).mean(-1)


def angle_prior(axis_angles: torch.Tensor) -> torch.Tensor:
    """``[B]`` mean squared rotation angle (radians^2): a weak pull toward the rest pose."""
    return (axis_angles ** 2).sum(-1).mean(-1)


def hard_iou(rendered: torch.Tensor, target: torch.Tensor) -> float:
    """IoU of two ``[H, W]`` binary masks (thresholded at 0.5)."""
    a, b = rendered > 0.5, target > 0.5
    union = (a | b).sum()
    return float((a & b).sum()) / float(union) if union > 0 else 0.0


def sample_map(values: torch.Tensor, points_px: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of an ``[H, W]`` map at ``[B, N, 2]`` pixel coordinates (u, v), with
    gradients to the coordinates; points outside the map read its border."""
    h, w = values.shape
    grid = torch.stack((points_px[..., 0] / w * 2 - 1, points_px[..., 1] / h * 2 - 1), dim=-1)
    out = torch.nn.functional.grid_sample(values[None, None].to(points_px).expand(points_px.shape[0], 1, h, w),
                                          grid[:, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, 0, 0]


def inside_mask_loss(projected: torch.Tensor, outside_distance: torch.Tensor, scale_px: float) -> torch.Tensor:
    """``[B]`` mean squared distance (in units of ``scale_px``) from projected vertices ``[B, N, 2]``
    to the person mask; zero for vertices inside it.  ``outside_distance`` ``[H, W]`` is the mask's
    Euclidean distance transform outside it (0 inside).  Long-range: a limb wholly outside the
    mask is pulled back, unlike an edge-only silhouette gradient."""
    d = sample_map(outside_distance, projected) / scale_px
    return (d * d).mean(-1)


def contour_cover_loss(projected_contour: torch.Tensor, mask_contour: torch.Tensor, scale_px: float) -> torch.Tensor:
    """``[B]`` one-way chamfer: mean squared distance from each mask-contour point ``[M, 2]`` to
    the nearest projected body contour vertex ``[B, N, 2]`` (units of ``scale_px``), so the body
    reaches the edges of the mask.

    The nearest vertex is found without gradient and only the M distances to it are
    differentiated: the gradient of a minimum reaches only its argument, and the backward of
    the full ``[M, N]`` distance matrix cost ~5x this whole term (body fit: ~800 x 3,500).
    """
    mask = mask_contour[None].to(projected_contour).expand(projected_contour.shape[0], -1, -1)
    with torch.no_grad():
        index = torch.cdist(mask, projected_contour).argmin(dim=-1)
    nearest_vertex = torch.gather(projected_contour, 1, index[..., None].expand(-1, -1, 2))
    nearest = (mask - nearest_vertex).norm(dim=-1) / scale_px
    return (nearest * nearest).mean(-1)
