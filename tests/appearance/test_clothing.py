import torch

from avatar3d.appearance.clothing import fit_clothing_offsets
from avatar3d.render import intrinsics_from_fov, rasterize_world
from avatar3d.render.camera import look_at_front
from avatar3d.core.geometry import vertex_normals


def setup(anny_body):
    verts = anny_body.forward(anny_body.default_params(1)).vertices[0].detach()
    K = intrinsics_from_fov(192, 256, 45.0)
    cam = look_at_front(torch.tensor([0.0, 0.85, 0.0]), 2.8, K, 192, 256)
    return verts, cam


def bbox_of(mask):
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def test_offsets_grow_the_body_into_a_bigger_silhouette(anny_body):
    verts, cam = setup(anny_body)
    normals = vertex_normals(verts[None], anny_body.faces)[0]
    inflated = verts + 0.04 * normals  # "clothes": 4 cm all round
    mask = rasterize_world(inflated[None], anny_body.faces, cam).coverage[0]
    offsets, before, after = fit_clothing_offsets(verts, anny_body.faces, cam, mask, bbox_of(mask))
    assert after > before + 0.2
    # the measured thickness is the 4 cm we added (within mask pixel quantisation)
    assert 0.025 < float(offsets.median()) < 0.055
    assert float(offsets.min()) >= 0.0


def test_hands_and_face_stay_put(anny_body):
    verts, cam = setup(anny_body)
    normals = vertex_normals(verts[None], anny_body.faces)[0]
    mask = rasterize_world((verts + 0.04 * normals)[None], anny_body.faces, cam).coverage[0]
    protected = verts[:, 1] > 1.45  # the head
    offsets, _, _ = fit_clothing_offsets(verts, anny_body.faces, cam, mask, bbox_of(mask), protected=protected)
    assert float(offsets[protected].abs().max()) == 0.0
    assert float(offsets[~protected].median()) > 0.02


def test_offsets_stay_small_for_a_bare_body(anny_body):
    verts, cam = setup(anny_body)
    mask = rasterize_world(verts[None], anny_body.faces, cam).coverage[0]
    offsets, before, after = fit_clothing_offsets(verts, anny_body.faces, cam, mask, bbox_of(mask))
    assert after >= before
    assert float(offsets.median()) < 0.01
