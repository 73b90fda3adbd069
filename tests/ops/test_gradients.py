"""Gradients: compiled backward passes vs autograd through the reference (same random
upstream gradients), float64 gradcheck of the reference, and opcheck of the custom ops."""
from __future__ import annotations

import pytest
import torch

from avatar3d import ops
from avatar3d.bench.raster import body_clip
from avatar3d.ops import functional as Fn
from avatar3d.ops import reference as R
from ops_helpers import random_mesh


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def _meshes():
    pos, faces = random_mesh(11, num_vertices=80, num_faces=120, batch=2)
    yield "random", pos, faces, (48, 64)
    pos, faces = body_clip(160, 128, views=2)
    yield "body", pos, faces, (160, 128)


@pytest.mark.parametrize("case", ["random", "body"])
# 4 and 8 channels take the kernels' 4-wide vector loops, 5 the generic scalar one
@pytest.mark.parametrize("channels", [4, 5, 8])
def test_rasterize_interpolate_grads_match_reference(need_ext, case, channels):
    name, pos, faces, res = next((m for m in _meshes() if m[0] == case))
    g = torch.Generator().manual_seed(1)
    attr = torch.randn(pos.shape[1], channels, generator=g)
    outs = {}
    for impl in ("ext", "ref"):
        p = pos.clone().requires_grad_(True)
        a = attr.clone().requires_grad_(True)
        if impl == "ext":
            rast = ops.rasterize(p, faces, res)
            out = ops.interpolate(a, rast, faces)
        else:
            rast = R.rasterize(p, faces, res)
            out = R.interpolate(a, rast, faces)
        g1 = torch.Generator().manual_seed(2)
        up_out = torch.randn(out.shape, generator=g1)
        up_rast = torch.randn(rast.shape, generator=g1)
        ((out * up_out).sum() + (rast[..., :3] * up_rast[..., :3]).sum()).backward()
        outs[impl] = (out.detach(), p.grad, a.grad)
    assert torch.allclose(outs["ext"][0], outs["ref"][0], atol=1e-5)
    assert outs["ref"][1].abs().sum() > 0
    assert _rel(outs["ext"][1], outs["ref"][1]) < 1e-4
    assert _rel(outs["ext"][2], outs["ref"][2]) < 1e-5


@pytest.mark.parametrize("case", ["random", "body"])
def test_antialias_grads_match_reference(need_ext, case):
    name, pos, faces, res = next((m for m in _meshes() if m[0] == case))
    rast = ops.rasterize(pos, faces, res)
    topo = ops.edge_topology(faces, pos.shape[1])
    g = torch.Generator().manual_seed(3)
    color = torch.randn(*rast.shape[:3], 3, generator=g)
    up = torch.randn(color.shape, generator=g)
    outs = {}
    for impl in ("ext", "ref"):
        p = pos.clone().requires_grad_(True)
        c = color.clone().requires_grad_(True)
        fn = ops.antialias if impl == "ext" else R.antialias
        out = fn(c, rast, p, faces, topo)
        (out * up).sum().backward()
        outs[impl] = (out.detach(), p.grad, c.grad)
    changed = (outs["ref"][0] != color).any(-1).sum().item()
    assert changed > 20  # antialiasing really happened
    assert torch.allclose(outs["ext"][0], outs["ref"][0], atol=1e-5)
    assert outs["ref"][1].abs().sum() > 0
    assert _rel(outs["ext"][1], outs["ref"][1]) < 1e-4
    assert _rel(outs["ext"][2], outs["ref"][2]) < 1e-5


