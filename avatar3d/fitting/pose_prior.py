"""Pose prior learned from real mocap: a Gaussian mixture over SMPL-22 joint rotations, and
per-joint joint limits.

What it models: the 21 non-root SMPL-22 joints (``core.joints.SMPL22[1:]``, in that order),
each joint's *local* rotation in the canonical convention (``core.kinematics``: relative to its
parent, world-aligned axes, identity = the canonical rest pose, i.e. Anny's A-pose-like rest
stance), as an axis-angle vector in radians; together a 63-D vector ``x`` (joint-major:
``x[3k:3k+3]`` is joint ``SMPL22[k+1]``).  The prior was fitted by
``scripts/build_pose_prior.py`` on CMU mocap retargeted to the canonical skeleton (see the JSON
next to the ``.npz`` for clips, frames and command).

* :meth:`PosePrior.nll` is the max-mixture negative log-likelihood used by SMPLify:
  ``min_k [ 0.5 (x - mu_k)^T Sigma_k^-1 (x - mu_k) + 0.5 log det Sigma_k - log w_k ]
  + 0.5 * 63 * log(2 pi)`` (nats).  Lower = more plausible; differentiable; the ``min`` picks
  one component per sample, so gradients are piecewise smooth.
  :meth:`PosePrior.mixture_nll` is the exact ``-log sum_k w_k N(x; mu_k, Sigma_k)``.
* :meth:`PosePrior.joint_limit_penalty` is the squared excess (rad^2) of each axis-angle
  component beyond per-joint bounds taken from the data (0.5 / 99.5 percentiles widened by a
  margin), summed over joints.

Both take rotation matrices ``[B, 21, 3, 3]`` (or axis-angle ``[B, 21, 3]`` via the
``*_axis_angle`` twins) in float32 or float64, on any device, and return ``[B]``.
This module imports only ``avatar3d.core``; it holds buffers and no optimiser state.
"""

from __future__ import annotations

import dataclasses

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatar3d.core.checks import check_shape
from avatar3d.core.joints import SMPL22
from avatar3d.core.rotations import matrix_to_axis_angle

#: The 21 joints the prior covers, in order (the root/pelvis is excluded).
PRIOR_JOINTS: tuple[str, ...] = SMPL22[1:]
NUM_PRIOR_JOINTS = len(PRIOR_JOINTS)
DIM = 3 * NUM_PRIOR_JOINTS
ASSETS_ENV = "AVATAR3D_ASSETS"
DEFAULT_PRIOR_FILE = Path("pose_prior") / "cmu_smpl22_gmm.npz"


def default_prior_path() -> Path:
    """``$AVATAR3D_ASSETS/pose_prior/cmu_smpl22_gmm.npz``, else the repository's ``assets/``."""
    env = os.environ.get(ASSETS_ENV)
    base = Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "assets"
    return base / DEFAULT_PRIOR_FILE


