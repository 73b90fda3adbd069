import pytest
import torch

from avatar3d.core.kinematics import (
    forward_kinematics,
    linear_blend_skinning,
    local_from_global,
    skin_matrix,
    skinning_transforms,
)
from avatar3d.core.rotations import axis_angle_to_matrix, rotation_about_axis

PARENTS = (-1, 0, 1, 0)
REST = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.5, 0.0], [0.0, 2.0, 0.0], [0.3, 1.0, 0.0]], dtype=torch.float64)


def test_identity_pose_is_rest_pose():
    eye = torch.eye(3, dtype=torch.float64).expand(4, 3, 3)
    pos, glob = forward_kinematics(PARENTS, REST, eye, REST[0])
    assert torch.allclose(pos, REST) and torch.allclose(glob, eye)


def test_rotating_a_joint_swings_its_children_only():
    local = torch.eye(3, dtype=torch.float64).repeat(4, 1, 1)
    local[1] = rotation_about_axis("z", torch.tensor(torch.pi / 2, dtype=torch.float64))
    pos, _ = forward_kinematics(PARENTS, REST, local, REST[0])
    assert torch.allclose(pos[1], REST[1])  # the rotated joint stays put
    assert torch.allclose(pos[2], torch.tensor([-0.5, 1.5, 0.0], dtype=torch.float64))  # +Y bone swung to -X
    assert torch.allclose(pos[3], REST[3])  # a sibling branch does not move


def test_bone_lengths_preserved_and_global_local_round_trip():
    g = torch.Generator().manual_seed(0)
    local = axis_angle_to_matrix(torch.randn(7, 4, 3, generator=g, dtype=torch.float64))
    root = torch.randn(7, 3, generator=g, dtype=torch.float64)
    pos, glob = forward_kinematics(PARENTS, REST, local, root)
    for j, p in enumerate(PARENTS[1:], start=1):
        assert torch.allclose((pos[:, j] - pos[:, p]).norm(dim=-1), (REST[j] - REST[p]).norm().expand(7))
    assert torch.allclose(local_from_global(PARENTS, glob), local, atol=1e-12)


def test_skinning_transforms_move_bind_joints_to_posed_joints():
    g = torch.Generator().manual_seed(1)
    local = axis_angle_to_matrix(torch.randn(4, 3, generator=g, dtype=torch.float64))
    pos, glob = forward_kinematics(PARENTS, REST, local, torch.zeros(3, dtype=torch.float64))
    t = skinning_transforms(REST, pos, glob)
    moved = (t[:, :3, :3] @ REST[..., None])[..., 0] + t[:, :3, 3]
    assert torch.allclose(moved, pos)
    # a point rigidly attached to joint 1 (halfway to joint 2) follows it
    mid = 0.5 * (REST[1] + REST[2])
    assert torch.allclose(t[1, :3, :3] @ mid + t[1, :3, 3], 0.5 * (pos[1] + pos[2]))


def _random_skin(v: int, j: int, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    indices = torch.randint(0, j, (v, k), generator=generator)
    weights = torch.rand(v, k, generator=generator, dtype=torch.float64)
    weights[:, -1] = 0.0  # unused slots, as body models pad them
    return indices, weights / weights.sum(1, keepdim=True)


def test_linear_blend_skinning_matches_a_per_vertex_loop():
    g = torch.Generator().manual_seed(3)
    v, j, k, b = 7, 5, 3, 2
    indices, weights = _random_skin(v, j, k, g)
    transforms = torch.randn(b, j, 4, 4, generator=g, dtype=torch.float64)
    vertices = torch.randn(b, v, 3, generator=g, dtype=torch.float64)
    out = linear_blend_skinning(vertices, transforms, skin_matrix(indices, weights, j))
    expected = torch.zeros(b, v, 3, dtype=torch.float64)
    for n in range(b):
        for i in range(v):
            for s in range(k):  # repeated joints in a row add up, as in the weights' sum
                m = transforms[n, indices[i, s]]
                expected[n, i] += weights[i, s] * (m[:3, :3] @ vertices[n, i] + m[:3, 3])
    assert torch.allclose(out, expected, atol=1e-12)
    # one bind mesh for the whole batch
    shared = linear_blend_skinning(vertices[:1], transforms, skin_matrix(indices, weights, j))
    assert torch.allclose(shared[1], linear_blend_skinning(vertices[:1], transforms[1:], skin_matrix(indices, weights, j))[0])


def test_linear_blend_skinning_gradients():
    g = torch.Generator().manual_seed(4)
    indices, weights = _random_skin(6, 4, 3, g)
    skin = skin_matrix(indices, weights, 4)
    transforms = torch.randn(2, 4, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    vertices = torch.randn(1, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, t: linear_blend_skinning(x, t, skin), (vertices, transforms))


def test_linear_blend_skinning_rejects_bad_input():
    indices, weights = _random_skin(6, 4, 3, torch.Generator().manual_seed(5))
    skin = skin_matrix(indices, weights, 4)
    with pytest.raises(ValueError, match="transforms"):
        linear_blend_skinning(torch.zeros(1, 6, 3, dtype=torch.float64), torch.zeros(1, 5, 4, 4, dtype=torch.float64), skin)
    with pytest.raises(ValueError, match="vertices"):
        linear_blend_skinning(torch.zeros(1, 7, 3, dtype=torch.float64), torch.zeros(1, 4, 4, 4, dtype=torch.float64), skin)
    with pytest.raises(ValueError, match="skin indices"):
        skin_matrix(indices, weights, 3)
