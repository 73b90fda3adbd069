"""Mesh/camera helpers for the rasteriser op tests (imported by name: tests/ops is on sys.path)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[1] / "data"


def random_mesh(seed: int, num_vertices: int = 60, num_faces: int = 80, batch: int = 2, dtype=torch.float32):
    """Random clip-space triangle soup: all w in [2, 4], z/w inside (-1, 1)."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(batch, num_vertices, 4, generator=g, dtype=torch.float64)
    pos[..., 3] = pos[..., 3].abs() + 2.0
    pos[..., 2] = pos[..., 2].clamp(-2, 2) * 0.4
    faces = torch.randint(0, num_vertices, (num_faces, 3), generator=g, dtype=torch.int32)
    return pos.to(dtype), faces


def icosphere(subdiv: int = 2):
    """Unit icosphere (vertices float64 [V, 3], faces int32 [F, 3], outward CCW)."""
    t = (1.0 + math.sqrt(5.0)) / 2.0
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
         (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, dtype=np.float64) / np.linalg.norm(p) for p in v]
    for _ in range(subdiv):
        cache: dict = {}
        nf = []

        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            nf += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        f = nf
    return torch.tensor(np.array(verts)), torch.tensor(f, dtype=torch.int32)


def perspective_clip(points: torch.Tensor, focal: float = 2.0, near: float = 0.1, far: float = 10.0):
    """Camera-frame points (OpenCV: x right, y down, z forward) [..., 3] -> clip [..., 4]."""
    x, y, z = points.unbind(-1)
    a = (far + near) / (far - near)
    b = -2.0 * far * near / (far - near)
    return torch.stack([focal * x, focal * y, a * z + b, z], dim=-1)


