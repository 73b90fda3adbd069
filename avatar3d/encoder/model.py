"""The multimodal encoder network: a small transformer over keypoint, mask, box and text tokens.

Tokens (width ``d_model``): one per keypoint (:data:`~avatar3d.encoder.features.TOKEN_KEYPOINTS`,
its 7 features plus a learned joint embedding), one for the box placement, ``(MASK_GRID /
patch)^2`` mask-patch tokens (a patch's occupancies plus a learned position embedding), one text
token (the description features; masked out of attention when there is no usable description)
and a learned output token.  ``layers`` pre-norm blocks with
``torch.nn.functional.scaled_dot_product_attention``; heads read the output token.

Outputs (:class:`EncoderOutput`), each with a log standard deviation:
* Anny phenotypes ``[B, S]`` in (0, 1) (sigmoid) and standing height ``[B]`` metres;
* body pose ``[B, 21, 6]`` (6D, added to the identity) -> local rotations of SMPL joints 1..21;
* global orientation ``[B, 6]`` in the fitter's world frame (see ``fitting.fitter``);
* the SMPL pelvis in the photo: ``root_uv [B, 2]`` box-normalised pixel offset
  ``((u - bcx) / s, (v - bcy) / s)`` and ``log_depth [B]`` = ``log(z * s / f)`` (metres of
  the box's longer side at the pelvis' depth);
* 3D keypoints ``[B, K_TOKENS, 3]`` (:data:`~avatar3d.encoder.features.TOKEN_KEYPOINTS`), metres
  relative to the hip midpoint in camera-aligned axes (x right, y down, z away), read from each
  keypoint token's output as a correction of the detector's own 3D landmark (zero when it has
  none).  Positions are much easier to learn than chained joint rotations, and they are what
  the fitter needs: where each limb points in depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from avatar3d.core.rotations import sixd_to_matrix
from avatar3d.encoder.describe import TEXT_FEATURES
from avatar3d.encoder.features import GLOBAL_FEATURES, K_TOKENS, KEYPOINT_FEATURES, MASK_GRID, TOKEN_WORLD, TOKEN_WORLD_VALID

NUM_BODY_JOINTS = 21
IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
LOG_SIGMA_RANGE = (-6.0, 3.0)


@dataclass(frozen=True)
class EncoderConfig:
    """Size of the network (saved in the checkpoint).

    Attributes:
        d_model: token width. heads: attention heads (d_model divisible by heads).
        layers: transformer blocks. ff_mult: feed-forward width / d_model.
        mask_patch: mask grid cells per patch side (MASK_GRID divisible by it).
        shape_dim: number of shape values predicted (Anny: 6 phenotypes).
        dropout: dropout in attention and feed-forward (training only).
    """

    d_model: int = 64
    heads: int = 4
    layers: int = 3
    ff_mult: int = 2
    mask_patch: int = 4
    shape_dim: int = 6
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        if MASK_GRID % self.mask_patch:
            raise ValueError(f"mask_patch must divide {MASK_GRID}, got {self.mask_patch}")
        if self.layers < 1 or self.d_model < 8:
            raise ValueError("the encoder needs at least one layer and d_model >= 8")


@dataclass(frozen=True)
class EncoderOutput:
    """Raw network outputs for a batch of ``B`` (see module docstring for units and frames)."""

    shape: torch.Tensor  # [B, S] in (0, 1)
    shape_log_sigma: torch.Tensor  # [B, S]
    height: torch.Tensor  # [B] metres
    height_log_sigma: torch.Tensor  # [B]
    pose: torch.Tensor  # [B, 21, 3, 3]
    pose_log_sigma: torch.Tensor  # [B, 21] (radians)
    orient: torch.Tensor  # [B, 3, 3]
    orient_log_sigma: torch.Tensor  # [B]
    root_uv: torch.Tensor  # [B, 2]
    log_depth: torch.Tensor  # [B]
    log_depth_log_sigma: torch.Tensor  # [B]
    keypoints3d: torch.Tensor  # [B, K_TOKENS, 3] metres, hip-centred, camera-aligned axes
    keypoints3d_log_sigma: torch.Tensor  # [B, K_TOKENS] (metres, per keypoint)


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :],
                                              dropout_p=self.dropout if self.training else 0.0)
        x = x + self.out(attn.transpose(1, 2).reshape(b, n, d))
        return x + F.dropout(self.ff(self.norm2(x)), self.dropout, self.training)


class MultimodalEncoder(nn.Module):
    """Keypoints + mask + box + text -> :class:`EncoderOutput` (see module docstring)."""

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        cfg = config or EncoderConfig()
        self.config = cfg
        d = cfg.d_model
        self.keypoint_in = nn.Linear(KEYPOINT_FEATURES, d)
        self.joint_embedding = nn.Parameter(torch.randn(K_TOKENS, d) * 0.02)
        self.global_in = nn.Linear(GLOBAL_FEATURES, d)
        patches = (MASK_GRID // cfg.mask_patch) ** 2
        self.mask_in = nn.Linear(cfg.mask_patch ** 2, d)
        self.mask_position = nn.Parameter(torch.randn(patches, d) * 0.02)
        self.text_in = nn.Sequential(nn.Linear(TEXT_FEATURES, d), nn.GELU(), nn.Linear(d, d))
        self.type_embedding = nn.Parameter(torch.randn(5, d) * 0.02)  # keypoint, box, mask, text, output
        self.output_token = nn.Parameter(torch.randn(d) * 0.02)
        self.blocks = nn.ModuleList(_Block(d, cfg.heads, cfg.ff_mult * d, cfg.dropout) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)
        s, j = cfg.shape_dim, NUM_BODY_JOINTS
        self.sizes = {"shape": 2 * s, "height": 2, "pose": 7 * j, "orient": 7, "root": 4}
        self.head = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, sum(self.sizes.values())))
        self.keypoint_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, 4))
        with torch.no_grad():  # start at the rest pose (and the detector's 3D) and unit sigmas
            for last in (self.head[-1], self.keypoint_head[-1]):
                last.weight.mul_(0.1)
                last.bias.zero_()

    def forward(self, keypoints: torch.Tensor, globals_: torch.Tensor, mask: torch.Tensor, text: torch.Tensor) -> EncoderOutput:
        """``keypoints [B, K_TOKENS, 7]``, ``globals_ [B, 9]``, ``mask [B, G, G]``, ``text [B, 14]``
        (float32; see :mod:`avatar3d.encoder.features`) -> :class:`EncoderOutput`."""
        b = keypoints.shape[0]
        p = self.config.mask_patch
        g = MASK_GRID // p
        te = self.type_embedding
        kp = self.keypoint_in(keypoints) + self.joint_embedding + te[0]
        gl = (self.global_in(globals_) + te[1])[:, None]
        patches = mask.reshape(b, g, p, g, p).permute(0, 1, 3, 2, 4).reshape(b, g * g, p * p)
        mk = self.mask_in(patches) + self.mask_position + te[2]
        tx = (self.text_in(text) + te[3])[:, None]
        out = (self.output_token + te[4]).expand(b, 1, -1)
        x = torch.cat((out, gl, kp, mk, tx), dim=1)
        key_mask = torch.ones(b, x.shape[1], dtype=torch.bool, device=x.device)
        key_mask[:, -1] = text[:, 0] > 0.5  # no description: the text token is not attended to
        for block in self.blocks:
            x = block(x, key_mask)
        y = self.head(self.norm(x[:, 0]))
        k = self.keypoint_head(x[:, 2:2 + keypoints.shape[1]])
        detector3d = keypoints[..., TOKEN_WORLD] * keypoints[..., TOKEN_WORLD_VALID, None]
        parts = dict(zip(self.sizes, torch.split(y, list(self.sizes.values()), dim=-1)))
        s, j = self.config.shape_dim, NUM_BODY_JOINTS
        clamp = lambda t: t.clamp(*LOG_SIGMA_RANGE)  # noqa: E731
        identity = torch.tensor(IDENTITY_6D, dtype=y.dtype, device=y.device)
        pose6 = parts["pose"][:, :6 * j].reshape(b, j, 6) + identity
        orient6 = parts["orient"][:, :6] + identity
        return EncoderOutput(
            shape=torch.sigmoid(parts["shape"][:, :s]), shape_log_sigma=clamp(parts["shape"][:, s:] - 2.0),
            height=1.70 + 0.1 * parts["height"][:, 0], height_log_sigma=clamp(parts["height"][:, 1] - 2.5),
            pose=sixd_to_matrix(pose6), pose_log_sigma=clamp(parts["pose"][:, 6 * j:] - 1.0),
            orient=sixd_to_matrix(orient6), orient_log_sigma=clamp(parts["orient"][:, 6] - 1.0),
            root_uv=0.1 * parts["root"][:, :2], log_depth=math.log(2.0) + parts["root"][:, 2],
            log_depth_log_sigma=clamp(parts["root"][:, 3] - 2.0),
            keypoints3d=detector3d + k[..., :3], keypoints3d_log_sigma=clamp(k[..., 3] - 3.0),
        )


def rotation_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[...]`` geodesic angle (radians) between rotation matrices ``[..., 3, 3]``."""
    cos = ((a * b).sum(dim=(-1, -2)) - 1.0) * 0.5
    return torch.acos(cos.clamp(-1.0 + 1e-6, 1.0 - 1e-6))


