import torch

from avatar3d.core.kinematics import forward_kinematics, local_from_global, skinning_transforms
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
