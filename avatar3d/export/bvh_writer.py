"""Biovision BVH motion files from the canonical convention of :mod:`avatar3d.core.kinematics`.

Choices, fixed here:

* **Frame and units**: the world frame (Y up, facing +Z), lengths in **metres** by default
  (``units="m"``: Blender's importer at its default scale 1.0 gives true size); ``units="cm"``
  writes centimetres (MotionBuilder / CMU habit; import into Blender with scale 0.01).
* **Channels**: the root has ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``,
  every other joint ``Zrotation Xrotation Yrotation``.  BVH applies rotation channels in the
  listed order about the joint's own axes, so a joint's local rotation matrix is
  ``Rz(z) @ Rx(x) @ Ry(y)`` (angles in degrees).  The joint's axes at rest are the world axes
  (rest orientations are the identity in our convention), so that matrix *is* our local
  rotation.  The middle axis X (pitch) is the one that can gimbal-lock, which keeps heading
  (Y, the commonest large root rotation) free; Euler angles are made continuous over time
  (each angle unwrapped, and of the two equivalent triples the one nearer the previous frame).
* **Root position**: ``ROOT OFFSET`` is 0 0 0 and the position channels hold the absolute root
  position, so readers that add the offset and readers that ignore it (Blender) agree.
* **Leaf joints** get an ``End Site`` that continues their parent->joint direction by half that
  bone's length (at least :data:`MIN_END_SITE_M`), since our skeletons carry no tip positions.
* Joint names are written as given (``mixamorig:Hips`` stays so); whitespace becomes ``_``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from avatar3d.core import Motion, Skeleton
from avatar3d.core.checks import check_choice, check_finite, check_shape
from avatar3d.core.rotations import quaternion_to_matrix
from avatar3d.utils.atomic import atomic_write_bytes

#: Rotation channel order of every joint (matrix = Rz @ Rx @ Ry).
ROTATION_ORDER = "ZXY"
ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
JOINT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
BVH_UNITS = {"m": 1.0, "cm": 100.0}
#: Shortest End Site offset (metres) for leaf joints.
MIN_END_SITE_M = 0.02
_DECIMALS = 6


def matrix_to_euler_zxy(matrix: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` rotation matrices -> ``[..., 3]`` angles (z, x, y) in radians with
    ``R = Rz(z) @ Rx(x) @ Ry(y)``, x in [-pi/2, pi/2]; at gimbal lock (|x| = pi/2) y is set to 0."""
    m = np.asarray(matrix, dtype=np.float64)
    sx = np.clip(m[..., 2, 1], -1.0, 1.0)
    x = np.arcsin(sx)
    cos_x = np.sqrt(np.maximum(0.0, 1.0 - sx * sx))
    locked = cos_x < 1e-9
    z = np.where(locked, np.arctan2(m[..., 1, 0], m[..., 0, 0]), np.arctan2(-m[..., 0, 1], m[..., 1, 1]))
    y = np.where(locked, 0.0, np.arctan2(-m[..., 2, 0], m[..., 2, 2]))
    return np.stack((z, x, y), axis=-1)


