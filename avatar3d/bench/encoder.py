"""`avatar3d bench encoder`: what the multimodal encoder buys, side by side on a development set.

For every NNNN.png of the set (e.g. ../shared/bench/synth_dev, which has the true camera-frame
keypoints, mask, phenotypes and stature in NNNN.json / NNNN_mask.png), perception runs once and
then, with the same observations and the intrinsics `create` would use:

* ``no_encoder``: the fitter as before (its default schedule);
* ``encoder``: the fitter started from the encoder's prior, with the short schedule of
  configs/create/fast.yaml (``create --config configs/create/fast.yaml``) - the speed claim;
* ``encoder_full``: the same prior with create's default (full) schedule - the accuracy claim;
* ``encoder_true`` / ``encoder_wrong``: the short schedule with a true description (generated
  from the set's ground truth: sex, age, height in cm or as a category, build; English and
  Korean alternating) and with a wrong one (opposite sex, height, build, a distant age);
* ``encoder_gross``: the true description but a grossly wrong stated height (0.45 m off, ~6
  of the photo's own sigmas): the case where the image evidence is clear enough to win;
* ``encoder_alone`` (none / true / wrong / gross description): the encoder's own prediction, no
  fitting.

Metrics per variant (means): PA-MPJPE (mm, the 12 limb keypoints after a similarity Procrustes
fit, as ../score_fit.py), silhouette IoU against the true mask, fitting time (``seconds``: CPU
seconds of this process, encoder included - on a shared machine wall time swings with other
load, CPU time much less; ``wall_seconds`` beside it), standing-height error (cm) and phenotype
error (mean absolute, Anny units; ``phenotype_err`` per phenotype, fitted), and how often a
description's stated height drew a warning (``height_warnings``).  The last
line is one JSON object with at least ``speedup`` (fitting time without / with the encoder, at
the PA-MPJPE reported beside it) and ``height_err_cm`` {none, true, wrong}.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avatar3d.body.base import identity_params
from avatar3d.core import BodyParams, BodyPrior
from avatar3d.core.joints import COCO17, COCO_LIMBS12
from avatar3d.encoder.describe import attributes_of, describe, wrong_attributes
from avatar3d.encoder.predict import STATED_HEIGHT_WARNING
from avatar3d.utils.configs import load_config
from avatar3d.utils.errors import UserError

LIMB_INDEX = [COCO17.index(n) for n in COCO_LIMBS12]
#: The short-schedule preset the "encoder" variant runs (the speed claim).
FAST_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "create" / "fast.yaml"
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")


def procrustes_aligned(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``X [N, 3]`` after the similarity transform (scale, rotation, translation) best fitting it
    onto ``Y [N, 3]``."""
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    nx = (Xc ** 2).sum()
    if nx < 1e-12:
        return np.broadcast_to(my, X.shape).copy()
    U, S, Vt = np.linalg.svd(Xc.T @ Yc)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, 1.0, d])
    R = (U @ D @ Vt).T
    s = (S * np.diag(D)).sum() / nx
    return s * Xc @ R.T + my


def pa_mpjpe_mm(pred_cam: np.ndarray, true_cam: np.ndarray) -> float:
    """PA-MPJPE (mm) over the 12 limb keypoints of ``[17, 3]`` COCO arrays (metres)."""
    p, t = pred_cam[LIMB_INDEX], true_cam[LIMB_INDEX]
    return float(np.linalg.norm(procrustes_aligned(p, t) - t, axis=1).mean() * 1000)


def gross_description(gt: dict, index: int) -> str:
    """The true description of photo ``index`` with a stated height 0.45 m off the truth
    (taller on odd indices, shorter on even ones)."""
    rng = np.random.default_rng(3000 + index)
    attrs = attributes_of(gt["phenotype"], gt["stature_m"])
    wrong_m = attrs.height_m + (0.45 if index % 2 else -0.45)
    return describe(dataclasses.replace(attrs, height_m=wrong_m), rng, "en" if index % 2 == 0 else "ko",
                    keep=1.0, numeric_height=1.0)


def _coco_points(points: torch.Tensor, names: tuple[str, ...]) -> np.ndarray:
    """``[17, 3]`` COCO-17 rows of named ``points [N, 3]`` (NaN where a name is missing)."""
    out = np.full((len(COCO17), 3), np.nan)
    values = points.detach().double().cpu().numpy()
    for k, name in enumerate(COCO17):
        if name in names:
            out[k] = values[names.index(name)]
    return out


def true_description(gt: dict, index: int) -> str:
    """A description generated from the set's ground truth (alternating English / Korean)."""
    attrs = attributes_of(gt["phenotype"], gt["stature_m"])
    rng = np.random.default_rng(1000 + index)
    return describe(attrs, rng, "en" if index % 2 == 0 else "ko", keep=0.9, numeric_height=0.5)


