"""Choosing the main person: boxes, scores, crops (pure numpy, no mediapipe).

Score of a candidate (higher = more likely the subject): its size, sqrt(person area / image
area) (area = mask pixels, at least a quarter of its box so a weak mask does not sink it),
times ``1 - centrality_weight * d`` where d in [0, 1] is the distance of the box centre from
the image centre divided by the half-diagonal.  Candidates are numbered 0, 1, ... by decreasing
score; ``PerceptionConfig.person`` picks one by that number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar3d.perception.mediapipe_backend import RawDetection

Box = tuple[float, float, float, float]  # (u_min, v_min, u_max, v_max) in pixels


@dataclass(frozen=True)
class Candidate:
    """A person found by the search, in full-image pixels."""

    detection: RawDetection
    box: Box
    score: float


def mask_box(mask: np.ndarray, threshold: float) -> Box | None:
    """Bounding box (pixel edges) of ``mask > threshold``, or None if empty."""
    on = mask > threshold
    rows = np.flatnonzero(on.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(on.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def points_box(uv: np.ndarray) -> Box | None:
    """Bounding box of ``[N, 2]`` points (None if N = 0)."""
    if uv.size == 0:
        return None
    return (float(uv[:, 0].min()), float(uv[:, 1].min()), float(uv[:, 0].max()), float(uv[:, 1].max()))


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def clip_box(box: Box, width: int, height: int) -> Box:
    return (
        float(np.clip(box[0], 0, width)), float(np.clip(box[1], 0, height)),
        float(np.clip(box[2], 0, width)), float(np.clip(box[3], 0, height)),
    )


def iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    total = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / total if total > 0 else 0.0


def inside(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """``[N]`` bool: the point lies within the image (pixel edges [0, W] x [0, H])."""
    return (uv[:, 0] >= 0) & (uv[:, 0] <= width) & (uv[:, 1] >= 0) & (uv[:, 1] <= height)


def person_box(det: RawDetection, width: int, height: int, min_visibility: float, mask_threshold: float) -> Box | None:
    """Box of the person: its mask above threshold, together with its visible in-image pose
    landmarks; clipped to the image.  None when there is neither."""
    seen = (det.pose_visibility >= min_visibility) & inside(det.pose_uv, width, height)
    box = union(mask_box(det.mask, mask_threshold), points_box(det.pose_uv[seen]))
    return None if box is None else clip_box(box, width, height)


def score(det: RawDetection, box: Box, width: int, height: int, mask_threshold: float, centrality_weight: float) -> float:
    """Selection score (see the module docstring)."""
    box_area = max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
    area = max(float((det.mask > mask_threshold).sum()), 0.25 * box_area)
    size = math.sqrt(area / (width * height))
    cu, cv = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    d = math.hypot((cu - width / 2) / (width / 2), (cv - height / 2) / (height / 2)) / math.sqrt(2)
    return size * (1.0 - centrality_weight * min(d, 1.0))


def expand_box(box: Box, margin: float, width: int, height: int, min_side: float = 0.0) -> tuple[int, int, int, int]:
    """Integer crop (x0, y0, x1, y1) around ``box``: grown by ``margin`` x the box's longer side
    on every side, at least ``min_side`` wide and tall, clipped to the image."""
    u0, v0, u1, v1 = box
    grow = margin * max(u1 - u0, v1 - v0)
    cu, cv = (u0 + u1) / 2, (v0 + v1) / 2
    half_w = max((u1 - u0) / 2 + grow, min_side / 2)
    half_h = max((v1 - v0) / 2 + grow, min_side / 2)
    x0, x1 = int(math.floor(max(0.0, cu - half_w))), int(math.ceil(min(float(width), cu + half_w)))
    y0, y1 = int(math.floor(max(0.0, cv - half_h))), int(math.ceil(min(float(height), cv + half_h)))
    return x0, y0, x1, y1


def search_windows(width: int, height: int, side: int) -> list[tuple[int, int, int, int]]:
    """Square windows of ``side`` px (clipped to the image) overlapping by half, covering it."""
    side = min(side, width, height)
    stride = max(1, side // 2)

    def starts(total: int) -> list[int]:
        out = list(range(0, max(1, total - side + 1), stride))
        if out[-1] + side < total:
            out.append(total - side)
        return out

    return [(x, y, x + side, y + side) for y in starts(height) for x in starts(width)]
