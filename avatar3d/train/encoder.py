"""`avatar3d train encoder`: generate synthetic data, train the multimodal encoder, save it.

Deterministic for a seed (data, initialisation, batches and noise all derive from it; the
torch thread count is fixed by the config).  The output folder gets ``encoder.pt`` (weights,
model config, resolved training config, metrics, command and versions), ``encoder.json`` (the
same minus the weights, readable) and ``train_config.yaml`` (the resolved config).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avatar3d.core.joints import COCO_LIMBS12
from avatar3d.encoder.features import TOKEN_KEYPOINTS, TOKEN_WORLD
from avatar3d.encoder.model import EncoderConfig, MultimodalEncoder, encoder_loss, rotation_angle
from avatar3d.encoder.predict import CHECKPOINT_FORMAT
from avatar3d.train.encoder_data import (
    Batch,
    EncoderDataset,
    NoiseConfig,
    SceneConfig,
    augment,
    dataset_key,
    load_or_generate,
)
from avatar3d.utils.configs import save_config, to_dict

log = logging.getLogger(__name__)

#: Token rows of the 12 limb keypoints (shoulders ... ankles).
LIMB_TOKENS = [TOKEN_KEYPOINTS.index(n) for n in COCO_LIMBS12]


@dataclass(frozen=True)
class TrainEncoderConfig:
    """Everything `avatar3d train encoder` does (YAML overrides: configs/train/encoder.yaml).

    Attributes:
        seed: seeds data generation, initialisation, batch order and noise.
        scene, noise: the synthetic data (see ``avatar3d.train.encoder_data``).
        model: the network size.
        steps, batch_size, learning_rate, weight_decay, warmup_steps: AdamW with linear warm-up
            and cosine decay.
        val_fraction: bodies held out for the metrics (split by body, not by sample).
        eval_every: steps between validation losses in the log.
        threads: torch CPU threads (fixed, for determinism and a fair time budget).
    """

    seed: int = 0
    scene: SceneConfig = field(default_factory=SceneConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    steps: int = 6000
    batch_size: int = 256
    learning_rate: float = 1.0e-3
    weight_decay: float = 1.0e-4
    warmup_steps: int = 200
    val_fraction: float = 0.1
    eval_every: int = 500
    threads: int = 2


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    checkpoint: Path
    metrics: dict[str, Any]
    losses: list[float]


def split(data: EncoderDataset, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) sample indices, split by body so no body is in both."""
    groups = np.unique(data.group)
    rng = np.random.default_rng(seed + 1)
    n_val = max(1, int(round(val_fraction * len(groups)))) if len(groups) > 1 else 0
    val_groups = set(rng.choice(groups, n_val, replace=False).tolist()) if n_val else set()
    is_val = np.array([g in val_groups for g in data.group])
    return np.nonzero(~is_val)[0], np.nonzero(is_val)[0]


def _run(model: MultimodalEncoder, batch: Batch):
    return model(batch.keypoints, batch.globals, batch.mask, batch.text)


@torch.no_grad()
def evaluate(model: MultimodalEncoder, data: EncoderDataset, index: np.ndarray, noise: NoiseConfig, seed: int,
             baseline_shape: np.ndarray | None = None, baseline_height: float | None = None) -> dict[str, Any]:
    """Validation metrics with fixed noise: per description mode (none / en / ko / wrong) the
    height error (cm) and phenotype error; pose, orientation and depth errors (no description);
    and the same errors of a trivial baseline (training means, rest pose, facing the camera)."""
    model.eval()
    metrics: dict[str, Any] = {"samples": int(len(index))}
    for mode in ("none", "en", "ko", "wrong"):
        batch = augment(data, index, noise, np.random.default_rng(seed + 7), text_mode=mode)
        out = _run(model, batch)
        t = batch.targets
        metrics[f"height_err_cm_{mode}"] = round(float((out.height - t.height).abs().mean() * 100), 2)
        metrics[f"shape_mae_{mode}"] = round(float((out.shape - t.shape).abs().mean()), 4)
        if mode == "none":
            pose_deg = torch.rad2deg(rotation_angle(out.pose, t.pose))
            metrics["pose_err_deg"] = round(float(pose_deg.mean()), 2)
            metrics["orient_err_deg"] = round(float(torch.rad2deg(rotation_angle(out.orient, t.orient)).median()), 2)
            metrics["orient_err_deg_mean"] = round(float(torch.rad2deg(rotation_angle(out.orient, t.orient)).mean()), 2)
            metrics["depth_err_pct"] = round(float(((out.log_depth - t.log_depth).exp() - 1).abs().mean() * 100), 2)
            metrics["root_uv_err"] = round(float((out.root_uv - t.root_uv).norm(dim=-1).mean()), 4)
            # 3D keypoints: mean error (mm) over the 12 limb keypoints, hip-centred, and the same
            # for the simulated detector landmarks the network was given
            limbs = LIMB_TOKENS
            metrics["keypoints3d_err_mm"] = round(float((out.keypoints3d - t.keypoints3d)[:, limbs].norm(dim=-1).mean() * 1000), 1)
            detector = batch.keypoints[..., TOKEN_WORLD]
            metrics["detector3d_err_mm"] = round(float((detector - t.keypoints3d)[:, limbs].norm(dim=-1).mean() * 1000), 1)
            metrics["shape_mae_per_phenotype_none"] = [round(float(v), 4) for v in (out.shape - t.shape).abs().mean(0)]
            # calibration: fraction of errors within one predicted sigma (0.68 if calibrated)
            metrics["height_within_1sigma"] = round(float(((out.height - t.height).abs() < out.height_log_sigma.exp()).float().mean()), 3)
            if baseline_shape is not None:
                eye = torch.eye(3).expand_as(t.pose)
                metrics["baseline"] = {
                    "height_err_cm": round(float((baseline_height - t.height).abs().mean() * 100), 2),
                    "shape_mae": round(float((torch.from_numpy(baseline_shape).float() - t.shape).abs().mean()), 4),
                    "pose_err_deg": round(float(torch.rad2deg(rotation_angle(eye, t.pose)).mean()), 2),
                    "orient_err_deg": round(float(torch.rad2deg(rotation_angle(torch.eye(3).expand_as(t.orient), t.orient)).median()), 2),
                }
    model.train()
    return metrics