def wrong_description(gt: dict, index: int) -> str:
    attrs = attributes_of(gt["phenotype"], gt["stature_m"])
    rng = np.random.default_rng(2000 + index)
    return describe(wrong_attributes(attrs, rng), rng, "en" if index % 2 == 0 else "ko", keep=0.9, numeric_height=0.5)


class _Scorer:
    """Scores bodies (fitted or predicted) of one photo against its ground truth."""

    def __init__(self, model, gt: dict, gt_mask: np.ndarray) -> None:
        self.model, self.gt, self.gt_mask = model, gt, gt_mask
        self.true_kp = np.array([gt["keypoints3d"][n] for n in COCO17])
        self.true_shape = np.array([gt["phenotype"][n] for n in PHENOTYPES])

    def score(self, params: BodyParams, camera) -> dict[str, float]:
        from avatar3d.fitting.terms import hard_iou
        from avatar3d.render import rasterize_world

        with torch.no_grad():
            out = self.model.forward(params)
            kp = self.model.surface_keypoints(out.vertices)[0, :17]
            kp_cam = camera.world_to_camera(kp).double().numpy()
            cov = rasterize_world(out.vertices, self.model.faces, camera).coverage[0]
            height = float(self.model.standing_height(params.shape)[0])
        shape_err = np.abs(params.shape[0].double().numpy() - self.true_shape)
        return {
            "pa_mpjpe_mm": pa_mpjpe_mm(kp_cam, self.true_kp),
            "iou": hard_iou(cov, torch.from_numpy(self.gt_mask.astype(np.float32))),
            "height_err_cm": abs(height - self.gt["stature_m"]) * 100,
            "shape_mae": float(shape_err.mean()),
            **{f"err_{n}": float(e) for n, e in zip(PHENOTYPES, shape_err)},
        }


def _prior_params(model, prior: BodyPrior, camera) -> BodyParams:
    """The body the prior describes, placed in the fitter's world (its pelvis at ``root_camera``)."""
    dtype = model.dtype
    p = identity_params(1, len(model.pose_joint_names), prior.shape[None].to(dtype))
    pose = p.pose.clone()
    pose[:, list(model.smpl22_pose_slots)] = prior.body_pose.to(dtype)
    params = BodyParams(shape=p.shape, pose=pose, global_orient=prior.global_orient[None].to(dtype), transl=p.transl)
    with torch.no_grad():
        pelvis = model.forward(params).smpl22[:, 0]
    target = camera.R.T.to(dtype) @ (prior.root_camera.to(dtype) - camera.t.to(dtype))
    return dataclasses.replace(params, transl=target[None] - pelvis)


