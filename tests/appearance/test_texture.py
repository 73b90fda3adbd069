import pytest
import torch

from avatar3d.appearance.texture import TextureConfig, bake_texture, diffuse, mesh_adjacency, mirror_vertex_map, uv_raster
from avatar3d.render import intrinsics_from_fov, render_textured
from avatar3d.render.camera import look_at_front


@pytest.fixture(scope="module")
def scene(anny_body):
    out = anny_body.forward(anny_body.default_params(1))
    verts = out.vertices[0].detach()
    K = intrinsics_from_fov(256, 320, 45.0)
    cam = look_at_front(torch.tensor([0.0, 0.85, 0.0]), 2.8, K, 256, 320)
    # a known texture: smooth colour ramps in u and v (so every texel's colour is predictable)
    s = 128
    ramp = torch.linspace(0, 1, s)
    truth = torch.stack((ramp[None, :].expand(s, s), ramp[:, None].expand(s, s), torch.full((s, s), 0.5)), -1)
    photo, alpha = render_textured(verts, anny_body.faces, anny_body.uvs, anny_body.face_uvs, truth, cam, shade=False)
    return verts, cam, truth, photo[0], alpha[0]


def test_bake_reproduces_the_visible_texture_and_fills_the_rest(anny_body, scene):
    verts, cam, truth, photo, alpha = scene
    baked = bake_texture(photo, alpha, verts, anny_body.faces, anny_body.uvs, anny_body.face_uvs, cam, verts,
                         config=TextureConfig(size=128, diffusion_iterations=50))
    covered = uv_raster(anny_body.uvs, anny_body.face_uvs, 128)[0, ..., 3] > 0
    assert 0.2 < baked.seen_fraction < 0.8  # a front view sees roughly half the body
    err = (baked.image - truth).abs().mean(-1)
    # where the photo saw the body well, the bake matches the original texture
    front = covered & (err < 0.1)
    assert front.sum() > 0.25 * covered.sum()
    # no black holes anywhere on the body's UV islands
    assert float(baked.image[covered].sum(-1).min()) > 0.05
    # completed colours stay within the range of the photo's colours (colour-matched fill)
    assert float(baked.vertex_colors.min()) >= -1e-4 and float(baked.vertex_colors.max()) <= 1.0 + 1e-4


def test_diffuse_keeps_known_values_and_interpolates():
    # a path graph 0-1-2-3-4 with the ends known
    rows = torch.tensor([0, 1, 1, 2, 2, 3, 3, 4])
    cols = torch.tensor([1, 0, 2, 1, 3, 2, 4, 3])
    values = torch.tensor([[0.0], [9.0], [9.0], [9.0], [1.0]])
    known = torch.tensor([True, False, False, False, True])
    out = diffuse(values, known, rows, cols, 500)
    assert torch.allclose(out[:, 0], torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]), atol=1e-3)


def test_mirror_map_is_an_involution_on_the_body(anny_body):
    rest = anny_body.forward(anny_body.default_params(1)).vertices[0].detach()
    m = mirror_vertex_map(rest)
    assert float((m[m] == torch.arange(len(m))).float().mean()) > 0.95
    # a left-side vertex maps to the right side
    left = rest[:, 0] > 0.1
    assert bool((rest[m[left], 0] < 0).all())


def test_mesh_adjacency_is_symmetric():
    rows, cols = mesh_adjacency(torch.tensor([[0, 1, 2], [0, 2, 3]]), 4)
    pairs = set(zip(rows.tolist(), cols.tolist()))
    assert all((b, a) in pairs for a, b in pairs)
    assert (0, 2) in pairs and (1, 3) not in pairs
