"""A sphere moves to match a target mask by gradient descent through antialias."""
from __future__ import annotations

import pytest
import torch

from avatar3d import ops
from ops_helpers import icosphere, perspective_clip


def _mask(pos_clip, faces, res, topo):
    rast = ops.rasterize(pos_clip, faces, res)
    ones = torch.ones(pos_clip.shape[-2], 1, dtype=pos_clip.dtype)
    col = ops.interpolate(ones, rast, faces)
    return ops.antialias(col, rast, pos_clip, faces, topo)[..., 0], rast


def _iou(a, b):
    a, b = a > 0.5, b > 0.5
    return ((a & b).sum() / (a | b).sum()).item()


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_sphere_silhouette_fit(backend):
    ops.set_backend(backend)
    try:
        verts, faces = icosphere(2)
        verts = (verts * 0.5).float()
        res = (64, 64)
        target_c = torch.tensor([0.15, -0.1, 3.0])
        tpos = perspective_clip(verts + target_c)[None]
        topo = ops.edge_topology(faces, verts.shape[0])
        with torch.no_grad():
            target, _ = _mask(tpos, faces, res, topo)
        offset = torch.tensor([-0.25, 0.2, 3.3], requires_grad=True)
        opt = torch.optim.Adam([offset], lr=0.02)
        with torch.no_grad():
            iou0 = _iou(_mask(perspective_clip(verts + offset)[None], faces, res, topo)[0], target)
        for _ in range(150):
            opt.zero_grad()
            m, _ = _mask(perspective_clip(verts + offset)[None], faces, res, topo)
            loss = ((m - target) ** 2).mean()
            loss.backward()
            assert torch.isfinite(offset.grad).all()
            opt.step()
        with torch.no_grad():
            iou1 = _iou(_mask(perspective_clip(verts + offset)[None], faces, res, topo)[0], target)
    finally:
        ops.set_backend("auto")
    assert iou0 < 0.6, iou0
    assert iou1 > 0.9, (iou1, offset.detach())
    assert torch.allclose(offset.detach(), target_c, atol=0.08), offset


def test_antialias_gradient_moves_silhouette_edge():
    """A single triangle edge: the pos gradient of the covered area is along the
    edge normal, with the sign that grows the coverage."""
    pos = torch.tensor([[[-0.6, -0.6, 0.0, 1.0], [0.6, -0.6, 0.0, 1.0], [0.0, 0.6, 0.0, 1.0]]], requires_grad=True)
    faces = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    rast = ops.rasterize(pos, faces, (32, 32))
    col = ops.interpolate(torch.ones(3, 1), rast, faces)
    aa = ops.antialias(col, rast, pos, faces)
    aa.sum().backward()
    g = pos.grad[0]
    # growing the triangle increases coverage: moving vertex 0 left/up(NDC -y), 1 right, 2 down(+y)
    assert g[0, 0] < 0 and g[1, 0] > 0 and g[2, 1] > 0