def run_encoder_bench(data: Path, limit: int | None = None, checkpoint: Path | None = None) -> dict[str, Any]:
    """Run every variant on every photo of ``data``; return the summary (see module docstring)."""
    from PIL import Image

    from avatar3d.body import BodyConfig, create_body_model
    from avatar3d.config import CreateConfig
    from avatar3d.encoder.describe import default_reader
    from avatar3d.encoder.predict import BodyEncoder
    from avatar3d.fitting.fitter import fit_body, fit_camera
    from avatar3d.fitting.pose_prior import PosePrior
    from avatar3d.perception import detect_person
    from avatar3d.utils.images import load_image

    data = Path(data)
    images = sorted(data.glob("[0-9][0-9][0-9][0-9].png"))
    if not images:
        raise UserError(f"no NNNN.png photos in {data}", "point --data at a folder like ../shared/bench/synth_dev")
    if limit:
        images = images[:limit]
    config = CreateConfig()
    full_cfg = config.fit  # create's default: the full schedule (the no_encoder variant's too)
    fit_cfg = load_config(CreateConfig, FAST_CONFIG).fit  # the short schedule: the speed claim
    model = create_body_model(BodyConfig())
    pose_prior = PosePrior.load(covariance_floor=fit_cfg.pose_prior_covariance_floor)
    encoder = BodyEncoder.load(checkpoint)
    reader = default_reader()
    rows: dict[str, list[dict[str, float]]] = {}
    failures: list[str] = []
    examples: list[dict[str, Any]] = []
    for index, image_path in enumerate(images):
        gt = json.loads(image_path.with_suffix(".json").read_text(encoding="utf-8"))
        gt_mask = np.array(Image.open(image_path.with_name(image_path.stem + "_mask.png"))) > 127
        if gt_mask.ndim == 3:
            gt_mask = gt_mask[..., 0]
        scorer = _Scorer(model, gt, gt_mask)
        try:
            image = load_image(image_path)
            obs = detect_person(image, config.perception)
        except UserError as error:
            failures.append(f"{image_path.name}: {error}")
            continue
        K = image.intrinsics()
        h, w = obs.mask.shape
        camera = fit_camera(K.to(model.dtype), w, h)
        texts = {"none": None, "true": true_description(gt, index), "wrong": wrong_description(gt, index),
                 "gross": gross_description(gt, index)}
        priors: dict[str, tuple[BodyPrior, float]] = {}
        detector3d = None if obs.world_landmarks is None else pa_mpjpe_mm(_coco_points(obs.world_landmarks, obs.keypoint_names), scorer.true_kp)
        for name, text in texts.items():
            start = time.process_time()
            prior = encoder.predict(obs, K, text, reader=reader)
            priors[name] = (prior, time.process_time() - start)
            row = scorer.score(_prior_params(model, prior, camera), camera)
            # the encoder's own height estimate (its phenotypes' height would ignore a stated one)
            row["height_err_cm"] = abs(prior.height_m - gt["stature_m"]) * 100
            row["seconds"] = priors[name][1]
            row["height_warning"] = float(any(w.startswith(STATED_HEIGHT_WARNING) for w in prior.warnings))
            # its 3D keypoints (what steers the fit's limbs in depth), and the detector's own
            if prior.keypoints3d is not None:
                row["keypoints3d_pa_mpjpe_mm"] = pa_mpjpe_mm(_coco_points(prior.keypoints3d, prior.keypoint_names), scorer.true_kp)
            if detector3d is not None:
                row["detector3d_pa_mpjpe_mm"] = detector3d
            rows.setdefault(f"encoder_alone_{name}", []).append(row)
        if len(examples) < 4:
            examples.append({"image": image_path.name, "true": texts["true"], "wrong": texts["wrong"], "gross": texts["gross"],
                             "understood_true": priors["true"][0].description.as_dict() if priors["true"][0].description else None})
        variants = {
            "no_encoder": (None, full_cfg, 0.0),
            "encoder": (priors["none"][0], fit_cfg, priors["none"][1]),
            "encoder_full": (priors["none"][0], full_cfg, priors["none"][1]),
            "encoder_true": (priors["true"][0], fit_cfg, priors["true"][1]),
            "encoder_wrong": (priors["wrong"][0], fit_cfg, priors["wrong"][1]),
            "encoder_gross": (priors["gross"][0], fit_cfg, priors["gross"][1]),
        }
        for name, (prior, cfg, encode_seconds) in variants.items():
            start, wall = time.process_time(), time.perf_counter()
            try:
                fit, _ = fit_body(model, obs, K, cfg, pose_prior=pose_prior, body_prior=prior)
            except ValueError as error:
                failures.append(f"{image_path.name} {name}: {error}")
                continue
            row = {"seconds": time.process_time() - start + encode_seconds, "wall_seconds": time.perf_counter() - wall}
            row.update(scorer.score(fit.params, fit.camera))
            rows.setdefault(name, []).append(row)
        line = {k: (round(v[-1]["pa_mpjpe_mm"], 1), round(v[-1]["seconds"], 1), round(v[-1]["height_err_cm"], 1))
                for k, v in rows.items()}
        print(f"{image_path.name}: (PA-MPJPE mm, s, height error cm) {line}", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"bench": "encoder", "data": str(data), "photos": len(images), "failures": failures}
    means = {name: {k: round(statistics.mean(r[k] for r in rs if k in r), 4 if k == "shape_mae" else 2)
                    for k in dict.fromkeys(k for r in rs for k in r)}
             for name, rs in rows.items() if rs}
    summary["variants"] = means
    if "no_encoder" in means and "encoder" in means:
        summary["speedup"] = round(means["no_encoder"]["seconds"] / max(means["encoder"]["seconds"], 1e-9), 2)
        summary["pa_mpjpe_mm"] = {"no_encoder": means["no_encoder"]["pa_mpjpe_mm"], "encoder": means["encoder"]["pa_mpjpe_mm"],
                                  "encoder_full": means.get("encoder_full", {}).get("pa_mpjpe_mm")}
        summary["iou"] = {"no_encoder": means["no_encoder"]["iou"], "encoder": means["encoder"]["iou"],
                          "encoder_full": means.get("encoder_full", {}).get("iou")}
    kinds = ("none", "true", "wrong", "gross")
    fitted = {k: means.get("encoder" if k == "none" else f"encoder_{k}", {}) for k in kinds}  # short schedule
    summary["height_err_cm"] = {k: fitted[k].get("height_err_cm") for k in kinds}
    summary["height_err_cm_no_encoder"] = means.get("no_encoder", {}).get("height_err_cm")
    summary["shape_mae"] = {k: fitted[k].get("shape_mae") for k in kinds}
    summary["phenotype_err"] = {k: {n: fitted[k].get(f"err_{n}") for n in PHENOTYPES} for k in kinds}
    summary["height_warnings"] = {k: means.get(f"encoder_alone_{k}", {}).get("height_warning") for k in kinds}
    summary["encoder_alone"] = {k: means.get(f"encoder_alone_{k}") for k in kinds}
    summary["description_examples"] = examples
    return summary
