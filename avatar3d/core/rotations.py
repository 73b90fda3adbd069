"""Rotation conversions, batched over any leading dimensions, differentiable.

Representations (the suffix of each function says which it takes/returns):

* quaternion: ``[..., 4]`` unit quaternion **(w, x, y, z)**; ``q`` and ``-q`` are the same rotation.
* matrix: ``[..., 3, 3]`` rotation matrix acting on column vectors (``x' = R @ x``).
* 6D: ``[..., 6]`` the first two *columns* of the matrix, concatenated (Zhou et al. 2019);
  used inside networks and optimisers because it is continuous.
* axis-angle: ``[..., 3]`` rotation vector, angle in radians = its norm.

All functions work in float32 and float64 and keep dtype and device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-8


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` (w, x, y, z) -> ``[..., 3, 3]``. The input is normalised first."""
    q = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    w, x, y, z = q.unbind(-1)
    two = 2.0
    m = torch.stack(
        (
            1 - two * (y * y + z * z), two * (x * y - z * w), two * (x * z + y * w),
            two * (x * y + z * w), 1 - two * (x * x + z * z), two * (y * z - x * w),
            two * (x * z - y * w), two * (y * z + x * w), 1 - two * (x * x + y * y),
        ),
        dim=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` -> ``[..., 4]`` (w, x, y, z) with w >= 0.

    Uses the numerically best of the four candidate formulas per element (largest diagonal
    term), so it is stable near 180-degree rotations.
    """
    if matrix.shape[-2:] != (3, 3):
        raise ValueError(f"matrix must have shape [..., 3, 3], got {tuple(matrix.shape)}")
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4*w^2, 4*x^2, 4*y^2, 4*z^2
    squares = torch.stack(
        (1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22),
        dim=-1,
    )
    roots = squares.clamp_min(_EPS).sqrt()  # 2*|w|, 2*|x|, 2*|y|, 2*|z|
    r21_12 = m[..., 2, 1] - m[..., 1, 2]
    r02_20 = m[..., 0, 2] - m[..., 2, 0]
    r10_01 = m[..., 1, 0] - m[..., 0, 1]
    r10p01 = m[..., 1, 0] + m[..., 0, 1]
    r02p20 = m[..., 0, 2] + m[..., 2, 0]
    r21p12 = m[..., 2, 1] + m[..., 1, 2]
    candidates = torch.stack(
        (
            torch.stack((roots[..., 0] ** 2, r21_12, r02_20, r10_01), -1) / (2 * roots[..., 0:1]),
            torch.stack((r21_12, roots[..., 1] ** 2, r10p01, r02p20), -1) / (2 * roots[..., 1:2]),
            torch.stack((r02_20, r10p01, roots[..., 2] ** 2, r21p12), -1) / (2 * roots[..., 2:3]),
            torch.stack((r10_01, r02p20, r21p12, roots[..., 3] ** 2), -1) / (2 * roots[..., 3:4]),
        ),
        dim=-2,
    )
    best = squares.argmax(dim=-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return torch.where(q[..., :1] < 0, -q, q)


def matrix_to_6d(matrix: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` -> ``[..., 6]``: first column then second column."""
    return torch.cat((matrix[..., :, 0], matrix[..., :, 1]), dim=-1)


def sixd_to_matrix(sixd: torch.Tensor) -> torch.Tensor:
    """``[..., 6]`` -> ``[..., 3, 3]`` by Gram-Schmidt on the two columns."""
    a1, a2 = sixd[..., :3], sixd[..., 3:]
    b1 = F.normalize(a1, dim=-1, eps=_EPS)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=_EPS)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` rotation vector -> ``[..., 4]`` (w, x, y, z); smooth at zero angle."""
    angle = axis_angle.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(half)/angle, with its Taylor series near 0 so gradients stay finite.
    small = angle < 1e-4
    safe_angle = torch.where(small, torch.ones_like(angle), angle)
    scale = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe_angle)
    return torch.cat((torch.cos(half), axis_angle * scale), dim=-1)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` (w, x, y, z) -> ``[..., 3]`` rotation vector with angle in [0, pi]."""
    q = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    q = torch.where(q[..., :1] < 0, -q, q)
    sin_half = q[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., :1])
    small = sin_half < 1e-6
    safe = torch.where(small, torch.ones_like(sin_half), sin_half)
    scale = torch.where(small, 2.0 / q[..., :1].clamp_min(_EPS), angle / safe)
    return q[..., 1:] * scale


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` rotation vector -> ``[..., 3, 3]``."""
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle))


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` -> ``[..., 3]`` rotation vector."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a * b`` of ``[..., 4]`` (w, x, y, z) quaternions (apply b, then a)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        dim=-1,
    )


def quaternion_conjugate(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion ``[..., 4]`` (w, x, y, z)."""
    return torch.cat((q[..., :1], -q[..., 1:]), dim=-1)


def quaternion_slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between unit quaternions ``[..., 4]`` along the short arc."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    dot = (a * b).sum(-1, keepdim=True)
    b = torch.where(dot < 0, -b, b)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-5
    safe = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    wa = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / safe)
    wb = torch.where(near, t, torch.sin(t * theta) / safe)
    out = wa * a + wb * b
    return out / out.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def rotation_about_axis(axis: str, angle: torch.Tensor | float) -> torch.Tensor:
    """``[..., 3, 3]`` right-handed rotation by ``angle`` radians about world axis 'x', 'y' or 'z'."""
    angle = torch.as_tensor(angle, dtype=torch.get_default_dtype())
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rows = {
        "x": ((one, zero, zero), (zero, c, -s), (zero, s, c)),
        "y": ((c, zero, s), (zero, one, zero), (-s, zero, c)),
        "z": ((c, -s, zero), (s, c, zero), (zero, zero, one)),
    }
    if axis not in rows:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return torch.stack([torch.stack(r, dim=-1) for r in rows[axis]], dim=-2)
