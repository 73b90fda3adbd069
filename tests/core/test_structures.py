import pytest
import torch

from avatar3d.core import Camera, Mesh, Motion, Skeleton, SkinWeights
from avatar3d.core.frames import FRONT_CAMERA_ROTATION, ZUP_NEGY_TO_WORLD, frame_matrix
from avatar3d.core.joints import COCO17, SMPL22, SMPL22_PARENTS, index_of, mirror_name


def test_joint_sets():
    assert len(SMPL22) == 22 and len(set(SMPL22)) == 22
    assert len(COCO17) == 17 and len(set(COCO17)) == 17
    assert all(p < i for i, p in enumerate(SMPL22_PARENTS))
    # every left joint has a right twin in the same set
    for names in (SMPL22, COCO17):
        assert all(mirror_name(n) in names for n in names)
    with pytest.raises(ValueError, match="unknown joint"):
        index_of(SMPL22, ["left_knee", "tail"])


def test_frame_matrices_are_rotations():
    for rows in (ZUP_NEGY_TO_WORLD, FRONT_CAMERA_ROTATION):
        m = frame_matrix(rows)
        assert torch.allclose(m @ m.T, torch.eye(3)) and torch.det(m) == pytest.approx(1.0)
    # anny's up (+Z) becomes world up (+Y); anny's forward (-Y) becomes world forward (+Z)
    m = frame_matrix(ZUP_NEGY_TO_WORLD)
    assert torch.equal(m @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(m @ torch.tensor([0.0, -1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]))


def test_front_camera_sees_persons_left_on_image_right():
    cam = Camera(K=torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]),
                 R=frame_matrix(FRONT_CAMERA_ROTATION), t=torch.tensor([0.0, 1.0, 3.0]), width=640, height=480)
    left_hand = torch.tensor([0.5, 1.0, 0.0])
    head = torch.tensor([0.0, 1.7, 0.0])
    uv_left = cam.project(cam.world_to_camera(left_hand))
    uv_head = cam.project(cam.world_to_camera(head))
    assert uv_left[0] > 320  # person's left -> image right
    assert uv_head[1] < 240  # up in the world -> up in the image (smaller v)
    assert torch.allclose(cam.center, torch.tensor([0.0, 1.0, 3.0]))


def test_skeleton_validation_and_offsets():
    pos = torch.tensor([[0.0, 1.0, 0.0], [0.1, 0.9, 0.0], [0.1, 0.5, 0.0]])
    sk = Skeleton(names=("a", "b", "c"), parents=(-1, 0, 1), rest_positions=pos)
    assert torch.allclose(sk.rest_offsets()[2], torch.tensor([0.0, -0.4, 0.0]))
    with pytest.raises(ValueError, match="parents"):
        Skeleton(names=("a", "b"), parents=(-1, 1), rest_positions=pos[:2])
    with pytest.raises(ValueError, match=r"rest_positions must have shape \[3, 3\], got \[2, 3\]"):
        Skeleton(names=("a", "b", "c"), parents=(-1, 0, 1), rest_positions=pos[:2])


def test_skin_weights_limited_renormalises_and_zero_slots_use_joint_0():
    idx = torch.tensor([[3, 1, 2, 5, 4, 6]])
    w = torch.tensor([[0.1, 0.4, 0.2, 0.05, 0.25, 0.0]])
    lim = SkinWeights(idx, w).limited(4)
    assert lim.weights.shape == (1, 4)
    assert torch.allclose(lim.weights.sum(1), torch.ones(1))
    assert lim.indices[0].tolist() == [1, 4, 2, 3]
    sparse = SkinWeights(torch.tensor([[7, 2]]), torch.tensor([[1.0, 0.0]])).limited(4)
    assert sparse.indices[0].tolist() == [7, 0, 0, 0] and sparse.weights[0].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_mesh_checks_face_range_and_normals():
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    mesh = Mesh(vertices=v, faces=torch.tensor([[0, 1, 2]]))
    assert torch.allclose(mesh.vertex_normals(), torch.tensor([0.0, 0.0, 1.0]).expand(3, 3))
    with pytest.raises(ValueError, match="faces index vertices 0..2"):
        Mesh(vertices=v, faces=torch.tensor([[0, 1, 3]]))
    with pytest.raises(ValueError, match="uvs and face_uvs"):
        Mesh(vertices=v, faces=torch.tensor([[0, 1, 2]]), uvs=torch.zeros(3, 2))


def test_motion_shapes_checked():
    sk = Skeleton(names=("a", "b"), parents=(-1, 0), rest_positions=torch.zeros(2, 3))
    rot = torch.zeros(10, 2, 4)
    rot[..., 0] = 1
    m = Motion(fps=30.0, skeleton=sk, local_rotations=rot, root_translation=torch.zeros(10, 3))
    assert m.duration_s == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="root_translation"):
        Motion(fps=30.0, skeleton=sk, local_rotations=rot, root_translation=torch.zeros(9, 3))
    with pytest.raises(ValueError, match="fps"):
        Motion(fps=0.0, skeleton=sk, local_rotations=rot, root_translation=torch.zeros(10, 3))


def test_vertex_normals_batched_match_single():
    from avatar3d.core.geometry import vertex_normals

    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # a tetrahedron, outward faces
    single = vertex_normals(v, f)
    batched = vertex_normals(torch.stack((v, 2 * v)), f)
    assert torch.allclose(batched[0], single) and torch.allclose(batched[1], single, atol=1e-6)
    # outward: every vertex normal points away from the centroid
    assert bool(((single * (v - v.mean(0))).sum(-1) > 0).all())


def test_vertex_normals_are_area_weighted_sums_of_face_normals():
    """Against a direct per-face loop, for [V, 3] and batched [2, 3, V, 3] vertices."""
    from avatar3d.core.geometry import vertex_normals

    g = torch.Generator().manual_seed(3)
    verts = torch.randn(2, 3, 30, 3, generator=g, dtype=torch.float64)
    faces = torch.randint(0, 30, (50, 3), generator=g)
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    expected = torch.zeros_like(verts)
    for a, b, c in faces.tolist():
        n = torch.linalg.cross(verts[..., b, :] - verts[..., a, :], verts[..., c, :] - verts[..., a, :], dim=-1)
        for v in (a, b, c):
            expected[..., v, :] += n
    expected = torch.nn.functional.normalize(expected, dim=-1, eps=1e-12)
    assert torch.allclose(vertex_normals(verts, faces), expected, atol=1e-12)
    assert torch.allclose(vertex_normals(verts[1, 2], faces), expected[1, 2], atol=1e-12)
    assert torch.equal(vertex_normals(verts, faces[:0]), torch.zeros_like(verts))  # no faces: no normals


def test_unique_pairs_matches_unique_rows():
    from avatar3d.core.geometry import unique_pairs

    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 50, (400,), generator=g), torch.randint(0, 7, (400,), generator=g)
    rows, inverse = torch.unique(torch.stack((a, b), 1), dim=0, return_inverse=True)
    first, second, inv = unique_pairs(a, b)
    assert torch.equal(first, rows[:, 0]) and torch.equal(second, rows[:, 1]) and torch.equal(inv, inverse)
    assert torch.equal(first[inv], a) and torch.equal(second[inv], b)
    empty = unique_pairs(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert all(t.numel() == 0 for t in empty)
    with pytest.raises(ValueError, match="non-negative"):
        unique_pairs(torch.tensor([1, -2]), torch.tensor([0, 0]))