@dataclass(frozen=True)
class GaussianMixture:
    """The prior's parameters (float64 numpy), as stored in the ``.npz``.

    Attributes:
        weights: ``[K]`` mixture weights summing to 1.
        means: ``[K, 63]`` axis-angle means (radians).
        covariances: ``[K, 63, 63]`` full covariances (radians^2).
        limits_lower, limits_upper: ``[21, 3]`` axis-angle component bounds (radians).
        joint_names: the 21 joint names.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    limits_lower: np.ndarray
    limits_upper: np.ndarray
    joint_names: tuple[str, ...] = PRIOR_JOINTS

    def __post_init__(self) -> None:
        k = self.weights.shape[0]
        if self.means.shape != (k, DIM) or self.covariances.shape != (k, DIM, DIM):
            raise ValueError(
                f"a {k}-component prior needs means [{k}, {DIM}] and covariances [{k}, {DIM}, {DIM}], "
                f"got {list(self.means.shape)} and {list(self.covariances.shape)}"
            )
        if self.limits_lower.shape != (NUM_PRIOR_JOINTS, 3) or self.limits_upper.shape != (NUM_PRIOR_JOINTS, 3):
            raise ValueError(f"joint limits must be [{NUM_PRIOR_JOINTS}, 3]")
        if tuple(self.joint_names) != PRIOR_JOINTS:
            raise ValueError(f"the prior's joints must be SMPL22[1:] in order, got {self.joint_names}")

    def save(self, path: str | Path) -> None:
        """Write the ``.npz`` (float32 arrays; a few hundred kB for 16 components)."""
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle,
                weights=self.weights.astype(np.float32),
                means=self.means.astype(np.float32),
                covariances=self.covariances.astype(np.float32),
                limits_lower=self.limits_lower.astype(np.float32),
                limits_upper=self.limits_upper.astype(np.float32),
                joint_names=np.array(self.joint_names),
            )

    @classmethod
    def load(cls, path: str | Path) -> GaussianMixture:
        with np.load(path) as data:
            return cls(
                weights=data["weights"].astype(np.float64),
                means=data["means"].astype(np.float64),
                covariances=data["covariances"].astype(np.float64),
                limits_lower=data["limits_lower"].astype(np.float64),
                limits_upper=data["limits_upper"].astype(np.float64),
                joint_names=tuple(str(n) for n in data["joint_names"]),
            )


class PosePrior(torch.nn.Module):
    """Max-mixture Gaussian pose prior and joint limits (see the module docstring).

    Buffers (float64, cast to the input's dtype/device on use):
        means ``[K, 63]``, precision_factors ``[K, 63, 63]`` (upper ``U_k`` with
        ``Sigma_k^-1 = U_k U_k^T``), component_constants ``[K]`` (``0.5 log det Sigma_k -
        log w_k + 0.5 * 63 log 2 pi``), limits_lower / limits_upper ``[21, 3]``.
    """

    def __init__(self, mixture: GaussianMixture) -> None:
        super().__init__()
        self.mixture = mixture
        cov = torch.from_numpy(mixture.covariances)
        chol = torch.linalg.cholesky(cov)  # Sigma = L L^T ; Sigma^-1 = L^-T L^-1
        eye = torch.eye(DIM, dtype=torch.float64).expand_as(cov)
        inv_l = torch.linalg.solve_triangular(chol, eye, upper=False)  # L^-1
        logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        weights = torch.from_numpy(mixture.weights)
        const = 0.5 * logdet - torch.log(weights) + 0.5 * DIM * math.log(2.0 * math.pi)
        self.register_buffer("means", torch.from_numpy(mixture.means))
        self.register_buffer("precision_factors", inv_l.transpose(-1, -2).contiguous())  # U = L^-T
        self.register_buffer("component_constants", const)
        self.register_buffer("limits_lower", torch.from_numpy(mixture.limits_lower))
        self.register_buffer("limits_upper", torch.from_numpy(mixture.limits_upper))

    @classmethod
    def load(cls, path: str | Path | None = None, covariance_floor: float = 0.0) -> PosePrior:
        """Load the shipped prior (default :func:`default_prior_path`) or another ``.npz``.

        ``covariance_floor`` (rad^2) is added to every component's covariance diagonal: the
        mocap set is small for a 63-D density (and its collars never move), so a floor keeps the
        prior broad where the data is thin instead of forbidding every unseen pose.
        """
        path = Path(path) if path is not None else default_prior_path()
        if not path.exists():
            raise FileNotFoundError(f"pose prior {path} is missing; build it with scripts/build_pose_prior.py")
        mixture = GaussianMixture.load(path)
        if covariance_floor > 0:
            floor = covariance_floor * np.eye(mixture.covariances.shape[-1])
            mixture = dataclasses.replace(mixture, covariances=mixture.covariances + floor)
        return cls(mixture)

    @property
    def num_components(self) -> int:
        return int(self.means.shape[0])

    @staticmethod
    def provenance(path: str | Path | None = None) -> dict:
        """The JSON written next to the ``.npz`` (clips, frames, date, command)."""
        path = Path(path) if path is not None else default_prior_path()
        return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))

    # ------------------------------------------------------------------ mixture terms
    def component_nll(self, axis_angle: torch.Tensor) -> torch.Tensor:
        """``[B, K]`` per-component ``0.5 mahalanobis^2 + constant`` for ``[B, 21, 3]`` axis-angle."""
        check_shape("axis_angle", axis_angle, ("B", NUM_PRIOR_JOINTS, 3))
        x = axis_angle.reshape(axis_angle.shape[0], DIM)
        diff = x[:, None, :] - self.means.to(x)[None]  # [B, K, 63]
        white = torch.einsum("bki,kij->bkj", diff, self.precision_factors.to(x))  # U^T-whitened
        return 0.5 * (white * white).sum(-1) + self.component_constants.to(x)

    def nll_axis_angle(self, axis_angle: torch.Tensor) -> torch.Tensor:
        """``[B]`` max-mixture NLL (nats) of ``[B, 21, 3]`` axis-angle local rotations (rad)."""
        return self.component_nll(axis_angle).min(dim=1).values

    def nll(self, local_rotations: torch.Tensor) -> torch.Tensor:
        """``[B]`` max-mixture NLL (nats) of ``[B, 21, 3, 3]`` local rotation matrices of the
        joints ``SMPL22[1:]`` (canonical convention, identity = canonical rest pose)."""
        check_shape("local_rotations", local_rotations, ("B", NUM_PRIOR_JOINTS, 3, 3))
        return self.nll_axis_angle(matrix_to_axis_angle(local_rotations))

    def mixture_nll_axis_angle(self, axis_angle: torch.Tensor) -> torch.Tensor:
        """``[B]`` exact mixture NLL ``-log sum_k w_k N(x; mu_k, Sigma_k)`` (nats)."""
        return -torch.logsumexp(-self.component_nll(axis_angle), dim=1)

    def mixture_nll(self, local_rotations: torch.Tensor) -> torch.Tensor:
        """``[B]`` exact mixture NLL of ``[B, 21, 3, 3]`` local rotations."""
        check_shape("local_rotations", local_rotations, ("B", NUM_PRIOR_JOINTS, 3, 3))
        return self.mixture_nll_axis_angle(matrix_to_axis_angle(local_rotations))

    # ------------------------------------------------------------------ joint limits
    def joint_limit_penalty_axis_angle(self, axis_angle: torch.Tensor) -> torch.Tensor:
        """``[B]`` sum over joints and axis-angle components of the squared excess beyond the
        limits (rad^2); 0 inside the box."""
        check_shape("axis_angle", axis_angle, ("B", NUM_PRIOR_JOINTS, 3))
        below = torch.relu(self.limits_lower.to(axis_angle) - axis_angle)
        above = torch.relu(axis_angle - self.limits_upper.to(axis_angle))
        return (below * below + above * above).sum(dim=(1, 2))

    def joint_limit_penalty(self, local_rotations: torch.Tensor) -> torch.Tensor:
        """``[B]`` joint-limit penalty (rad^2) of ``[B, 21, 3, 3]`` local rotation matrices."""
        check_shape("local_rotations", local_rotations, ("B", NUM_PRIOR_JOINTS, 3, 3))
        return self.joint_limit_penalty_axis_angle(matrix_to_axis_angle(local_rotations))

    def forward(self, local_rotations: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`nll`."""
        return self.nll(local_rotations)
