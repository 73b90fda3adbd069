"""Encoder inputs: what perception saw, normalised to the person's box (pure numpy functions).

The same functions build the inputs of training samples (synthetic renders) and of real photos
(:class:`~avatar3d.core.Observations`), so both see identical normalisation:

* **keypoint tokens** ``[K_TOKENS, KEYPOINT_FEATURES]`` for :data:`TOKEN_KEYPOINTS` (COCO-17 and
  four foot points): ``(u - bcx) / s, (v - bcy) / s`` (``(bcx, bcy)`` the box centre, ``s`` its
  longer side, pixels), confidence in [0, 1], the detector's metric 3D landmark relative to the
  hip midpoint in camera-aligned axes (x right, y down, z away; metres) and a 3D-valid flag.
  Unseen keypoints (confidence 0) carry zeros in the 2D slots.
* **global features** ``[GLOBAL_FEATURES]``: box centre in normalised camera coordinates
  ``((bcx - cx) / f, (bcy - cy) / f)``, ``log(w / f), log(h / f)`` of the box, four flags for a
  box touching the left / right / top / bottom image border, and ``log(image height / f)``.
* **mask grid** ``[MASK_GRID, MASK_GRID]`` in [0, 1]: the person mask's occupancy in a square
  window of side ``MASK_WINDOW * s`` centred on the box (rows = down the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar3d.core.joints import COCO17

FOOT_TOKENS = ("left_heel", "right_heel", "left_big_toe", "right_big_toe")
TOKEN_KEYPOINTS: tuple[str, ...] = COCO17 + FOOT_TOKENS
K_TOKENS = len(TOKEN_KEYPOINTS)
KEYPOINT_FEATURES = 7
GLOBAL_FEATURES = 9
MASK_GRID = 16
#: The mask is rasterised at this many cells per grid cell, then averaged.
MASK_SUPERSAMPLE = 4
MASK_WINDOW = 1.1
HIP_L, HIP_R = COCO17.index("left_hip"), COCO17.index("right_hip")
#: Slots of a keypoint token that hold the detector's hip-relative 3D landmark, and its flag.
TOKEN_WORLD, TOKEN_WORLD_VALID = slice(3, 6), 6


@dataclass(frozen=True)
class EncoderInputs:
    """One sample's (or a batch's, with a leading ``B``) network inputs (float32 numpy).

    Attributes:
        keypoints: ``[..., K_TOKENS, KEYPOINT_FEATURES]`` (see module docstring).
        globals: ``[..., GLOBAL_FEATURES]``.
        mask: ``[..., MASK_GRID, MASK_GRID]`` occupancy in [0, 1].
        text: ``[..., TEXT_FEATURES]`` (see ``describe.description_features``).
    """

    keypoints: np.ndarray
    globals: np.ndarray
    mask: np.ndarray
    text: np.ndarray


def person_window(bbox: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(centre u, centre v, side s) of a box (u0, v0, u1, v1): s = the longer side (pixels)."""
    u0, v0, u1, v1 = bbox
    return 0.5 * (u0 + u1), 0.5 * (v0 + v1), max(u1 - u0, v1 - v0, 1.0)


def keypoint_tokens(uv: np.ndarray, confidence: np.ndarray, world: np.ndarray | None,
                    bbox: tuple[float, float, float, float]) -> np.ndarray:
    """``[K_TOKENS, 7]`` tokens from ``uv [K_TOKENS, 2]`` pixels, ``confidence [K_TOKENS]`` and
    ``world [K_TOKENS, 3]`` metric landmarks (camera-aligned axes, any origin; NaN = unknown)."""
    cu, cv, s = person_window(bbox)
    out = np.zeros((K_TOKENS, KEYPOINT_FEATURES), np.float32)
    conf = np.clip(np.nan_to_num(confidence.astype(np.float64)), 0.0, 1.0)
    seen = conf > 0
    out[:, 0] = np.where(seen, (uv[:, 0] - cu) / s, 0.0)
    out[:, 1] = np.where(seen, (uv[:, 1] - cv) / s, 0.0)
    out[:, 2] = conf
    if world is not None:
        w = world.astype(np.float64)
        hip = 0.5 * (w[HIP_L] + w[HIP_R])
        if np.isfinite(hip).all():
            rel = w - hip
            ok = np.isfinite(rel).all(axis=1)
            out[ok, TOKEN_WORLD] = rel[ok]
            out[ok, TOKEN_WORLD_VALID] = 1.0
    return out


