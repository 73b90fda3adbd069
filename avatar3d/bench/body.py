"""`avatar3d bench body`: forward (and forward+backward) time of each body backend, on the CPU,
at batch 1 and 16, beside the same call made on the `anny` package directly.

Direct and wrapped calls are interleaved and the median is reported, so load from other
processes hits both alike; ``ratio`` = wrapper / direct (target <= 1.3).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch

from avatar3d.body import BodyConfig, create_body_model
from avatar3d.body.base import BodyParams
from avatar3d.core.rotations import axis_angle_to_matrix

BATCH_SIZES = (1, 16)
WARMUP_CALLS = 3


def _interleaved_medians(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    for fn in calls.values():
        for _ in range(WARMUP_CALLS):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000.0 for name, values in samples.items()}


def _random_params(model, batch: int, requires_grad: bool) -> BodyParams:
    g = torch.Generator().manual_seed(batch)
    pose = axis_angle_to_matrix(0.2 * torch.randn(batch, len(model.pose_joint_names), 3, generator=g)).to(model.dtype)
    shape = torch.rand(batch, len(model.shape_names), generator=g).to(model.dtype)
    lo, hi = model.shape_range
    shape = lo + (hi - lo) * shape if model.name == "anny" else 0.5 * torch.randn(batch, len(model.shape_names), generator=g).to(model.dtype)
    params = BodyParams(shape=shape, pose=pose, global_orient=torch.eye(3, dtype=model.dtype).expand(batch, 3, 3).clone(),
                        transl=torch.zeros(batch, 3, dtype=model.dtype))
    if requires_grad:
        params.shape.requires_grad_(True)
        params.pose.requires_grad_(True)
    return params


def _anny_rows(repeats: int) -> dict[str, Any]:
    model = create_body_model(BodyConfig(model="anny"))
    out: dict[str, Any] = {}
    for batch in BATCH_SIZES:
        params = _random_params(model, batch, requires_grad=False)
        deltas = model._anny_pose(params)
        direct = lambda: model.model(deltas, params.shape)  # noqa: E731 - the same call on anny itself
        ours = lambda: model.forward(params)  # noqa: E731
        with torch.no_grad():
            t = _interleaved_medians({"direct": direct, "ours": ours}, repeats)
        gp = _random_params(model, batch, requires_grad=True)

        def direct_fb() -> None:
            d = model._anny_pose(gp)
            model.model(d, gp.shape)["vertices"].square().sum().backward()

        def ours_fb() -> None:
            model.forward(gp).vertices.square().sum().backward()

        tb = _interleaved_medians({"direct": direct_fb, "ours": ours_fb}, max(5, repeats // 3))
        out[f"anny_b{batch}_fwd_ms"] = round(t["ours"], 2)
        out[f"anny_direct_b{batch}_fwd_ms"] = round(t["direct"], 2)
        out[f"anny_b{batch}_ratio"] = round(t["ours"] / t["direct"], 3)
        out[f"anny_b{batch}_fwd_bwd_ms"] = round(tb["ours"], 2)
        out[f"anny_direct_b{batch}_fwd_bwd_ms"] = round(tb["direct"], 2)
        out[f"anny_b{batch}_fwd_bwd_ratio"] = round(tb["ours"] / tb["direct"], 3)
    return out


def _smplx_rows(repeats: int) -> dict[str, Any]:
    config = BodyConfig(model="smplx")
    if config.resolved_smplx_dir() is None:
        return {"smplx": "skipped: AVATAR3D_SMPLX_DIR not set (SMPL-X files are licence-restricted)"}
    model = create_body_model(config)
    out: dict[str, Any] = {}
    for batch in BATCH_SIZES:
        params = _random_params(model, batch, requires_grad=False)
        with torch.no_grad():
            t = _interleaved_medians({"ours": lambda: model.forward(params)}, repeats)
        out[f"smplx_b{batch}_fwd_ms"] = round(t["ours"], 2)
    return out


def run_body_bench(repeats: int = 30, threads: int = 2) -> dict[str, Any]:
    """Run the benchmark; returns the flat dict printed as the final JSON line."""
    torch.set_num_threads(threads)
    result: dict[str, Any] = {"bench": "body", "threads": threads, "repeats": repeats}
    result.update(_anny_rows(repeats))
    result.update(_smplx_rows(repeats))
    ratios = [v for k, v in result.items() if k.endswith("_ratio")]
    result["max_ratio"] = max(ratios)
    result["target_ratio"] = 1.3
    result["pass"] = all(r <= 1.3 for r in ratios)
    return result
