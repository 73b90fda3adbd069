"""Synthetic training data for the multimodal encoder: random Anny bodies in real mocap poses,
seen by random cameras, with perception-like noise (made by the project; no real person's data).

Per body shape (phenotypes drawn from :func:`sample_phenotypes`), ``poses_per_shape`` poses are
evaluated in one batched Anny call (plus the rest pose, for the standing height).  Poses are
frames of the shipped CMU motion library (``assets/motion/library.npz``) or samples of the
shipped CMU pose mixture (``assets/pose_prior/cmu_smpl22_gmm.npz``), with a small per-joint
jitter.  Each posed body gets its own camera: image size, vertical field of view, yaw of the
person (mostly towards the camera, sometimes away), camera pitch and roll, and a framing (full
body, cut at the thighs, upper body) that sets the distance; truncation follows from it.

Stored per sample (clean; :func:`augment` adds the noise on the fly, so every epoch differs):
the 21 token keypoints in pixels and in the camera frame, whether each lies in the image, the
person box, the mask grid, the intrinsics, the targets of :class:`EncoderTargets` and the
description features of two true descriptions (English, Korean) and one wrong one.

Noise (:class:`NoiseConfig`), calibrated against mediapipe on the synth_dev renders (median 2D
error 1.0 % of the box diagonal for visible keypoints, 1.7 % for occluded ones, confidence
0.97 / 0.88; world landmarks: 9 cm median 3D error, per-axis sd 4 / 5 / 9 cm (x, y, z), scale
0.95 +- 0.05 of the true body).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from avatar3d.body.base import identity_params
from avatar3d.core.frames import FRONT_CAMERA_ROTATION
from avatar3d.core.joints import COCO17
from avatar3d.core.rotations import axis_angle_to_matrix, quaternion_to_matrix
from avatar3d.encoder.describe import (
    attributes_of,
    describe,
    description_features,
    understand_description,
    wrong_attributes,
    TEXT_FEATURES,
)
from avatar3d.encoder.features import (
    K_TOKENS,
    MASK_GRID,
    TOKEN_KEYPOINTS,
    global_features,
    keypoint_tokens,
    mask_grid_from_points,
    person_window,
)
from avatar3d.encoder.model import EncoderTargets
from avatar3d.fitting.pose_prior import GaussianMixture, default_prior_path

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
LIBRARY_FILE = ASSETS / "motion" / "library.npz"
QUAT_SCALE = 32767.0


@dataclass(frozen=True)
class SceneConfig:
    """Random bodies, poses and cameras."""

    num_shapes: int = 640
    poses_per_shape: int = 16
    #: (width, height) of the simulated photos.
    image_sizes: tuple[tuple[int, int], ...] = ((480, 640), (640, 480), (512, 512), (600, 800), (720, 1280),
                                                 (1280, 720), (768, 1024), (1024, 768))
    fov_y_deg: tuple[float, float] = (35.0, 65.0)
    #: Fraction of people turned away from the camera (yaw uniform over the circle).
    any_yaw_fraction: float = 0.25
    frontal_yaw_sd_deg: float = 40.0
    pitch_sd_deg: float = 7.0
    roll_sd_deg: float = 3.0
    #: Framing probabilities: full body, cut at the thighs, upper body.
    framing: tuple[float, float, float] = (0.75, 0.2, 0.05)
    #: Fraction of poses from the mocap library (the rest from the pose mixture).
    library_fraction: float = 0.6
    pose_jitter_rad: float = 0.06
    #: Fraction of children and teenagers (Anny age 0.25-0.5).
    young_fraction: float = 0.15


@dataclass(frozen=True)
class NoiseConfig:
    """Perception-like noise (see module docstring), in fractions of the box diagonal."""

    visible_sd: float = 0.009
    occluded_sd: float = 0.016
    outlier_sd: float = 0.05
    outlier_rate: float = 0.04
    occluded_rate: float = 0.15
    dropout_rate: float = 0.04
    outside_seen_rate: float = 0.3
    outside_sd: float = 0.06
    min_confidence: float = 0.3
    world_sd: tuple[float, float, float] = (0.035, 0.04, 0.08)
    world_scale: tuple[float, float] = (0.95, 0.05)
    world_rotation_sd_deg: float = 5.0
    world_missing_rate: float = 0.05
    box_jitter: float = 0.02
    mask_dilate_rate: float = 0.4
    mask_flip_rate: float = 0.02
    #: Description mix: none, true English, true Korean, wrong.
    text_mix: tuple[float, float, float, float] = (0.35, 0.27, 0.28, 0.10)


@dataclass
class EncoderDataset:
    """Clean synthetic samples (numpy, leading ``N``); see the module docstring."""

    uv: np.ndarray  # [N, K_TOKENS, 2] pixels
    cam3d: np.ndarray  # [N, K_TOKENS, 3] camera frame, metres
    in_image: np.ndarray  # [N, K_TOKENS] bool
    bbox: np.ndarray  # [N, 4]
    mask: np.ndarray  # [N, G, G]
    K: np.ndarray  # [N, 3, 3]
    size: np.ndarray  # [N, 2] (width, height)
    shape: np.ndarray  # [N, S]
    height: np.ndarray  # [N]
    pose: np.ndarray  # [N, 21, 3, 3]
    orient: np.ndarray  # [N, 3, 3] fitter world frame
    root_uv: np.ndarray  # [N, 2]
    log_depth: np.ndarray  # [N]
    text: np.ndarray  # [N, 3, TEXT_FEATURES]: true en, true ko, wrong
    group: np.ndarray  # [N] body-shape index (split by body, not by sample)
    texts: list[tuple[str, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.uv.shape[0])

    def subset(self, index: np.ndarray) -> EncoderDataset:
        kw = {k: (v[index] if isinstance(v, np.ndarray) else [v[i] for i in index]) for k, v in self.__dict__.items()}
        return EncoderDataset(**kw)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)})

    @classmethod
    def load(cls, path: str | Path) -> EncoderDataset:
        with np.load(path) as d:
            return cls(**{k: d[k] for k in d.files})


# ------------------------------------------------------------------------------ sampling
def sample_phenotypes(rng: np.random.Generator, young_fraction: float) -> np.ndarray:
    """``[6]`` Anny phenotypes (gender, age, muscle, weight, height, proportions): a broad,
    roughly realistic population (adults mostly; Anny's height phenotype is centred so that
    statures span about 1.45-2.05 m for adults)."""
    gender = rng.beta(0.6, 0.6)
    age = rng.uniform(0.25, 0.5) if rng.random() < young_fraction else rng.uniform(0.5, 1.0)
    muscle = rng.uniform(0.0, 1.0)
    weight = rng.uniform(0.0, 1.0)
    height = float(np.clip(rng.normal(0.40, 0.13), 0.0, 1.0))
    proportions = rng.uniform(0.0, 1.0)
    return np.array([gender, age, muscle, weight, height, proportions])


class PoseSource:
    """Random SMPL-22 poses: mocap library frames or pose-mixture samples (canonical convention)."""

    def __init__(self, library_fraction: float) -> None:
        with np.load(LIBRARY_FILE) as lib:
            q = lib["q"].astype(np.float64) / QUAT_SCALE
        q /= np.linalg.norm(q, axis=-1, keepdims=True)
        self.library = torch.from_numpy(q)  # [T, 22, 4]
        self.mixture = GaussianMixture.load(default_prior_path())
        self.chol = np.linalg.cholesky(self.mixture.covariances + 1e-9 * np.eye(63))
        self.library_fraction = library_fraction

    def sample(self, rng: np.random.Generator, n: int, jitter: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(body ``[n, 21, 3, 3]``, root tilt ``[n, 3, 3]`` with the heading removed)."""
        bodies, roots = [], []
        for _ in range(n):
            if rng.random() < self.library_fraction:
                frame = self.library[rng.integers(len(self.library))]
                mats = quaternion_to_matrix(frame)
                root, body = mats[0], mats[1:]
            else:
                m = self.mixture
                k = rng.choice(len(m.weights), p=m.weights / m.weights.sum())
                x = m.means[k] + self.chol[k] @ rng.standard_normal(63)
                x = np.clip(x.reshape(21, 3), m.limits_lower, m.limits_upper)
                body = axis_angle_to_matrix(torch.from_numpy(x))
                root = axis_angle_to_matrix(torch.from_numpy(rng.normal(0.0, 0.08, 3)))
            if jitter > 0:
                body = body @ axis_angle_to_matrix(torch.from_numpy(rng.normal(0.0, jitter, (21, 3))))
            # remove the heading (rotation about world up) so the camera sets the yaw
            fwd = root[:, 2]
            heading = math.atan2(float(fwd[0]), float(fwd[2]))
            roots.append(_rot_y(-heading) @ root)
            bodies.append(body)
        return torch.stack(bodies).float(), torch.stack(roots).float()


