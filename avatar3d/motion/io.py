"""Motion -> the ``motion.npz`` contract of DESIGN.md section 4.

``motion.npz`` holds ``fps`` (float scalar), ``joint_names`` (str array, the SMPL-22 names) and
``joints`` ``(T, J, 3)`` float32 world positions in metres (Y up, ground y = 0, starting near the
origin facing +Z), computed by canonical forward kinematics (:mod:`avatar3d.core.kinematics`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from avatar3d.core import Motion
from avatar3d.core.kinematics import forward_kinematics
from avatar3d.core.rotations import quaternion_to_matrix


def motion_joint_positions(motion: Motion) -> np.ndarray:
    """``[T, J, 3]`` float64 world joint positions of ``motion`` (canonical FK)."""
    rot = quaternion_to_matrix(motion.local_rotations.detach().double())
    pos, _ = forward_kinematics(motion.skeleton.parents, motion.skeleton.rest_positions.detach().double(), rot,
                                motion.root_translation.detach().double())
    return pos.cpu().numpy()


def motion_to_npz_arrays(motion: Motion) -> dict[str, np.ndarray]:
    """The contract arrays: ``fps`` (float64 scalar), ``joint_names`` (``<U`` str array ``[J]``),
    ``joints`` (``[T, J, 3]`` float32 metres, world frame)."""
    joints = motion_joint_positions(motion).astype(np.float32)
    return {"fps": np.array(float(motion.fps), dtype=np.float64),
            "joint_names": np.array(list(motion.skeleton.names), dtype=str),
            "joints": joints}


def save_motion_npz(motion: Motion, path: str | os.PathLike) -> Path:
    """Write ``motion.npz`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    with torch.no_grad():
        np.savez(tmp, **motion_to_npz_arrays(motion))
    os.replace(tmp, path)
    return path
