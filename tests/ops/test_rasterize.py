"""rasterize: compiled kernels vs the pure-PyTorch reference, and the conventions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar3d import ops
from avatar3d.bench.raster import body_clip
from avatar3d.ops import functional as Fn
from avatar3d.ops import reference as R

from ops_helpers import random_mesh


def _compare(r_ext: torch.Tensor, r_ref: torch.Tensor, min_agree: float = 0.9999, bary_tol: float = 1e-4):
    ids_e, ids_r = r_ext[..., 3], r_ref[..., 3]
    agree = (ids_e == ids_r).float().mean().item()
    assert agree >= min_agree, f"triangle ids agree on only {agree:.6f} of pixels"
    same = (ids_e == ids_r) & (ids_e > 0)
    assert same.any()
    err = (r_ext[..., :3] - r_ref[..., :3]).abs()[same].max().item()
    assert err <= bary_tol, f"barycentric/depth max error {err}"
    return agree


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_mesh_matches_reference(need_ext, seed):
    pos, faces = random_mesh(seed, num_vertices=200, num_faces=300, batch=2)
    r_ext = ops.rasterize(pos, faces, (96, 128))
    r_ref = R.rasterize(pos, faces, (96, 128))
    assert (r_ext[..., 3] > 0).float().mean() > 0.3  # the scene really covers the image
    _compare(r_ext, r_ref)


@pytest.mark.parametrize("size", [(256, 256), (512, 384)])
def test_body_mesh_matches_reference(need_ext, size):
    pos, faces = body_clip(size[0], size[1], views=2)
    r_ext = ops.rasterize(pos, faces, size)
    r_ref = R.rasterize(pos, faces, size)
    cov = (r_ext[..., 3] > 0).float().mean().item()
    assert 0.03 < cov < 0.5, cov
    _compare(r_ext, r_ref)


def test_sub_pixel_triangles_far_from_origin(need_ext):
    """Tiny triangles at large pixel coordinates: edge functions must be measured
    from the triangle's own corner, so float32 still gives sane barycentrics."""
    H = W = 2048
    g = torch.Generator().manual_seed(3)
    n = 10000
    centre = torch.rand(n, 2, generator=g) * 0.2 + 0.75  # NDC, far from the image origin
    offs = (torch.rand(n, 3, 2, generator=g) - 0.5) * (3.0 / W)  # ~1.5 px triangles
    xy = centre[:, None, :] + offs
    w = 1.0 + torch.rand(n, 3, 1, generator=g)
    z = torch.rand(n, 3, 1, generator=g) * 0.5
    pos = torch.cat([xy * w, z * w, w], -1).reshape(1, -1, 4).contiguous()
    faces = torch.arange(3 * n, dtype=torch.int32).reshape(n, 3)
    r_ext = ops.rasterize(pos, faces, (H, W))
    r_ref = R.rasterize(pos.double(), faces, (H, W)).float()  # float64 oracle
    cov = r_ext[..., 3] > 0
    assert cov.sum() > 1500
    agree = (r_ext[..., 3] == r_ref[..., 3]).float().mean().item()
    assert agree >= 0.9999
    same = cov & (r_ext[..., 3] == r_ref[..., 3])
    err = (r_ext[..., :2] - r_ref[..., :2]).abs()[same]
    # float32 vs float64 on ~1 px triangles ~1900 px from the origin: the only error
    # left is the rounding of the projected vertices (ulp(1900) ~ 1e-4 px)
    assert err.max() < 5e-3, err.max()
    assert torch.quantile(err, 0.99) < 1e-3
    assert err.median() < 1e-4