@pytest.mark.parametrize("filter", ["bilinear", "nearest"])
@pytest.mark.parametrize("boundary", ["wrap", "clamp"])
def test_texture_grads_match_reference(need_ext, filter, boundary):
    g = torch.Generator().manual_seed(4)
    tex = torch.randn(2, 7, 9, 3, generator=g)
    uv = torch.rand(2, 12, 10, 2, generator=g) * 3 - 1
    up = torch.randn(2, 12, 10, 3, generator=g)
    outs = {}
    for impl in ("ext", "ref"):
        t = tex.clone().requires_grad_(True)
        u = uv.clone().requires_grad_(True)
        out = (ops.texture if impl == "ext" else R.texture)(t, u, filter, boundary)
        (out * up).sum().backward()
        gu = u.grad if u.grad is not None else torch.zeros_like(uv)
        outs[impl] = (out.detach(), t.grad, gu)
    assert torch.allclose(outs["ext"][0], outs["ref"][0], atol=1e-5)
    assert _rel(outs["ext"][1], outs["ref"][1]) < 1e-5
    if filter == "bilinear":
        assert outs["ref"][2].abs().sum() > 0
        assert _rel(outs["ext"][2], outs["ref"][2]) < 1e-4
    else:
        assert (outs["ext"][2] == 0).all()


# ------------------------------------------------------------------ gradcheck (float64)
def _tiny():
    pos = torch.tensor(
        [[-0.7, -0.6, 0.1, 1.0], [0.65, -0.5, 0.3, 1.3], [0.1, 0.75, -0.2, 0.9], [0.8, 0.7, 0.4, 1.1]],
        dtype=torch.float64,
    )
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]], dtype=torch.int32)
    return pos, faces


def test_gradcheck_rasterize():
    pos, faces = _tiny()
    f = lambda p: ops.rasterize(p, faces, (9, 11))[..., :3]  # noqa: E731
    assert torch.autograd.gradcheck(f, (pos.requires_grad_(),), eps=1e-7, atol=1e-5)


def test_gradcheck_interpolate():
    pos, faces = _tiny()
    attr = torch.randn(4, 3, dtype=torch.float64)
    f = lambda p, a: ops.interpolate(a, ops.rasterize(p, faces, (9, 11)), faces)  # noqa: E731
    assert torch.autograd.gradcheck(f, (pos.requires_grad_(), attr.requires_grad_()), eps=1e-7, atol=1e-5)


@pytest.mark.parametrize("boundary", ["wrap", "clamp"])
def test_gradcheck_texture(boundary):
    g = torch.Generator().manual_seed(5)
    tex = torch.randn(1, 4, 5, 2, dtype=torch.float64, generator=g)
    uv = torch.rand(1, 3, 3, 2, dtype=torch.float64, generator=g) * 1.6 - 0.3
    f = lambda t, u: ops.texture(t, u, "bilinear", boundary)  # noqa: E731
    assert torch.autograd.gradcheck(f, (tex.requires_grad_(), uv.requires_grad_()), eps=1e-7, atol=1e-5)


def test_gradcheck_antialias():
    pos, faces = _tiny()
    rast = ops.rasterize(pos, faces, (9, 11))
    color = torch.randn(1, 9, 11, 2, dtype=torch.float64)
    out = ops.antialias(color, rast, pos, faces)
    assert (out != color).any()
    f = lambda c, p: ops.antialias(c, rast, p, faces)  # noqa: E731
    assert torch.autograd.gradcheck(f, (color.requires_grad_(), pos.clone().requires_grad_()), eps=1e-7, atol=1e-5)


