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