def test_pixel_centres_and_orientation():
    """A screen-aligned rectangle covering NDC x in [-1, 0], y in [-1, -0.5] (w = 1)
    covers exactly the left half of the top quarter of the image (NDC y down)."""
    pos = torch.tensor([[-1.0, -1.0, 0.0, 1.0], [0.0, -1.0, 0.0, 1.0], [0.0, -0.5, 0.0, 1.0], [-1.0, -0.5, 0.0, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    H, W = 16, 20
    for backend in ("auto", "reference"):
        ops.set_backend(backend)
        try:
            r = ops.rasterize(pos, faces, (H, W))
        finally:
            ops.set_backend("auto")
        assert r.shape == (1, H, W, 4)
        mask = r[0, :, :, 3] > 0
        # pixel centres (j + .5, i + .5): columns 0..9, rows 0..3 are inside (edges at u=10, v=4)
        expect = torch.zeros(H, W, dtype=torch.bool)
        expect[:4, :10] = True
        assert torch.equal(mask, expect), backend
        # barycentrics reproduce the pixel position: x_ndc = interp of vertex x
        xs = ops.interpolate(pos[:, :2].contiguous(), r, faces)[0]
        jj = torch.arange(W).float() + 0.5
        ii = torch.arange(H).float() + 0.5
        assert torch.allclose(xs[:4, :10, 0], (jj[:10] / W * 2 - 1).expand(4, 10), atol=1e-5)
        assert torch.allclose(xs[:4, :10, 1], (ii[:4, None] / H * 2 - 1).expand(4, 10), atol=1e-5)
        assert (r[0][~mask] == 0).all()


def test_depth_test_ties_and_no_culling():
    # two identical triangles at equal depth: the lower id wins everywhere; a nearer
    # one with the opposite winding (not culled) wins over both wherever it covers
    pos = torch.tensor(
        [[-0.9, -0.9, 0.2, 1.0], [0.9, -0.9, 0.2, 1.0], [0.0, 0.9, 0.2, 1.0],
         [-0.5, -0.5, -0.3, 1.0], [0.5, -0.5, -0.3, 1.0], [0.0, 0.5, -0.3, 1.0]]
    )
    faces = torch.tensor([[0, 1, 2], [0, 1, 2], [3, 5, 4]], dtype=torch.int32)
    for backend in ("auto", "reference"):
        ops.set_backend(backend)
        try:
            r = ops.rasterize(pos, faces, (32, 32))
        finally:
            ops.set_backend("auto")
        ids = r[0, ..., 3]
        assert set(ids.unique().tolist()) == {0.0, 1.0, 3.0}, backend
        z = r[0, ..., 2]
        assert torch.allclose(z[ids == 3], torch.tensor(-0.3))
        assert torch.allclose(z[ids == 1], torch.tensor(0.2))


def test_perspective_correct_barycentrics():
    """On a triangle with varying w, interpolating clip (x, y, w) / w must give the
    pixel's NDC position (true only for perspective-correct weights)."""
    pos = torch.tensor([[-2.0, -1.5, 0.0, 3.0], [0.9, -0.9, 0.5, 1.0], [0.2, 1.6, 0.3, 2.0]])
    faces = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    H, W = 40, 48
    for backend in ("auto", "reference"):
        ops.set_backend(backend)
        try:
            r = ops.rasterize(pos, faces, (H, W))
            a = ops.interpolate(pos.contiguous(), r, faces)[0]
        finally:
            ops.set_backend("auto")
        m = r[0, ..., 3] > 0
        assert m.sum() > 200
        ndc = a[..., :2] / a[..., 3:4]
        jj, ii = torch.meshgrid(torch.arange(W) + 0.5, torch.arange(H) + 0.5, indexing="xy")
        exp = torch.stack([jj / W * 2 - 1, ii / H * 2 - 1], -1)
        assert (ndc[m] - exp[m]).abs().max() < 1e-5
        # depth z/w is affine in screen space and equals interp(z)/interp(w)
        assert (r[0, ..., 2][m] - (a[..., 2] / a[..., 3])[m]).abs().max() < 1e-5


def test_near_plane_rejection_and_depth_clip():
    # triangle 0 crosses w = 0 -> rejected; triangle 1 has all w > 0 but part of it
    # is in front of the near plane (z/w < -1) -> those fragments are discarded.
    pos = torch.tensor(
        [[-0.5, -0.5, 0.0, 1.0], [0.5, -0.5, 0.0, 1.0], [0.0, 0.5, 0.0, -0.5],
         [-1.0, -1.0, -3.0, 1.0], [1.0, -1.0, -3.0, 1.0], [0.0, 1.0, 1.0, 1.0]]
    )
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int32)
    for backend in ("auto", "reference"):
        ops.set_backend(backend)
        try:
            r = ops.rasterize(pos, faces, (64, 64))
        finally:
            ops.set_backend("auto")
        ids = r[0, ..., 3]
        assert not (ids == 1).any(), "triangle crossing w = 0 must be rejected"
        assert (ids == 2).any()
        z = r[0, ..., 2][ids == 2]
        assert z.min() >= -1.0 and z.max() <= 1.0
        # z/w goes from -3 (bottom, v=-1 side... top rows in NDC y down) to 1: rows with z/w < -1 are empty
        rows_covered = (ids == 2).any(1).nonzero().squeeze(1)
        assert rows_covered.min() > 10  # the near-clipped part (first ~half) is gone
        assert torch.isfinite(r).all()


def test_all_triangles_behind_camera_is_empty():
    pos, faces = random_mesh(5)
    pos = pos.clone()
    pos[..., 3] = -pos[..., 3]
    r = ops.rasterize(pos, faces, (32, 32))
    assert (r == 0).all()


def test_deterministic_and_thread_independent(need_ext):
    pos, faces = body_clip(256, 256, views=1)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        r1 = ops.rasterize(pos, faces, (256, 256))
        torch.set_num_threads(2)
        r2 = ops.rasterize(pos, faces, (256, 256))
        r3 = ops.rasterize(pos, faces, (256, 256))
    finally:
        torch.set_num_threads(n)
    assert torch.equal(r1, r2) and torch.equal(r2, r3)


def test_unbatched_and_batched_agree():
    pos, faces = random_mesh(7, batch=3)
    rb = ops.rasterize(pos, faces, (40, 50))
    for b in range(3):
        assert torch.equal(ops.rasterize(pos[b], faces, (40, 50))[0], rb[b])


def test_body_silhouette_is_a_person(body_npz):
    """Frontal body: the silhouette spans ~85 % of the image height, feet at the bottom."""
    pos, faces = body_clip(256, 256, views=1)
    r = ops.rasterize(pos, faces, 256)
    rows = (r[0, ..., 3] > 0).any(1).nonzero().squeeze(1)
    span = (rows.max() - rows.min() + 1).item() / 256
    assert 0.8 < span < 0.9, span
    assert np.isclose(rows.float().mean().item(), 128, atol=20)


def test_edge_topology_cached_for_equal_faces_content(monkeypatch):
    """A fresh copy of the same faces (a fitting loop converts its faces to int32 at every step)
    reuses the topology; different content never does, even after an in-place change."""
    calls = []
    real = R.edge_topology

    def counting(faces, num_vertices):
        calls.append(faces.shape[0])
        return real(faces, num_vertices)

    monkeypatch.setattr(R, "edge_topology", counting)
    monkeypatch.setattr(Fn, "_topo_cache", [])
    _, faces = random_mesh(5, num_vertices=40, num_faces=60)
    first = ops.edge_topology(faces, 40)
    again = ops.edge_topology(faces.clone(), 40)
    assert len(calls) == 1 and torch.equal(again, first)
    changed = faces.clone()
    changed[0] = changed[0].flip(0)
    assert torch.equal(ops.edge_topology(changed, 40), real(changed, 40)) and len(calls) == 2
    faces[0] = faces[0].flip(0)  # in place: the cached content was a private copy
    assert torch.equal(ops.edge_topology(faces, 40), real(faces, 40)) and len(calls) == 2
