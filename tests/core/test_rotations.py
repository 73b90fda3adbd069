import math

import pytest
import torch

from avatar3d.core import rotations as R


def random_quaternions(n: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(n, 4, generator=g, dtype=dtype)
    return q / q.norm(dim=-1, keepdim=True)


def same_rotation(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """|<q1, q2>| == 1 for the same rotation (q and -q)."""
    return (q1 * q2).sum(-1).abs()


def test_quaternion_matrix_round_trip():
    q = random_quaternions(500)
    back = R.matrix_to_quaternion(R.quaternion_to_matrix(q))
    assert torch.allclose(same_rotation(q, back), torch.ones(500, dtype=q.dtype), atol=1e-10)


def test_matrices_are_proper_rotations():
    m = R.quaternion_to_matrix(random_quaternions(100))
    eye = torch.eye(3, dtype=m.dtype).expand_as(m)
    assert torch.allclose(m @ m.transpose(-1, -2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(m), torch.ones(100, dtype=m.dtype), atol=1e-12)


def test_matrix_to_quaternion_near_180_degrees():
    # the w-based formula breaks down here; the largest-diagonal choice must not.
    for axis in torch.eye(3, dtype=torch.float64):
        aa = (math.pi - 1e-7) * axis
        m = R.axis_angle_to_matrix(aa)
        q = R.matrix_to_quaternion(m)
        assert torch.allclose(R.quaternion_to_matrix(q), m, atol=1e-6)


def test_6d_round_trip_and_gram_schmidt():
    m = R.quaternion_to_matrix(random_quaternions(200))
    assert torch.allclose(R.sixd_to_matrix(R.matrix_to_6d(m)), m, atol=1e-12)
    # a non-orthonormal 6D input still maps to a rotation
    sixd = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = R.sixd_to_matrix(sixd)
    assert torch.allclose(torch.linalg.det(out), torch.ones(50, dtype=out.dtype), atol=1e-10)


def test_axis_angle_matches_rodrigues_formula():
    g = torch.Generator().manual_seed(2)
    aa = torch.randn(100, 3, generator=g, dtype=torch.float64)
    theta = aa.norm(dim=-1, keepdim=True)[..., None]
    k = aa / aa.norm(dim=-1, keepdim=True)
    kx = torch.zeros(100, 3, 3, dtype=aa.dtype)
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx = kx - kx.transpose(1, 2)
    rodrigues = torch.eye(3, dtype=aa.dtype) + torch.sin(theta) * kx + (1 - torch.cos(theta)) * kx @ kx
    assert torch.allclose(R.axis_angle_to_matrix(aa), rodrigues, atol=1e-12)
    back = R.matrix_to_axis_angle(R.axis_angle_to_matrix(aa))
    assert torch.allclose(R.axis_angle_to_matrix(back), rodrigues, atol=1e-10)


def test_axis_angle_gradient_finite_at_zero():
    aa = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    R.axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_quaternion_multiply_composes_like_matrices():
    a, b = random_quaternions(100), random_quaternions(100).flip(0)
    lhs = R.quaternion_to_matrix(R.quaternion_multiply(a, b))
    rhs = R.quaternion_to_matrix(a) @ R.quaternion_to_matrix(b)
    assert torch.allclose(lhs, rhs, atol=1e-12)
    ident = R.quaternion_multiply(a, R.quaternion_conjugate(a))
    assert torch.allclose(ident[:, 0].abs(), torch.ones(100, dtype=a.dtype), atol=1e-12)


def test_slerp_endpoints_and_midpoint_angle():
    a = R.axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64))
    b = R.axis_angle_to_quaternion(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(R.quaternion_slerp(a, b, 0.0), a)
    assert torch.allclose(same_rotation(R.quaternion_slerp(a, b, 1.0), b), torch.tensor(1.0, dtype=a.dtype))
    mid = R.quaternion_to_axis_angle(R.quaternion_slerp(a, b, 0.5))
    assert torch.allclose(mid, torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64), atol=1e-12)


def test_rotation_about_axis_is_right_handed():
    rz = R.rotation_about_axis("z", math.pi / 2).to(torch.float64)
    assert torch.allclose(rz @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), atol=1e-7)
    with pytest.raises(ValueError, match="axis"):
        R.rotation_about_axis("w", 1.0)


def test_float32_supported():
    q = random_quaternions(10, torch.float32)
    m = R.quaternion_to_matrix(q)
    assert m.dtype == torch.float32
    assert torch.allclose(same_rotation(R.matrix_to_quaternion(m), q), torch.ones(10), atol=1e-5)