def _rot_x(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)


def _rot_y(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)


def _rot_z(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _token_index(model) -> list[int]:
    names = tuple(model.surface_keypoint_names)
    return [names.index(n) for n in TOKEN_KEYPOINTS]


# ------------------------------------------------------------------------------ generation
def generate_dataset(model, scene: SceneConfig, seed: int, progress_every: int = 50) -> EncoderDataset:
    """Render ``scene.num_shapes * scene.poses_per_shape`` clean samples with the Anny ``model``
    (an :class:`~avatar3d.body.anny_backend.AnnyBody`); deterministic for a seed."""
    rng = np.random.default_rng(seed)
    poses = PoseSource(scene.library_fraction)
    token_index = _token_index(model)
    front = torch.tensor(FRONT_CAMERA_ROTATION, dtype=torch.float64)
    slots = list(model.smpl22_pose_slots)
    njoints = len(model.pose_joint_names)
    n_pose = scene.poses_per_shape
    rows: dict[str, list] = {k: [] for k in ("uv", "cam3d", "in_image", "bbox", "mask", "K", "size", "shape", "height",
                                             "pose", "orient", "root_uv", "log_depth", "text", "group")}
    texts: list[tuple[str, str, str]] = []
    start = time.perf_counter()
    for g in range(scene.num_shapes):
        phen = sample_phenotypes(rng, scene.young_fraction)
        body, tilt = poses.sample(rng, n_pose, scene.pose_jitter_rad)
        yaw = np.where(rng.random(n_pose) < scene.any_yaw_fraction, rng.uniform(-math.pi, math.pi, n_pose),
                       rng.normal(0.0, math.radians(scene.frontal_yaw_sd_deg), n_pose))
        orient = torch.stack([_rot_y(float(y)) @ t.double() for y, t in zip(yaw, tilt)])
        b = n_pose + 1
        shape = torch.from_numpy(phen).float().expand(b, -1)
        params = identity_params(b, njoints, shape)
        pose = params.pose.clone()
        pose[:n_pose, slots] = body
        glob = params.global_orient.clone()
        glob[:n_pose] = orient.float()
        params = type(params)(shape=shape, pose=pose, global_orient=glob, transl=params.transl)
        with torch.no_grad():
            out = model.forward(params)
            surface = model.surface_keypoints(out.vertices)[:, token_index]
        verts = out.vertices.double().numpy()
        stature = float(verts[n_pose, :, 1].max())
        attrs = attributes_of(dict(zip(("gender", "age", "muscle", "weight", "height", "proportions"), phen)), stature)
        for i in range(n_pose):
            sample = _camera_sample(rng, scene, verts[i], surface[i].double().numpy(), out.smpl22[i, 0].double().numpy(),
                                    stature, front)
            if sample is None:
                continue
            r_cam = sample.pop("R")
            rows_i = sample
            rows_i["orient"] = (front.T @ r_cam @ orient[i]).numpy()
            rows_i["shape"] = phen
            rows_i["height"] = stature
            rows_i["pose"] = body[i].numpy()
            rows_i["group"] = g
            true_en = describe(attrs, rng, "en")
            true_ko = describe(attrs, rng, "ko")
            wrong = describe(wrong_attributes(attrs, rng), rng, str(rng.choice(["en", "ko"])), keep=0.8)
            feats = [description_features(understand_description(t)) for t in (true_en, true_ko, wrong)]
            rows_i["text"] = np.stack(feats)
            texts.append((true_en, true_ko, wrong))
            for k, v in rows_i.items():
                rows[k].append(v)
        if progress_every and (g + 1) % progress_every == 0:
            log.info("encoder data: %d/%d bodies, %d samples, %.0f s", g + 1, scene.num_shapes, len(texts),
                     time.perf_counter() - start)
    arrays = {k: np.asarray(np.stack(v) if k not in ("height", "log_depth", "group") else np.array(v)) for k, v in rows.items()}
    for k in arrays:
        if arrays[k].dtype == np.float64:
            arrays[k] = arrays[k].astype(np.float32)
    return EncoderDataset(**arrays, texts=texts)


def _camera_sample(rng: np.random.Generator, scene: SceneConfig, verts: np.ndarray, keypoints: np.ndarray,
                   pelvis: np.ndarray, stature: float, front: torch.Tensor) -> dict | None:
    """Place one posed body (world frame) in front of a random camera; project; None if the
    person would be too small or mostly outside the photo."""
    width, height = scene.image_sizes[rng.integers(len(scene.image_sizes))]
    fov = math.radians(rng.uniform(*scene.fov_y_deg))
    f = 0.5 * height / math.tan(0.5 * fov)
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    R = (_rot_x(math.radians(rng.normal(0.0, scene.pitch_sd_deg))) @ _rot_z(math.radians(rng.normal(0.0, scene.roll_sd_deg)))
         @ front).numpy()
    P = verts @ R.T
    Pp = R @ pelvis
    framing = rng.choice(3, p=np.asarray(scene.framing) / sum(scene.framing))
    # extent of the posed body at unit pelvis depth (pinhole, approximately)
    rel = P - Pp
    v_ext = float(rel[:, 1].max() - rel[:, 1].min())
    u_ext = float(rel[:, 0].max() - rel[:, 0].min())
    frac = rng.uniform(0.4, 0.92) if framing == 0 else rng.uniform(1.15, 1.6) if framing == 1 else rng.uniform(1.7, 2.4)
    depth = f * v_ext / (frac * height)
    depth = max(depth, 0.6 + float(-rel[:, 2].min()))
    ext_v = f * v_ext / depth
    ext_u = f * u_ext / depth
    if framing == 0:
        top = rng.uniform(0.02 * height, max(height - ext_v - 0.02 * height, 0.03 * height))
    else:
        top = rng.uniform(0.01 * height, 0.12 * height)
    left_min, left_max = 0.02 * width, width - ext_u - 0.02 * width
    left = rng.uniform(left_min, left_max) if left_max > left_min else 0.5 * (width - ext_u)
    # pixel of the body's top-left corner at the pelvis depth -> translation
    u_top = f * float(rel[:, 0].min()) / depth
    v_top = f * float(rel[:, 1].min()) / depth
    tx = (left - width / 2.0 - u_top) * depth / f
    ty = (top - height / 2.0 - v_top) * depth / f
    t = np.array([tx, ty, depth]) - Pp
    X = P + t
    if float(X[:, 2].min()) < 0.2:
        return None
    uv = X[:, :2] / X[:, 2:3] * f + K[:2, 2]
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    if inside.mean() < 0.25:
        return None
    box = (float(uv[inside, 0].min()), float(uv[inside, 1].min()), float(uv[inside, 0].max()), float(uv[inside, 1].max()))
    if box[3] - box[1] < 40:
        return None
    kp_cam = keypoints @ R.T + t
    kp_uv = kp_cam[:, :2] / kp_cam[:, 2:3] * f + K[:2, 2]
    kp_in = (kp_uv[:, 0] >= 0) & (kp_uv[:, 0] < width) & (kp_uv[:, 1] >= 0) & (kp_uv[:, 1] < height)
    root = R @ pelvis + t
    root_uv = root[:2] / root[2] * f + K[:2, 2]
    cu, cv, s = person_window(box)
    return {
        "uv": kp_uv, "cam3d": kp_cam, "in_image": kp_in, "bbox": np.array(box), "K": K,
        "mask": mask_grid_from_points(uv, box, width, height), "size": np.array([width, height]),
        "root_uv": np.array([(root_uv[0] - cu) / s, (root_uv[1] - cv) / s]),
        "log_depth": math.log(root[2] * s / f), "R": torch.from_numpy(R),
    }


# ------------------------------------------------------------------------------ augmentation
@dataclass(frozen=True)
class Batch:
    """Network inputs (torch float32) and targets for one batch."""

    keypoints: torch.Tensor
    globals: torch.Tensor
    mask: torch.Tensor
    text: torch.Tensor
    targets: EncoderTargets


def augment(data: EncoderDataset, index: np.ndarray, noise: NoiseConfig, rng: np.random.Generator,
            text_mode: str | None = None) -> Batch:
    """Noisy network inputs for samples ``index`` (see :class:`NoiseConfig`).

    ``text_mode`` forces the description: "none", "en", "ko" or "wrong" (default: the mix).
    """
    n = len(index)
    uv = data.uv[index].astype(np.float64)
    in_img = data.in_image[index]
    box = data.bbox[index].astype(np.float64)
    diag = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])[:, None]
    # 2D keypoints: noise, occlusion, outliers, dropout, the unseen outside the image
    occluded = rng.random((n, K_TOKENS)) < noise.occluded_rate
    sd = np.where(occluded, noise.occluded_sd, noise.visible_sd)
    sd = np.where(rng.random((n, K_TOKENS)) < noise.outlier_rate, noise.outlier_sd, sd)
    sd = np.where(in_img, sd, noise.outside_sd)
    uv = uv + rng.standard_normal((n, K_TOKENS, 2)) * (sd * diag)[..., None]
    conf = np.where(occluded, rng.uniform(0.3, 0.95, (n, K_TOKENS)), 1.0 - np.abs(rng.normal(0.0, 0.04, (n, K_TOKENS))))
    seen_outside = rng.random((n, K_TOKENS)) < noise.outside_seen_rate
    conf = np.where(in_img, conf, np.where(seen_outside, rng.uniform(0.3, 0.7, (n, K_TOKENS)), 0.0))
    conf[rng.random((n, K_TOKENS)) < noise.dropout_rate] = 0.0
    conf[conf < noise.min_confidence] = 0.0
    # the person box: jitter
    size = np.stack((box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]), 1)
    box = box + rng.normal(0.0, noise.box_jitter, (n, 4)) * np.concatenate((size, size), 1)
    # world landmarks: hip-centred camera-aligned axes, scaled, slightly rotated, noisy
    cam = data.cam3d[index].astype(np.float64)
    scale = rng.normal(*noise.world_scale, (n, 1, 1))
    axis = rng.standard_normal((n, 3))
    axis *= (np.radians(noise.world_rotation_sd_deg) * rng.standard_normal((n, 1))) / np.linalg.norm(axis, axis=1, keepdims=True)
    rot = axis_angle_to_matrix(torch.from_numpy(axis)).numpy()
    hip = 0.5 * (cam[:, COCO17.index("left_hip")] + cam[:, COCO17.index("right_hip")])
    world = np.einsum("nij,nkj->nki", rot, (cam - hip[:, None]) * scale)
    world = world + rng.standard_normal(world.shape) * np.asarray(noise.world_sd)
    missing = rng.random(n) < noise.world_missing_rate
    kps = np.zeros((n, K_TOKENS, 7), np.float32)
    glob = np.zeros((n, 9), np.float32)
    for i in range(n):
        b = tuple(box[i])
        kps[i] = keypoint_tokens(uv[i], conf[i], None if missing[i] else world[i], b)
        w, h = data.size[index[i]]
        glob[i] = global_features(b, data.K[index[i]], int(w), int(h))
    # the mask: clothes/hair (dilation), edge noise
    mask = data.mask[index].astype(np.float32)
    dil = torch.nn.functional.max_pool2d(torch.from_numpy(mask)[:, None], 3, 1, 1)[:, 0].numpy()
    alpha = np.where(rng.random(n) < noise.mask_dilate_rate, rng.uniform(0.0, 0.6, n), 0.0)[:, None, None]
    mask = (1 - alpha) * mask + alpha * dil
    flip = rng.random(mask.shape) < noise.mask_flip_rate
    mask = np.where(flip, 1.0 - mask, mask).astype(np.float32)
    # the description
    text = np.zeros((n, TEXT_FEATURES), np.float32)
    modes = {"none": 0, "en": 1, "ko": 2, "wrong": 3}
    choice = (np.full(n, modes[text_mode]) if text_mode else
              rng.choice(4, size=n, p=np.asarray(noise.text_mix) / sum(noise.text_mix)))
    for i in range(n):
        if choice[i] == 0:
            continue
        f = data.text[index[i], choice[i] - 1].copy()
        if f[0] > 0 and text_mode is None:
            f[1] = float(np.clip(f[1] - rng.uniform(0.0, 0.4) * (rng.random() < 0.3), 0.2, 1.0))
        text[i] = f
    targets = EncoderTargets(
        shape=torch.from_numpy(data.shape[index]).float(), height=torch.from_numpy(data.height[index]).float(),
        pose=torch.from_numpy(data.pose[index]).float(), orient=torch.from_numpy(data.orient[index]).float(),
        root_uv=torch.from_numpy(data.root_uv[index]).float(), log_depth=torch.from_numpy(data.log_depth[index]).float(),
        keypoints3d=torch.from_numpy(cam - hip[:, None]).float())
    return Batch(torch.from_numpy(kps), torch.from_numpy(glob), torch.from_numpy(mask), torch.from_numpy(text), targets)


#: Bump when the generator changes what it produces (invalidates cached datasets).
DATA_VERSION = 1


def dataset_key(scene: SceneConfig, seed: int) -> str:
    """A short hash of everything that determines a generated dataset."""
    import dataclasses
    import hashlib
    import json

    payload = json.dumps({"scene": dataclasses.asdict(scene), "seed": seed, "version": DATA_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


def load_or_generate(model_factory, scene: SceneConfig, seed: int, cache_dir: Path | None) -> tuple[EncoderDataset, float, bool]:
    """The dataset for ``(scene, seed)``: from ``cache_dir`` when generated before, else generated
    (and cached).  Returns (dataset, seconds spent generating, whether it came from the cache)."""
    path = Path(cache_dir) / f"encoder_data_{dataset_key(scene, seed)}.npz" if cache_dir else None
    if path is not None and path.is_file():
        return EncoderDataset.load(path), 0.0, True
    start = time.perf_counter()
    data = generate_dataset(model_factory(), scene, seed)
    seconds = time.perf_counter() - start
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        data.save(tmp)
        tmp.replace(path)
    return data, seconds, False