# ------------------------------------------------------------------ opcheck
def _opcheck_cases(dtype):
    pos, faces = random_mesh(3, num_vertices=20, num_faces=24, batch=1, dtype=dtype)
    rast = ops.rasterize(pos, faces, (12, 10))
    attr = torch.randn(20, 3, dtype=dtype)
    tex = torch.randn(1, 5, 6, 2, dtype=dtype)
    uv = torch.rand(1, 12, 10, 2, dtype=dtype)
    color = torch.randn(1, 12, 10, 3, dtype=dtype)
    topo = ops.edge_topology(faces, 20)
    return [
        (Fn._rasterize_op, (pos.requires_grad_(), faces, 12, 10)),
        (Fn._interpolate_op, (attr.requires_grad_(), rast.detach().requires_grad_(), faces)),
        (Fn._texture_op, (tex.requires_grad_(), uv.requires_grad_(), "bilinear", "wrap")),
        (Fn._antialias_op, (color.requires_grad_(), rast.detach(), pos.detach().requires_grad_(), faces, topo)),
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("index", range(4))
def test_opcheck(dtype, index):
    op, args = _opcheck_cases(dtype)[index]
    torch.library.opcheck(op, args)


# ------------------------------------------------------------------ coverage spans (CPU fast path)
def test_pipeline_with_coverage_spans_matches_reference(need_ext):
    """rasterize -> interpolate -> antialias on the body, forward and gradients vs the
    reference: exercises the CPU coverage spans, antialias's zero-outside-spans copy
    and its recorded-blend backward."""
    pos, faces = body_clip(160, 128, views=2)
    topo = ops.edge_topology(faces, pos.shape[1])
    g = torch.Generator().manual_seed(7)
    attr = torch.randn(pos.shape[1], 3, generator=g)
    up = torch.randn(2, 160, 128, 3, generator=g)
    outs = {}
    for impl in ("ext", "ref"):
        p = pos.clone().requires_grad_(True)
        a = attr.clone().requires_grad_(True)
        M = ops if impl == "ext" else R
        rast = M.rasterize(p, faces, (160, 128))
        if impl == "ext":
            spans = Fn._marked(rast, Fn._SPANS_ATTR)
            assert spans is not None and spans.shape == (2 * 160, 2)
            cov = (rast[..., 3] > 0).reshape(2 * 160, 128)
            cols = torch.arange(128)
            inside = (cols >= spans[:, :1]) & (cols < spans[:, 1:])
            assert not (cov & ~inside).any()  # every covered pixel lies in its row's span
        col = M.interpolate(a, rast, faces)
        out = M.antialias(col, rast, p, faces, topo)
        (out * up).sum().backward()
        outs[impl] = (out.detach(), p.grad, a.grad)
    assert (outs["ref"][0] != 0).any()
    assert torch.allclose(outs["ext"][0], outs["ref"][0], atol=1e-5)
    assert _rel(outs["ext"][1], outs["ref"][1]) < 1e-4
    assert _rel(outs["ext"][2], outs["ref"][2]) < 1e-5


def test_coverage_spans_are_dropped_when_rast_changes(need_ext):
    pos, faces = body_clip(64, 48, views=1)
    rast = ops.rasterize(pos, faces, (64, 48))
    assert Fn._marked(rast, Fn._SPANS_ATTR) is not None
    with torch.no_grad():
        rast[0, :, 0, :] = rast[0, 32, 24, :]  # cover the first column (outside any span)
    assert Fn._marked(rast, Fn._SPANS_ATTR) is None
    attr = torch.randn(pos.shape[1], 2)
    out = ops.interpolate(attr, rast, faces)
    assert torch.allclose(out, R.interpolate(attr, rast, faces), atol=1e-5)
    assert (out[0, :, 0] != 0).any()


# ------------------------------------------------------------------ antialias taking over upstream backwards
def _chain(size=(96, 80), two_d=False):
    pos, faces = body_clip(*size, views=1)
    g = torch.Generator().manual_seed(3)
    p = (pos[0] if two_d else pos).clone().requires_grad_(True)
    a = torch.randn(pos.shape[1], 4, generator=g).requires_grad_(True)
    rast = ops.rasterize(p, faces, size)
    col = ops.interpolate(a, rast, faces)
    up = torch.randn(1, *size, 4, generator=g)
    return p, a, faces, rast, col, up


@pytest.fixture
def node_calls(monkeypatch):
    """Records, per backward call of interpolate's and rasterize's nodes, whether it got no gradient."""
    calls = []
    for cls in (Fn._InterpolateFn, Fn._RasterizeFn):
        def spy(ctx, grad, *rest, _orig=cls.backward, _name=cls.__name__):
            calls.append((_name, grad is None))
            return _orig(ctx, grad, *rest)
        monkeypatch.setattr(cls, "backward", staticmethod(spy))
    return calls


@pytest.mark.parametrize("two_d", [False, True])
def test_antialias_backward_takes_over_interpolate_and_rasterize(need_ext, node_calls, two_d):
    """Plain backward of rasterize -> interpolate -> antialias: antialias's node does the
    other two backwards (they get no gradient), with the same numbers as the unfused chain
    (forced here by retain_grad, which makes the intermediate gradients observable)."""
    grads = {}
    for mode in ("fused", "plain"):
        node_calls.clear()
        p, a, faces, rast, col, up = _chain(two_d=two_d)
        if mode == "plain":
            col.retain_grad()
            rast.retain_grad()
        ops.antialias(col, rast, p, faces).backward(up)
        got_none = dict(node_calls)
        assert got_none == {"_InterpolateFn": mode == "fused", "_RasterizeFn": mode == "fused"}
        grads[mode] = (a.grad, p.grad)
    assert grads["fused"][0].abs().sum() > 0 and grads["fused"][1].abs().sum() > 0
    assert torch.equal(grads["fused"][0], grads["plain"][0])
    assert torch.equal(grads["fused"][1], grads["plain"][1])


def test_intermediate_gradients_stay_observable(need_ext):
    """retain_grad, hooks and autograd.grad on color / rast still see their full gradients."""
    p, a, faces, rast, col, up = _chain()
    out = ops.antialias(col, rast, p, faces)
    c = col.detach().requires_grad_(True)
    topo = ops.edge_topology(faces, p.shape[-2])
    (gc_ref,) = torch.autograd.grad(R.antialias(c, rast.detach(), p.detach(), faces, topo), c, up)
    (gc,) = torch.autograd.grad(out, col, up)
    assert _rel(gc, gc_ref) < 1e-5

    p, a, faces, rast, col, up = _chain()
    seen = []
    col.register_hook(lambda g: seen.append(g.clone()))
    ops.antialias(col, rast, p, faces).backward(up)
    assert len(seen) == 1 and _rel(seen[0], gc_ref) < 1e-5

    p, a, faces, rast, col, up = _chain()
    rast.retain_grad()
    ops.antialias(col, rast, p, faces).backward(up)
    r = rast.detach().requires_grad_(True)
    (gr_ref,) = torch.autograd.grad(R.interpolate(a.detach(), r, faces), r, gc_ref)
    assert rast.grad is not None and rast.grad[..., :2].abs().sum() > 0
    assert _rel(rast.grad, gr_ref) < 1e-4


def test_takeover_with_other_uses_of_color_and_rast(need_ext):
    """color and rast also used elsewhere (a colour loss, a depth loss): gradients still
    sum correctly (vs the reference)."""
    res = {}
    for impl in ("ext", "ref"):
        pos, faces = body_clip(96, 80, views=1)
        g = torch.Generator().manual_seed(5)
        p = pos.clone().requires_grad_(True)
        a = torch.randn(pos.shape[1], 4, generator=g).requires_grad_(True)
        up = torch.randn(1, 96, 80, 4, generator=g)
        M = ops if impl == "ext" else R
        rast = M.rasterize(p, faces, (96, 80))
        col = M.interpolate(a, rast, faces)
        out = M.antialias(col, rast, p, faces, ops.edge_topology(faces, p.shape[-2]))
        ((out * up).sum() + (col * col).sum() + rast[..., 2].sum()).backward()
        res[impl] = (a.grad, p.grad)
    assert _rel(res["ext"][0], res["ref"][0]) < 1e-5
    assert _rel(res["ext"][1], res["ref"][1]) < 1e-4


@pytest.mark.parametrize("changed", ["attr", "pos"])
def test_input_changed_in_place_after_forward_is_still_an_error(need_ext, changed):
    """An in-place change of attr (after interpolate) or pos (after rasterize) before the
    backward must raise autograd's usual error, not be folded silently into antialias's
    backward."""
    p, a, faces, rast, col, up = _chain()
    with torch.no_grad():
        (a if changed == "attr" else p).mul_(1.01)
    out = ops.antialias(col, rast, p, faces)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward(up)
