"""Forward kinematics in the canonical convention (SMPL-style), and its inverse.

Convention (used by ``core.Motion`` and ``BodyParams.pose``): every joint's rest orientation is
the identity in world-aligned axes; ``local[j]`` is joint j's rotation relative to its parent
(world-aligned axes at rest); global rotations chain ``G[j] = G[parent(j)] @ local[j]``; the
joint positions follow rigidly:

    p[0] = root_translation
    p[j] = p[parent(j)] + G[parent(j)] @ (rest[j] - rest[parent(j)])

and a bind-pose point x skinned to joint j moves to ``G[j] @ (x - rest[j]) + p[j]``.
Shapes: rotations ``[..., J, 3, 3]``, positions ``[..., J, 3]``; any leading batch/time dims.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from avatar3d.core.checks import check_shape


def forward_kinematics(
    parents: tuple[int, ...] | list[int],
    rest_positions: torch.Tensor,
    local_rotations: torch.Tensor,
    root_translation: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed joint positions ``[..., J, 3]`` and global rotations ``[..., J, 3, 3]``.

    Args:
        parents: J parent indices (-1 for the root, parents before children).
        rest_positions: ``[J, 3]`` rest joint positions (world frame, metres).
        local_rotations: ``[..., J, 3, 3]`` local rotations (see module docstring).
        root_translation: ``[..., 3]`` position of joint 0.
    """
    j = len(parents)
    check_shape("rest_positions", rest_positions, (j, 3))
    if local_rotations.shape[-3:] != (j, 3, 3):
        raise ValueError(f"local_rotations must have shape [..., {j}, 3, 3], got {list(local_rotations.shape)}")
    rest = rest_positions.to(local_rotations)
    glob: list[torch.Tensor] = []
    pos: list[torch.Tensor] = []
    for i, p in enumerate(parents):
        if p < 0:
            glob.append(local_rotations[..., i, :, :])
            pos.append(root_translation.to(local_rotations))
        else:
            glob.append(glob[p] @ local_rotations[..., i, :, :])
            pos.append(pos[p] + (glob[p] @ (rest[i] - rest[p])[:, None])[..., 0])
    return torch.stack(pos, dim=-2), torch.stack(glob, dim=-3)


def skinning_transforms(
    rest_positions: torch.Tensor, positions: torch.Tensor, global_rotations: torch.Tensor
) -> torch.Tensor:
    """``[..., J, 4, 4]`` transforms taking bind-pose points to posed points (for LBS/GLB)."""
    out = torch.zeros(global_rotations.shape[:-2] + (4, 4), dtype=global_rotations.dtype, device=global_rotations.device)
    out[..., :3, :3] = global_rotations
    out[..., :3, 3] = positions - (global_rotations @ rest_positions.to(positions)[..., None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def local_from_global(parents: tuple[int, ...] | list[int], global_rotations: torch.Tensor) -> torch.Tensor:
    """Inverse of the rotation chain: ``local[j] = G[parent]^T @ G[j]`` (root: ``G[0]``)."""
    idx = torch.tensor([max(p, 0) for p in parents], device=global_rotations.device)
    parent_rot = global_rotations[..., idx, :, :]
    local = parent_rot.transpose(-1, -2) @ global_rotations
    roots = [i for i, p in enumerate(parents) if p < 0]
    local[..., roots, :, :] = global_rotations[..., roots, :, :]
    return local


@dataclass(frozen=True)
class SkinMatrix:
    """Skin weights as a sparse ``[V, J]`` matrix (CSR) and its transpose, for
    :func:`linear_blend_skinning` (build with :func:`skin_matrix`)."""

    weights: torch.Tensor  # [V, J] sparse CSR
    weights_t: torch.Tensor  # [J, V] sparse CSR

    @property
    def num_joints(self) -> int:
        return int(self.weights.shape[1])


def skin_matrix(indices: torch.Tensor, weights: torch.Tensor, num_joints: int,
                dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> SkinMatrix:
    """``[V, K]`` joint indices and weights (zero weights allowed) -> :class:`SkinMatrix`."""
    check_shape("weights", weights, (indices.shape[0], indices.shape[1]))
    if indices.numel() and not (0 <= int(indices.min()) and int(indices.max()) < num_joints):
        raise ValueError(f"skin indices reach joints [{int(indices.min())}, {int(indices.max())}] "
                         f"but there are {num_joints} joints")
    dense = torch.zeros(indices.shape[0], num_joints, dtype=dtype or weights.dtype, device=device)
    dense.scatter_add_(1, indices.long().to(dense.device), weights.to(dense))
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the ops used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return SkinMatrix(dense.to_sparse_csr(), dense.T.contiguous().to_sparse_csr())


class _BlendTransforms(torch.autograd.Function):
    """``W @ flat`` for a constant sparse ``W`` (the weights get no gradient)."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, skin: SkinMatrix) -> torch.Tensor:
        ctx.skin = skin
        return skin.weights @ flat

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return ctx.skin.weights_t @ grad.contiguous(), None


def linear_blend_skinning(vertices: torch.Tensor, transforms: torch.Tensor, skin: SkinMatrix) -> torch.Tensor:
    """Linear blend skinning, differentiable in the vertices and the transforms.

    Args:
        vertices: ``[b, V, 3]`` bind-pose points (``b`` = 1 or B: broadcast over the batch).
        transforms: ``[B, J, 4, 4]`` (or ``[B, J, 3, 4]``) affine bind -> posed transforms.
        skin: the ``[V, J]`` weights, in the dtype and on the device of ``transforms``.

    Returns ``[B, V, 3]``: ``sum_j w[v, j] (A_j x_v + t_j)``.  The transforms are blended per
    vertex by one sparse product (each vertex has a few joints), then applied.
    """
    b, j = transforms.shape[:2]
    if transforms.shape[-2:] not in ((4, 4), (3, 4)) or j != skin.num_joints:
        raise ValueError(f"transforms must be [B, {skin.num_joints}, 4, 4], got {list(transforms.shape)}")
    if vertices.dim() != 3 or vertices.shape[-1] != 3 or vertices.shape[0] not in (1, b) or vertices.shape[1] != skin.weights.shape[0]:
        raise ValueError(f"vertices must be [1 or {b}, {skin.weights.shape[0]}, 3], got {list(vertices.shape)}")
    flat = transforms[:, :, :3, :].permute(1, 0, 2, 3).reshape(j, b * 12)
    blend = _BlendTransforms.apply(flat, skin).reshape(-1, b, 3, 4).permute(1, 0, 2, 3)  # [B, V, 3, 4]
    x = vertices.expand(b, -1, -1)
    return torch.addcmul(blend[..., 3], blend[..., 0], x[..., :1]) + blend[..., 1] * x[..., 1:2] + blend[..., 2] * x[..., 2:3]
