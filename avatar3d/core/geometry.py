"""Pure mesh geometry on tensors (shared by render, appearance, export)."""

from __future__ import annotations

import torch


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``[..., V, 3]`` area-weighted unit vertex normals of ``[..., V, 3]`` vertices, ``[F, 3]`` faces
    (counter-clockwise seen from outside)."""
    f = faces.long()
    v0, v1, v2 = vertices[..., f[:, 0], :], vertices[..., f[:, 1], :], vertices[..., f[:, 2], :]
    n = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    out = torch.zeros_like(vertices)
    for k in range(3):
        out = out.index_add(-2, f[:, k], n)
    return torch.nn.functional.normalize(out, dim=-1, eps=1e-12)
