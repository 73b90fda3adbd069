"""The BodyModel protocol every backend implements, its config, and shared pure functions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from avatar3d.core import BodyOutput, BodyParams, Skeleton, SkinWeights
from avatar3d.core.checks import check_choice, check_shape

BODY_MODELS = ("anny", "smplx")
ANNY_RIGS = ("anny", "mixamo", "game_engine", "cmu_mb")
SMPLX_DIR_ENV = "AVATAR3D_SMPLX_DIR"


@dataclass(frozen=True)
class BodyConfig:
    """Which body model to build.

    Attributes:
        model: "anny" (default, ships offline) or "smplx" (needs the user's model files).
        rig: Anny rig: "anny" (104 bones), "mixamo", "game_engine" or "cmu_mb".
        smplx_dir: folder holding SMPLX_NEUTRAL.npz (or .pkl); default $AVATAR3D_SMPLX_DIR.
        smplx_gender: "neutral", "male" or "female".
        smplx_num_betas: SMPL-X shape coefficients used (10 for v1.0 files, up to 300 for v1.1).
        dtype: "float32" or "float64".
    """

    model: str = "anny"
    rig: str = "anny"
    smplx_dir: str | None = None
    smplx_gender: str = "neutral"
    smplx_num_betas: int = 10
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_choice("body model", self.model, BODY_MODELS)
        check_choice("rig", self.rig, ANNY_RIGS)
        check_choice("smplx_gender", self.smplx_gender, ("neutral", "male", "female"))
        check_choice("dtype", self.dtype, ("float32", "float64"))
        if not 1 <= self.smplx_num_betas <= 300:
            raise ValueError(f"smplx_num_betas must be in [1, 300], got {self.smplx_num_betas}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32

    def resolved_smplx_dir(self) -> Path | None:
        value = self.smplx_dir or os.environ.get(SMPLX_DIR_ENV)
        return Path(value).expanduser() if value else None


@runtime_checkable
class BodyModel(Protocol):
    """A parametric body: shape + pose -> posed mesh and named joints in the world frame.

    Conventions every backend guarantees: world frame of DESIGN.md (Y up, facing +Z, left +X);
    with identity pose and global_orient and zero transl the body stands with its lowest vertex
    on y = 0 and its SMPL pelvis joint at (0, h, 0); ``global_orient`` rotates about that pelvis.
    """

    name: str
    #: Names of the joints ``BodyParams.pose`` rotates (the model skeleton minus its root).
    pose_joint_names: tuple[str, ...]
    #: Index into pose_joint_names of the joint each non-root SMPL-22 joint (1..21) drives.
    smpl22_pose_slots: tuple[int, ...]
    #: Names of the shape coefficients (Anny phenotypes or "beta0".."betaN").
    shape_names: tuple[str, ...]
    #: (low, high) valid range of every shape coefficient.
    shape_range: tuple[float, float]
    faces: torch.Tensor
    uvs: torch.Tensor | None
    face_uvs: torch.Tensor | None
    skin: SkinWeights
    dtype: torch.dtype

    def default_params(self, batch_size: int = 1) -> BodyParams: ...

    def forward(self, params: BodyParams) -> BodyOutput: ...

    def rest_skeleton(self, shape: torch.Tensor) -> Skeleton: ...


def identity_params(batch_size: int, num_pose_joints: int, shape: torch.Tensor) -> BodyParams:
    """BodyParams in the rest pose with the given ``[B, S]`` shape."""
    eye = torch.eye(3, dtype=shape.dtype, device=shape.device)
    return BodyParams(
        shape=shape,
        pose=eye.expand(batch_size, num_pose_joints, 3, 3).clone(),
        global_orient=eye.expand(batch_size, 3, 3).clone(),
        transl=shape.new_zeros(batch_size, 3),
    )


def check_params(params: BodyParams, num_pose_joints: int, shape_dim: int, shape_range: tuple[float, float]) -> int:
    """Validate BodyParams at a backend boundary; return the batch size."""
    if not isinstance(params, BodyParams):
        raise ValueError(f"params must be a BodyParams, got {type(params).__name__}")
    check_shape("params.shape", params.shape, ("B", shape_dim))
    b = params.shape.shape[0]
    check_shape("params.pose", params.pose, (b, num_pose_joints, 3, 3))
    check_shape("params.global_orient", params.global_orient, (b, 3, 3))
    check_shape("params.transl", params.transl, (b, 3))
    lo, hi = shape_range
    with torch.no_grad():
        s = params.shape
        if not bool(torch.isfinite(s).all()):
            raise ValueError("params.shape contains NaN/Inf; all values must be finite")
        if s.numel() and (float(s.min()) < lo - 1e-6 or float(s.max()) > hi + 1e-6):
            raise ValueError(
                f"params.shape values must lie in [{lo}, {hi}], got values in "
                f"[{float(s.min()):.4g}, {float(s.max()):.4g}]"
            )
    return b


def place_in_world(
    points: torch.Tensor,
    pelvis: torch.Tensor,
    pelvis_height: torch.Tensor,
    global_orient: torch.Tensor,
    transl: torch.Tensor,
) -> torch.Tensor:
    """Rotate ``[B, N, 3]`` points about the pelvis and stand the body on the floor.

    ``pelvis``: ``[B, 3]`` pelvis position in the points' frame (already world-oriented);
    ``pelvis_height``: ``[B]`` pelvis height above the floor at rest.  Returns
    ``global_orient @ (p - pelvis) + (0, pelvis_height, 0) + transl``.
    """
    centred = points - pelvis[:, None, :]
    rotated = torch.einsum("bij,bnj->bni", global_orient, centred)
    lift = torch.zeros_like(transl)
    lift = lift + torch.stack((torch.zeros_like(pelvis_height), pelvis_height, torch.zeros_like(pelvis_height)), -1)
    return rotated + (lift + transl)[:, None, :]


def world_placement_matrix(
    pelvis: torch.Tensor, pelvis_height: torch.Tensor, global_orient: torch.Tensor, transl: torch.Tensor
) -> torch.Tensor:
    """``[B, 4, 4]`` homogeneous form of :func:`place_in_world`."""
    b = pelvis.shape[0]
    m = torch.zeros(b, 4, 4, dtype=pelvis.dtype, device=pelvis.device)
    m[:, :3, :3] = global_orient
    lift = torch.stack((torch.zeros_like(pelvis_height), pelvis_height, torch.zeros_like(pelvis_height)), -1)
    m[:, :3, 3] = -torch.einsum("bij,bj->bi", global_orient, pelvis) + lift + transl
    m[:, 3, 3] = 1.0
    return m
