"""A square crop around a person: a camera that renders just that crop at a small size, and the
person mask resampled to it (for fast silhouette losses)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from avatar3d.core import Camera

#: Margin around the person's bbox, as a fraction of its longer side.
CROP_MARGIN = 0.15


@dataclass(frozen=True)
class PersonCrop:
    """Attributes:
        camera: the photo's camera with intrinsics remapped to the ``size x size`` crop.
        mask: ``[size, size]`` binary person mask at the crop's pixel centres (0 outside the photo).
        valid: ``[size, size]`` 1 where the crop pixel lies inside the photo, else 0.
    """

    camera: Camera
    mask: torch.Tensor
    valid: torch.Tensor


def person_crop(camera: Camera, mask: torch.Tensor, bbox: tuple[float, float, float, float], size: int,
                dtype: torch.dtype = torch.float32) -> PersonCrop:
    """Crop ``camera``'s image to a square around ``bbox`` (u0, v0, u1, v1), resampled to ``size``."""
    h, w = mask.shape
    u0, v0, u1, v1 = bbox
    side = (1.0 + CROP_MARGIN) * max(u1 - u0, v1 - v0, 1.0)
    x0, y0 = 0.5 * (u0 + u1) - side / 2, 0.5 * (v0 + v1) - side / 2
    s = size / side
    K = camera.K.to(dtype)
    K_crop = torch.tensor([[s * K[0, 0], s * K[0, 1], s * (K[0, 2] - x0)], [0.0, s * K[1, 1], s * (K[1, 2] - y0)], [0.0, 0.0, 1.0]], dtype=dtype)
    centres = (torch.arange(size, dtype=torch.float64) + 0.5) / s
    cols = torch.floor(x0 + centres).long()
    rows = torch.floor(y0 + centres).long()
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
    sampled = mask.to(dtype)[rows.clamp(0, h - 1)][:, cols.clamp(0, w - 1)]
    valid = inside.to(dtype)
    return PersonCrop(camera=dataclasses.replace(camera, K=K_crop, width=size, height=size),
                      mask=(sampled > 0.5).to(dtype) * valid, valid=valid)
