"""Analytic initial pose from 3D landmark directions (pure functions).

Given the model's SMPL-22 rest joints and target 3D keypoints (e.g. mediapipe's metric world
landmarks, camera-aligned axes), solve each joint's global rotation so its bone points where the
target bone points (minimal rotation after the parent's), then convert to local rotations in the
canonical convention of :mod:`avatar3d.core.kinematics`.  The pelvis gets a two-vector
alignment (hip line + torso up) so its twist is defined.
"""

from __future__ import annotations

import torch

from avatar3d.core.joints import SMPL22, SMPL22_PARENTS
from avatar3d.core.kinematics import local_from_global

#: (SMPL joint whose rotation moves the bone, SMPL child joint, target "from" name, target "to" name)
LIMB_BONES = (
    ("left_hip", "left_knee", "left_hip", "left_knee"),
    ("right_hip", "right_knee", "right_hip", "right_knee"),
    ("left_knee", "left_ankle", "left_knee", "left_ankle"),
    ("right_knee", "right_ankle", "right_knee", "right_ankle"),
    ("left_shoulder", "left_elbow", "left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow", "right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist", "left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist", "right_elbow", "right_wrist"),
)


def minimal_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[3, 3]`` smallest rotation taking direction ``a`` to direction ``b`` (Rodrigues)."""
    a = torch.nn.functional.normalize(a, dim=0)
    b = torch.nn.functional.normalize(b, dim=0)
    v = torch.linalg.cross(a, b, dim=0)
    c = torch.dot(a, b)
    if float(c) < -1.0 + 1e-6:  # opposite: rotate 180 degrees about any axis orthogonal to a
        axis = torch.linalg.cross(a, torch.tensor([1.0, 0.0, 0.0], dtype=a.dtype), dim=0)
        if float(axis.norm()) < 1e-6:
            axis = torch.linalg.cross(a, torch.tensor([0.0, 1.0, 0.0], dtype=a.dtype), dim=0)
        axis = torch.nn.functional.normalize(axis, dim=0)
        return 2.0 * torch.outer(axis, axis) - torch.eye(3, dtype=a.dtype)
    vx = torch.tensor([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]], dtype=a.dtype)
    return torch.eye(3, dtype=a.dtype) + vx + vx @ vx / (1.0 + c)


def two_vector_frame(primary: torch.Tensor, secondary: torch.Tensor) -> torch.Tensor:
    """``[3, 3]`` orthonormal frame (columns) from a primary direction and a secondary hint."""
    x = torch.nn.functional.normalize(primary, dim=0)
    z = torch.nn.functional.normalize(torch.linalg.cross(x, secondary, dim=0), dim=0)
    y = torch.linalg.cross(z, x, dim=0)
    return torch.stack((x, y, z), dim=1)


def pose_from_landmarks(rest_smpl22: torch.Tensor, targets: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial (global_orient ``[3, 3]``, body local rotations ``[21, 3, 3]``) from 3D landmarks.

    Args:
        rest_smpl22: ``[22, 3]`` the model's SMPL-22 joints at rest (world frame).
        targets: name -> ``[3]`` target positions (COCO names: shoulders, hips, knees, ankles,
            elbows, wrists), in the frame the body should be posed in (e.g. the camera frame).
            Missing limbs keep the rest pose.
    """
    dtype = rest_smpl22.dtype
    j = {name: i for i, name in enumerate(SMPL22)}
    rest = rest_smpl22
    glob = [torch.eye(3, dtype=dtype) for _ in SMPL22]
    # pelvis: rest frame (hip line right->left, torso up) -> target frame
    rest_frame = two_vector_frame(rest[j["left_hip"]] - rest[j["right_hip"]], rest[j["neck"]] - rest[j["pelvis"]])
    shoulders = ("left_shoulder", "right_shoulder")
    hips = ("left_hip", "right_hip")
    if all(n in targets for n in shoulders + hips):
        hip_mid = 0.5 * (targets["left_hip"] + targets["right_hip"])
        shoulder_mid = 0.5 * (targets["left_shoulder"] + targets["right_shoulder"])
        target_frame = two_vector_frame(targets["left_hip"] - targets["right_hip"], shoulder_mid - hip_mid)
        glob[0] = target_frame @ rest_frame.T
    # the spine, neck, collars and head follow the pelvis (torso bend is left to the optimiser)
    for i, parent in enumerate(SMPL22_PARENTS):
        if parent >= 0:
            glob[i] = glob[parent]
    for joint, child, start, end in LIMB_BONES:
        i = j[joint]
        parent = SMPL22_PARENTS[i]
        glob[i] = glob[parent]
        if start in targets and end in targets:
            rest_dir = glob[parent] @ (rest[j[child]] - rest[i])
            glob[i] = minimal_rotation(rest_dir, targets[end] - targets[start]) @ glob[parent]
        # children of this joint inherit until they are solved themselves
        for k, p in enumerate(SMPL22_PARENTS):
            if p == i:
                glob[k] = glob[i]
    global_rot = torch.stack(glob)
    local = local_from_global(SMPL22_PARENTS, global_rot)
    return local[0], local[1:]
