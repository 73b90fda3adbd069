import torch

from avatar3d.core.joints import SMPL22, SMPL22_PARENTS
from avatar3d.core.kinematics import forward_kinematics
from avatar3d.core.rotations import axis_angle_to_matrix
from avatar3d.fitting.initialise import LIMB_BONES, minimal_rotation, pose_from_landmarks


def test_minimal_rotation_maps_a_to_b_including_opposites():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        a, b = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
        r = minimal_rotation(a, b)
        assert torch.allclose(r @ (a / a.norm()), b / b.norm(), atol=1e-10)
        assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-10)
    a = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    assert torch.allclose(minimal_rotation(a, -a) @ a, -a, atol=1e-10)


def test_recovers_limb_directions_of_a_posed_skeleton():
    """Pose a skeleton, give its joints as targets: the initial pose reproduces every limb direction."""
    g = torch.Generator().manual_seed(3)
    rest = torch.tensor([[0, 0.9, 0], [0.1, 0.85, 0], [-0.1, 0.85, 0], [0, 1.0, 0], [0.1, 0.45, 0], [-0.1, 0.45, 0],
                         [0, 1.15, 0], [0.1, 0.05, 0], [-0.1, 0.05, 0], [0, 1.3, 0], [0.1, 0.0, 0.1], [-0.1, 0.0, 0.1],
                         [0, 1.5, 0], [0.07, 1.42, 0], [-0.07, 1.42, 0], [0, 1.6, 0.02], [0.18, 1.42, 0], [-0.18, 1.42, 0],
                         [0.45, 1.42, 0], [-0.45, 1.42, 0], [0.7, 1.42, 0], [-0.7, 1.42, 0]], dtype=torch.float64)
    local = axis_angle_to_matrix(0.5 * torch.randn(22, 3, generator=g, dtype=torch.float64))
    posed, _ = forward_kinematics(SMPL22_PARENTS, rest, local, rest[0])
    names = {n: posed[i] for i, n in enumerate(SMPL22)}
    targets = {k: names[k] for k in ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                                      "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")}
    orient, body = pose_from_landmarks(rest, targets)
    out, _ = forward_kinematics(SMPL22_PARENTS, rest, torch.cat((orient[None], body)), rest[0])
    j = {n: i for i, n in enumerate(SMPL22)}
    for joint, child, _, _ in LIMB_BONES:
        want = torch.nn.functional.normalize(posed[j[child]] - posed[j[joint]], dim=0)
        got = torch.nn.functional.normalize(out[j[child]] - out[j[joint]], dim=0)
        assert float(want @ got) > 0.999, joint
    # the hip line is aligned too
    hip_want = torch.nn.functional.normalize(posed[j["left_hip"]] - posed[j["right_hip"]], dim=0)
    hip_got = torch.nn.functional.normalize(out[j["left_hip"]] - out[j["right_hip"]], dim=0)
    assert float(hip_want @ hip_got) > 0.99