@dataclass(frozen=True)
class EncoderTargets:
    """Ground truth for a batch (same frames and units as :class:`EncoderOutput`)."""

    shape: torch.Tensor  # [B, S]
    height: torch.Tensor  # [B]
    pose: torch.Tensor  # [B, 21, 3, 3]
    orient: torch.Tensor  # [B, 3, 3]
    root_uv: torch.Tensor  # [B, 2]
    log_depth: torch.Tensor  # [B]
    keypoints3d: torch.Tensor  # [B, K_TOKENS, 3] hip-centred, camera-aligned axes, metres


def _nll(error: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood (up to a constant) of ``error`` with ``exp(log_sigma)``."""
    return 0.5 * error.square() * torch.exp(-2.0 * log_sigma) + log_sigma


def encoder_loss(out: EncoderOutput, target: EncoderTargets) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Scalar training loss and its parts: a direct error term per output (so means learn whatever
    the sigmas do) plus the Gaussian NLL of that error under the predicted sigma."""
    shape_err = out.shape - target.shape
    height_err = out.height - target.height
    pose_err = rotation_angle(out.pose, target.pose)
    orient_err = rotation_angle(out.orient, target.orient)
    depth_err = out.log_depth - target.log_depth
    root_err = (out.root_uv - target.root_uv).norm(dim=-1)
    keypoint_err = (out.keypoints3d - target.keypoints3d).norm(dim=-1)
    parts = {
        "shape": shape_err.square().mean() / 0.01 + _nll(shape_err, out.shape_log_sigma).mean(),
        "height": (height_err / 0.05).square().mean() + _nll(height_err, out.height_log_sigma).mean(),
        "pose": (pose_err / 0.3).square().mean() + _nll(pose_err, out.pose_log_sigma).mean(),
        "orient": (orient_err / 0.3).square().mean() + _nll(orient_err, out.orient_log_sigma).mean(),
        "depth": (depth_err / 0.1).square().mean() + _nll(depth_err, out.log_depth_log_sigma).mean(),
        "root": (root_err / 0.05).square().mean(),
        # absolute (not squared) metres: a few hard samples should not dominate the positions
        "keypoints": (keypoint_err / 0.05).mean() + _nll(keypoint_err, out.keypoints3d_log_sigma).mean(),
    }
    return sum(parts.values()), parts