def train_encoder(config: TrainEncoderConfig, output_dir: str | Path, model_factory=None, data_cache: str | Path | None = None,
                  command: str | None = None) -> TrainResult:
    """Generate (or reuse cached) data, train, evaluate, and write the checkpoint to ``output_dir``.

    ``model_factory()`` builds the Anny body (default: the "anny" rig); ``data_cache`` is a
    folder for the generated dataset (keyed by the scene config and seed).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    if model_factory is None:
        from avatar3d.body import BodyConfig, create_body_model

        model_factory = lambda: create_body_model(BodyConfig())  # noqa: E731
    t0 = time.perf_counter()
    data, gen_seconds, cached = load_or_generate(model_factory, config.scene, config.seed, data_cache)
    log.info("encoder data: %d samples (%s, %.0f s)", len(data), "cached" if cached else "generated", gen_seconds)
    train_idx, val_idx = split(data, config.val_fraction, config.seed)
    net = MultimodalEncoder(config.model)
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        p = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    rng = np.random.default_rng(config.seed + 2)
    losses: list[float] = []
    t_train = time.perf_counter()
    order = rng.permutation(train_idx)
    cursor = 0
    for step in range(config.steps):
        if cursor + config.batch_size > len(order):
            order, cursor = rng.permutation(train_idx), 0
        idx = order[cursor:cursor + config.batch_size]
        cursor += config.batch_size
        batch = augment(data, idx, config.noise, rng)
        loss, parts = encoder_loss(_run(net, batch), batch.targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if config.eval_every and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
            log.info("step %d/%d loss %.3f (%s) %.0f s", step + 1, config.steps, float(np.mean(losses[-50:])),
                     ", ".join(f"{k} {float(v.detach()):.2f}" for k, v in parts.items()), time.perf_counter() - t_train)
    train_seconds = time.perf_counter() - t_train
    mean_shape = data.shape[train_idx].mean(0)
    mean_height = float(data.height[train_idx].mean())
    metrics = evaluate(net, data, val_idx if len(val_idx) else train_idx, config.noise, config.seed, mean_shape, mean_height)
    metrics.update({
        "train_samples": int(len(train_idx)), "data_seconds": round(gen_seconds, 1), "data_cached": cached,
        "train_seconds": round(train_seconds, 1), "total_seconds": round(time.perf_counter() - t0, 1),
        "final_loss": round(float(np.mean(losses[-100:])), 4) if losses else None,
        "first_loss": round(float(np.mean(losses[:20])), 4) if losses else None,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "parameters": int(sum(p.numel() for p in net.parameters())),
    })
    info = {
        "format": CHECKPOINT_FORMAT,
        "model_config": to_dict(config.model),
        "train_config": to_dict(config),
        "data_key": dataset_key(config.scene, config.seed),
        "metrics": metrics,
        "command": command or " ".join(sys.argv),
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    checkpoint = output_dir / "encoder.pt"
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    tmp = checkpoint.with_suffix(".tmp")
    torch.save({"state_dict": state, "info": json.dumps(info)}, tmp)
    tmp.replace(checkpoint)
    (output_dir / "encoder.json").write_text(json.dumps(info, indent=1, ensure_ascii=False), encoding="utf-8")
    save_config(config, output_dir / "train_config.yaml")
    log.info("wrote %s (%.1f s training, %.1f s data)", checkpoint, train_seconds, gen_seconds)
    return TrainResult(checkpoint=checkpoint, metrics=metrics, losses=losses)


__all__ = ["TrainEncoderConfig", "TrainResult", "evaluate", "split", "train_encoder"]
