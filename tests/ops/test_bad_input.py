"""Bad input: ValueError naming the argument and showing the actual value; never a crash."""
from __future__ import annotations

import pytest
import torch

from avatar3d import ops
from ops_helpers import random_mesh

POS, FACES = random_mesh(0, num_vertices=10, num_faces=8, batch=1)
RAST = ops.rasterize(POS, FACES, (8, 8))
ATTR = torch.randn(10, 3)
TEX = torch.randn(1, 4, 4, 3)
UV = torch.rand(1, 8, 8, 2)
COLOR = torch.randn(1, 8, 8, 3)


def _nan_pos():
    p = POS.clone()
    p[0, 3, 1] = float("nan")
    return p


def _inf_pos():
    p = POS.clone()
    p[0, 2, 3] = float("inf")
    return p


def _nan_uv():
    u = UV.clone()
    u[0, 1, 1, 0] = float("nan")
    return u


CASES = {
    "pos_shape": (lambda: ops.rasterize(POS[..., :3].contiguous(), FACES, (8, 8)), "pos_clip", "(1, 10, 3)"),
    "pos_dims": (lambda: ops.rasterize(POS.reshape(-1), FACES, (8, 8)), "pos_clip", "(40,)"),
    "pos_dtype": (lambda: ops.rasterize(POS.half(), FACES, (8, 8)), "pos_clip", "float16"),
    "pos_noncontig": (lambda: ops.rasterize(POS.expand(2, 10, 4).transpose(0, 1).contiguous().transpose(0, 1), FACES, (8, 8)), "pos_clip", "contiguous"),
    "pos_nan": (lambda: ops.rasterize(_nan_pos(), FACES, (8, 8)), "pos_clip", "NaN"),
    "pos_inf": (lambda: ops.rasterize(_inf_pos(), FACES, (8, 8)), "pos_clip", "NaN/Inf"),
    "pos_empty": (lambda: ops.rasterize(torch.zeros(1, 0, 4), FACES, (8, 8)), "pos_clip", "(1, 0, 4)"),
    "pos_device": (lambda: ops.rasterize(POS.to("meta"), FACES, (8, 8)), "faces", "meta"),
    "faces_dtype": (lambda: ops.rasterize(POS, FACES.long(), (8, 8)), "faces", "int64"),
    "faces_shape": (lambda: ops.rasterize(POS, FACES[:, :2].contiguous(), (8, 8)), "faces", "(8, 2)"),
    "faces_empty": (lambda: ops.rasterize(POS, torch.zeros(0, 3, dtype=torch.int32), (8, 8)), "faces", "(0, 3)"),
    "faces_noncontig": (lambda: ops.rasterize(POS, FACES.t().contiguous().t(), (8, 8)), "faces", "contiguous"),
    "faces_too_big": (lambda: ops.rasterize(POS, FACES + 5, (8, 8)), "faces", "max 1"),
    "faces_negative": (lambda: ops.rasterize(POS, FACES - 9, (8, 8)), "faces", "min -"),
    "res_zero": (lambda: ops.rasterize(POS, FACES, (0, 8)), "resolution", "(0, 8)"),
    "res_negative": (lambda: ops.rasterize(POS, FACES, (8, -3)), "resolution", "(8, -3)"),
    "res_huge": (lambda: ops.rasterize(POS, FACES, (8193, 16)), "resolution", "8193"),
    "res_type": (lambda: ops.rasterize(POS, FACES, (8.0, 8)), "resolution", "8.0"),
    "res_len": (lambda: ops.rasterize(POS, FACES, (8, 8, 8)), "resolution", "(8, 8, 8)"),
    "interp_attr_shape": (lambda: ops.interpolate(ATTR.reshape(-1), RAST, FACES), "attr", "(30,)"),
    "interp_attr_vertices": (lambda: ops.interpolate(ATTR[:5].contiguous(), RAST, FACES), "faces", "[0, 4]"),
    "interp_attr_batch": (lambda: ops.interpolate(ATTR.expand(3, 10, 3).contiguous(), RAST, FACES), "attr batch", "3"),
    "interp_rast_shape": (lambda: ops.interpolate(ATTR, RAST[..., :3].contiguous(), FACES), "rast", "(1, 8, 8, 3)"),
    "interp_dtype_mismatch": (lambda: ops.interpolate(ATTR.double(), RAST, FACES), "attr", "float64"),
    "tex_shape": (lambda: ops.texture(TEX[0], UV), "tex", "(4, 4, 3)"),
    "tex_uv_channels": (lambda: ops.texture(TEX, torch.rand(1, 8, 8, 3)), "uv", "(1, 8, 8, 3)"),
    "tex_filter": (lambda: ops.texture(TEX, UV, filter="cubic"), "filter", "cubic"),
    "tex_boundary": (lambda: ops.texture(TEX, UV, boundary="mirror"), "boundary", "mirror"),
    "tex_uv_nan": (lambda: ops.texture(TEX, _nan_uv()), "uv", "NaN"),
    "tex_batch": (lambda: ops.texture(TEX.expand(2, 4, 4, 3).contiguous(), UV.expand(3, 8, 8, 2).contiguous()), "tex batch", "(2, 4, 4, 3)"),
    "aa_color_shape": (lambda: ops.antialias(torch.randn(1, 7, 8, 3), RAST, POS, FACES), "color", "(1, 7, 8, 3)"),
    "aa_pos_nan": (lambda: ops.antialias(COLOR, RAST, _nan_pos(), FACES), "pos_clip", "NaN"),
    "aa_faces_range": (lambda: ops.antialias(COLOR, RAST, POS, FACES + 5), "faces", "max 1"),
    "aa_topology": (lambda: ops.antialias(COLOR, RAST, POS, FACES, torch.zeros(3, 3, dtype=torch.int32)), "topology", "(3, 3)"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_raises_value_error(name):
    fn, arg, detail = CASES[name]
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    assert arg in msg, msg
    assert detail in msg, msg


def test_garbage_rast_ids_do_not_read_out_of_bounds():
    """A tampered rast (ids beyond the face count, negative, huge) must be treated as
    empty by interpolate / antialias rather than indexing out of bounds."""
    rast = RAST.clone()
    rast[0, 0, 0, 3] = 1e6
    rast[0, 0, 1, 3] = -5.0
    rast[0, 1, 0, 3] = float(FACES.shape[0] + 1)
    out = ops.interpolate(ATTR, rast, FACES)
    assert (out[0, 0, 0] == 0).all() and (out[0, 0, 1] == 0).all() and (out[0, 1, 0] == 0).all()
    aa = ops.antialias(COLOR, rast, POS, FACES)
    assert torch.isfinite(aa).all()


def test_degenerate_geometry_is_finite():
    pos = torch.tensor([[[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.0, 1.0],
                         [1e30, -1e30, 0.0, 1e-30], [0.1, 0.2, 0.0, 1.0]]])
    faces = torch.tensor([[0, 1, 2], [2, 3, 4], [0, 0, 0]], dtype=torch.int32)
    r = ops.rasterize(pos, faces, (16, 16))
    assert torch.isfinite(r).all()
    assert not (r[..., 3] == 1).any() and not (r[..., 3] == 3).any()  # zero-area triangles