def global_features(bbox: tuple[float, float, float, float], K: np.ndarray, width: int, height: int) -> np.ndarray:
    """``[GLOBAL_FEATURES]`` box placement in normalised camera coordinates (see module doc)."""
    u0, v0, u1, v1 = bbox
    f = float(K[0, 0])
    cx, cy = float(K[0, 2]), float(K[1, 2])
    margin = 2.0
    return np.array([
        (0.5 * (u0 + u1) - cx) / f, (0.5 * (v0 + v1) - cy) / f,
        np.log(max(u1 - u0, 1.0) / f), np.log(max(v1 - v0, 1.0) / f),
        float(u0 <= margin), float(u1 >= width - margin), float(v0 <= margin), float(v1 >= height - margin),
        np.log(height / f),
    ], np.float32)


def mask_grid_from_mask(mask: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """``[MASK_GRID, MASK_GRID]`` occupancy of a ``[H, W]`` mask (values > 0.5 = person) in the
    person window; outside the image counts as empty."""
    cu, cv, s = person_window(bbox)
    side = MASK_WINDOW * s
    n = MASK_GRID * MASK_SUPERSAMPLE
    centres = (np.arange(n) + 0.5) / n - 0.5
    us = cu + centres * side
    vs = cv + centres * side
    h, w = mask.shape
    cols = np.floor(us).astype(np.int64)
    rows = np.floor(vs).astype(np.int64)
    okc = (cols >= 0) & (cols < w)
    okr = (rows >= 0) & (rows < h)
    fine = np.zeros((n, n), np.float32)
    sub = mask[np.clip(rows, 0, h - 1)][:, np.clip(cols, 0, w - 1)] > 0.5
    fine[:] = sub & okr[:, None] & okc[None, :]
    return fine.reshape(MASK_GRID, MASK_SUPERSAMPLE, MASK_GRID, MASK_SUPERSAMPLE).mean(axis=(1, 3))


def mask_grid_from_points(uv: np.ndarray, bbox: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """``[MASK_GRID, MASK_GRID]`` occupancy from densely sampled projected surface points
    ``uv [N, 2]`` (a mesh's vertices): cells of the fine grid hit by a point inside the image
    count as person (training data; a closing fills single-cell holes)."""
    cu, cv, s = person_window(bbox)
    side = MASK_WINDOW * s
    n = MASK_GRID * MASK_SUPERSAMPLE
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    gx = np.floor(((uv[inside, 0] - cu) / side + 0.5) * n).astype(np.int64)
    gy = np.floor(((uv[inside, 1] - cv) / side + 0.5) * n).astype(np.int64)
    ok = (gx >= 0) & (gx < n) & (gy >= 0) & (gy < n)
    fine = np.zeros((n, n), bool)
    fine[gy[ok], gx[ok]] = True
    # closing (dilate then erode, 3x3) fills holes between sparse vertices
    fine = _erode(_dilate(fine))
    return fine.reshape(MASK_GRID, MASK_SUPERSAMPLE, MASK_GRID, MASK_SUPERSAMPLE).mean(axis=(1, 3)).astype(np.float32)


def _dilate(a: np.ndarray) -> np.ndarray:
    p = np.pad(a, 1)
    out = np.zeros_like(a)
    for dy in range(3):
        for dx in range(3):
            out |= p[dy:dy + a.shape[0], dx:dx + a.shape[1]]
    return out


def _erode(a: np.ndarray) -> np.ndarray:
    return ~_dilate(~a)