def euler_zxy_to_matrix(angles: np.ndarray) -> np.ndarray:
    """``[..., 3]`` (z, x, y) radians -> ``[..., 3, 3]`` ``Rz(z) @ Rx(x) @ Ry(y)``."""
    a = np.asarray(angles, dtype=np.float64)
    z, x, y = a[..., 0], a[..., 1], a[..., 2]
    cz, sz, cx, sx, cy, sy = np.cos(z), np.sin(z), np.cos(x), np.sin(x), np.cos(y), np.sin(y)
    rows = (
        (cz * cy - sz * sx * sy, -sz * cx, cz * sy + sz * sx * cy),
        (sz * cy + cz * sx * sy, cz * cx, sz * sy - cz * sx * cy),
        (-cx * sy, sx, cx * cy),
    )
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def _wrap_near(angle: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return angle + 2 * np.pi * np.round((reference - angle) / (2 * np.pi))


def continuous_euler_zxy(angles: np.ndarray) -> np.ndarray:
    """``[T, ..., 3]`` ZXY Euler triples re-expressed frame by frame as the equivalent triple
    nearest the previous frame: ``(z, x, y)`` or ``(z + pi, pi - x, y + pi)``, each angle
    shifted by whole turns."""
    out = np.array(angles, dtype=np.float64, copy=True)
    for t in range(1, out.shape[0]):
        prev = out[t - 1]
        a = out[t]
        b = np.stack((a[..., 0] + np.pi, np.pi - a[..., 1], a[..., 2] + np.pi), axis=-1)
        a, b = _wrap_near(a, prev), _wrap_near(b, prev)
        use_b = np.abs(b - prev).sum(-1) < np.abs(a - prev).sum(-1)
        out[t] = np.where(use_b[..., None], b, a)
    return out


def _name(name: str) -> str:
    clean = "_".join(name.split())
    return clean or "joint"


def write_bvh(
    path: str | Path,
    skeleton: Skeleton,
    local_rotations: torch.Tensor,
    root_translation: torch.Tensor,
    fps: float,
    units: str = "m",
) -> Path:
    """Write a BVH file atomically (see the module docstring for axes, units and channels).

    Args:
        path: output ``.bvh`` file.
        skeleton: J joints; rest offsets become the hierarchy's OFFSETs (root: 0 0 0).
        local_rotations: ``[T, J, 4]`` unit quaternions (w, x, y, z), local rotations in
            world-aligned axes (the convention of ``core.Motion``).
        root_translation: ``[T, 3]`` root position per frame, world frame, metres.
        fps: frames per second (> 0); ``Frame Time`` = 1 / fps.
        units: "m" (default) or "cm" for every length in the file.

    Raises:
        ValueError: naming the argument, for wrong shapes, non-finite values, fps <= 0 or
            unknown units.
    """
    j = skeleton.num_joints
    check_shape("local_rotations", local_rotations, ("T", j, 4))
    t = local_rotations.shape[0]
    check_shape("root_translation", root_translation, (t, 3))
    check_finite("local_rotations", local_rotations)
    check_finite("root_translation", root_translation)
    if not float(fps) > 0 or not math.isfinite(float(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if t < 1:
        raise ValueError("local_rotations must hold at least one frame, got 0")
    check_choice("units", units, tuple(BVH_UNITS))
    scale = BVH_UNITS[units]
    names = [_name(n) for n in skeleton.names]
    if len(set(names)) != j:
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"skeleton joint names must be unique in BVH (after whitespace -> '_'), repeated: {dupes}")

    quats = local_rotations.detach().cpu().to(torch.float64)
    norms = quats.norm(dim=-1)
    if bool((norms < 1e-6).any()):
        raise ValueError("local_rotations must be unit quaternions (w, x, y, z); some have zero norm")
    matrices = quaternion_to_matrix(quats).numpy()
    euler = np.degrees(continuous_euler_zxy(matrix_to_euler_zxy(matrices)))  # [T, J, 3] (z, x, y)
    root = root_translation.detach().cpu().to(torch.float64).numpy() * scale

    offsets = skeleton.rest_offsets().detach().cpu().to(torch.float64).numpy() * scale
    offsets[0] = 0.0
    children: list[list[int]] = [[] for _ in range(j)]
    for i, p in enumerate(skeleton.parents):
        if p >= 0:
            children[p].append(i)

    fmt = f"{{:.{_DECIMALS}f}}"
    def vec(v: np.ndarray) -> str:
        return " ".join(fmt.format(float(x) + 0.0) for x in v)

    lines = ["HIERARCHY"]
    order: list[int] = []  # joints in the order their channels appear (depth-first)

    def emit(i: int, depth: int) -> None:
        pad = "\t" * depth
        if i == 0:
            lines.append(f"ROOT {names[i]}")
        else:
            lines.append(f"{pad}JOINT {names[i]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {vec(offsets[i])}")
        channels = ROOT_CHANNELS if i == 0 else JOINT_CHANNELS
        lines.append(f"{pad}\tCHANNELS {len(channels)} {' '.join(channels)}")
        order.append(i)
        for c in children[i]:
            emit(c, depth + 1)
        if not children[i]:
            lines.append(f"{pad}\tEnd Site")
            lines.append(f"{pad}\t{{")
            lines.append(f"{pad}\t\tOFFSET {vec(_end_site(offsets[i], scale))}")
            lines.append(f"{pad}\t}}")
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {1.0 / float(fps):.8f}"]
    for f in range(t):
        values = [vec(root[f])] + [vec(euler[f, i]) for i in order]
        lines.append(" ".join(values))
    return atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def _end_site(offset: np.ndarray, scale: float) -> np.ndarray:
    length = float(np.linalg.norm(offset))
    minimum = MIN_END_SITE_M * scale
    if length < 1e-9:
        return np.array([0.0, minimum, 0.0])
    return offset / length * max(0.5 * length, minimum)


def write_motion_bvh(path: str | Path, motion: Motion, units: str = "m") -> Path:
    """:func:`write_bvh` of a :class:`~avatar3d.core.Motion`."""
    return write_bvh(path, motion.skeleton, motion.local_rotations, motion.root_translation, motion.fps, units)
