"""Build the shipped pose prior ``assets/pose_prior/cmu_smpl22_gmm.npz`` (+ ``.json`` provenance).

    python scripts/build_pose_prior.py [--cmu /work/shared/mocap/cmu] [--components 12] [--out PATH]

Steps (deterministic for a given seed and data):

1. Every usable clip of the CMU folder (``sources.tsv``; the cc_iclone files are skipped, see
   the folder README) except the held-out ones is read (T-pose frames dropped, CMU units ->
   metres), retargeted to the canonical SMPL-22 skeleton (``avatar3d.motion.retarget``) and
   resampled to ``--fps`` (10): neighbouring frames at 120 fps are nearly identical.
   Frames with an ankle turned more than ``--max-ankle-deg`` (100) from rest are dropped: some
   cgspeed conversions of subject 5's dances flip the foot by ~180 deg (05_06: 85 % of frames,
   05_17: a third), which no ankle can do.
2. The 21 non-root local rotations become 63-D axis-angle vectors; each pose is also mirrored
   (left <-> right, reflected in the x = 0 plane) since people are left-right symmetric and the
   library is small.
3. A full-covariance Gaussian mixture is fitted by EM (k-means++ start, covariance floor
   ``--reg`` rad^2 on the diagonal).  8 components won a 4-fold leave-clips-out comparison
   of 4/8/16 components and 1e-3/1e-2 floors (held-out log-likelihood; 16 overfits).
4. Joint limits: per joint and axis-angle component, the 0.5 / 99.5 percentiles of the training
   poses, widened by ``--margin`` of their range plus ``--margin-rad``.

The held-out clips (``HELD_OUT``) are scored at the end (mocap vs random axis-angle poses
``N(0, 0.5^2)``) and listed in the JSON; the tests use them as unseen data.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar3d.core.joints import mirror_name  # noqa: E402
from avatar3d.core.rotations import quaternion_to_axis_angle  # noqa: E402
from avatar3d.fitting.pose_prior import PRIOR_JOINTS, GaussianMixture, PosePrior, default_prior_path  # noqa: E402
from avatar3d.motion.canonical import load_canonical_skeleton  # noqa: E402
from avatar3d.motion.retarget import cmu_clips, load_cmu_clip, resample, retarget  # noqa: E402
from avatar3d.utils.atomic import atomic_write_bytes  # noqa: E402

log = logging.getLogger("build_pose_prior")

DEFAULT_CMU = Path("/work/shared/mocap/cmu")
#: Clips kept out of the fit, to score the prior on unseen motion (tests use them too).
HELD_OUT = ("05_01.bvh", "08_04.amc")
RANDOM_POSE_STD = 0.5
ASSET_MODE = 0o644  # atomic writes create 0600 temporaries; assets are world-readable


def clip_poses(path: Path, fps: float) -> np.ndarray:
    """``[N, 21, 3]`` axis-angle local rotations of one clip at ``fps``."""
    clip = load_cmu_clip(path)
    motion = resample(retarget(clip, load_canonical_skeleton(dtype=torch.float64), dtype=torch.float64), fps)
    return quaternion_to_axis_angle(motion.local_rotations[:, 1:]).numpy()


def plausible_frames(aa: np.ndarray, max_ankle_deg: float) -> np.ndarray:
    """``[N]`` bool: frames whose ankles are within ``max_ankle_deg`` of rest."""
    ankles = [PRIOR_JOINTS.index("left_ankle"), PRIOR_JOINTS.index("right_ankle")]
    return np.linalg.norm(aa[:, ankles], axis=-1).max(axis=1) <= np.radians(max_ankle_deg)


def mirror_poses(aa: np.ndarray) -> np.ndarray:
    """Reflect ``[N, 21, 3]`` axis-angle poses in the x = 0 plane, swapping left and right.

    A rotation R becomes M R M (M = diag(-1, 1, 1)); for axis-angle that is (x, y, z) ->
    (x, -y, -z)."""
    swap = [PRIOR_JOINTS.index(mirror_name(n)) for n in PRIOR_JOINTS]
    return aa[:, swap] * np.array([1.0, -1.0, -1.0])


def _log_gauss(x: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """``[N, K]`` log N(x; mu_k, Sigma_k)."""
    n, d = x.shape
    out = np.empty((n, len(means)))
    for k, (mu, cov) in enumerate(zip(means, covs)):
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (x - mu).T)
        out[:, k] = -0.5 * (z * z).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * d * np.log(2 * np.pi)
    return out


def fit_gmm(x: np.ndarray, k: int, reg: float, seed: int, iters: int = 300, tol: float = 1e-6) -> tuple:
    """EM for a full-covariance GMM; returns (weights, means, covariances, mean log-lik)."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    # k-means++ seeding, then a few Lloyd steps.
    centres = [x[rng.integers(n)]]
    for _ in range(1, k):
        dist = np.min(((x[:, None] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(x[rng.choice(n, p=dist / dist.sum())])
    centres = np.array(centres)
    for _ in range(20):
        label = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.array([x[label == j].mean(0) if np.any(label == j) else centres[j] for j in range(k)])
    resp = np.eye(k)[label]
    previous = -np.inf
    eye = np.eye(d)
    for it in range(iters):
        nk = resp.sum(0) + 1e-10
        weights = nk / n
        means = (resp.T @ x) / nk[:, None]
        covs = np.empty((k, d, d))
        for j in range(k):
            diff = x - means[j]
            covs[j] = (resp[:, j, None] * diff).T @ diff / nk[j] + reg * eye
        logp = _log_gauss(x, means, covs) + np.log(weights)
        top = logp.max(1, keepdims=True)
        norm = top[:, 0] + np.log(np.exp(logp - top).sum(1))
        resp = np.exp(logp - norm[:, None])
        ll = float(norm.mean())
        if ll - previous < tol:
            break
        previous = ll
    log.info("  EM k=%d: %d iterations, mean log-likelihood %.3f", k, it + 1, ll)
    return weights, means, covs, ll


def joint_limits(aa: np.ndarray, margin: float, margin_rad: float) -> tuple[np.ndarray, np.ndarray]:
    lo = np.percentile(aa, 0.5, axis=0)
    hi = np.percentile(aa, 99.5, axis=0)
    pad = margin * (hi - lo) + margin_rad
    return lo - pad, hi + pad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cmu", type=Path, default=DEFAULT_CMU, help="the CMU clip folder (with sources.tsv)")
    parser.add_argument("--out", type=Path, default=default_prior_path())
    parser.add_argument("--fps", type=float, default=10.0, help="subsampling rate of the training poses")
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--reg", type=float, default=1e-3, help="covariance floor (rad^2)")
    parser.add_argument("--margin", type=float, default=0.25, help="joint limits: widen by this share of the range")
    parser.add_argument("--margin-rad", type=float, default=0.2, help="joint limits: and by this many radians")
    parser.add_argument("--max-ankle-deg", type=float, default=100.0, help="drop frames with an ankle beyond this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mirror", action="store_true", help="do not add mirrored poses")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    start = time.time()

    train, held, used, skipped = [], [], [], []
    for info in cmu_clips(args.cmu):
        if not info.usable:
            skipped.append({"file": info.file, "variant": info.variant, "reason": info.reason})
            continue
        poses = clip_poses(info.path, args.fps)
        keep = plausible_frames(poses, args.max_ankle_deg)
        poses = poses[keep]
        (held if info.file in HELD_OUT else train).append(poses)
        if info.file not in HELD_OUT:
            used.append({"file": info.file, "variant": info.variant, "poses": int(len(poses)), "dropped": int((~keep).sum())})
        log.info("%-11s %-12s %4d poses, %3d dropped%s", info.file, info.variant, len(poses), (~keep).sum(),
                 " (held out)" if info.file in HELD_OUT else "")
    aa = np.concatenate(train)
    if not args.no_mirror:
        aa = np.concatenate([aa, mirror_poses(aa)])
    held_aa = np.concatenate(held) if held else np.zeros((0, len(PRIOR_JOINTS), 3))
    x = aa.reshape(len(aa), -1)
    log.info("%d training poses (%d clips%s), %d held-out poses", len(x), len(used), ", mirrored" if not args.no_mirror else "", len(held_aa))

    weights, means, covs, ll = fit_gmm(x, args.components, args.reg, args.seed)
    lower, upper = joint_limits(aa, args.margin, args.margin_rad)
    mixture = GaussianMixture(weights=weights, means=means, covariances=covs, limits_lower=lower, limits_upper=upper)

    # Score: held-out mocap against random poses.
    prior = PosePrior(mixture)
    gen = torch.Generator().manual_seed(args.seed)
    rand = torch.randn(2000, len(PRIOR_JOINTS), 3, generator=gen, dtype=torch.float64) * RANDOM_POSE_STD
    with torch.no_grad():
        nll_rand = prior.nll_axis_angle(rand).numpy()
        nll_held = prior.nll_axis_angle(torch.from_numpy(held_aa)).numpy() if len(held_aa) else np.zeros(0)
        nll_train = prior.nll_axis_angle(torch.from_numpy(aa)).numpy()
        limit_held = prior.joint_limit_penalty_axis_angle(torch.from_numpy(held_aa)).numpy() if len(held_aa) else np.zeros(0)
        limit_rand = prior.joint_limit_penalty_axis_angle(rand).numpy()
    evaluation = {
        "nll_train_median": float(np.median(nll_train)),
        "nll_held_out_median": float(np.median(nll_held)) if len(nll_held) else None,
        "nll_held_out_p95": float(np.percentile(nll_held, 95)) if len(nll_held) else None,
        "nll_random_median": float(np.median(nll_rand)),
        "nll_random_p5": float(np.percentile(nll_rand, 5)),
        "held_out_below_random_min": float(np.mean(nll_held < nll_rand.min())) if len(nll_held) else None,
        "held_out_inside_limits": float(np.mean(limit_held == 0)) if len(nll_held) else None,
        "random_inside_limits": float(np.mean(limit_rand == 0)),
        "random_poses": f"axis-angle N(0, {RANDOM_POSE_STD}^2) per component, 2000 samples, seed {args.seed}",
    }
    log.info("evaluation: %s", json.dumps(evaluation, indent=1))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.part")
    mixture.save(tmp)
    tmp.replace(args.out)
    provenance = {
        "description": "Gaussian mixture (max-mixture NLL, SMPLify-style) over the 21 non-root SMPL-22 local "
        "rotations as 63-D axis-angle (radians, canonical convention: identity = canonical rest pose), "
        "plus per-joint axis-angle limits. Load with avatar3d.fitting.pose_prior.PosePrior.load().",
        "joints": list(PRIOR_JOINTS),
        "components": args.components,
        "covariance": "full",
        "reg_rad2": args.reg,
        "mirrored": not args.no_mirror,
        "fps": args.fps,
        "training_poses": int(len(x)),
        "training_mean_log_likelihood": ll,
        "limits": f"0.5/99.5 percentiles widened by {args.margin} x range + {args.margin_rad} rad",
        "max_ankle_deg": args.max_ankle_deg,
        "clips": used,
        "held_out": list(HELD_OUT),
        "skipped": skipped,
        "evaluation": evaluation,
        "data": "CMU Graphics Lab Motion Capture Database, mocap.cs.cmu.edu (created with funding from NSF "
        "EIA-0196217); see the CMU folder README for sources and terms",
        "canonical_skeleton": "assets/motion/canonical_smpl22.json",
        "command": "python scripts/build_pose_prior.py " + " ".join(sys.argv[1:]),
        "created": datetime.date.today().isoformat(),
        "seed": args.seed,
        "build_seconds": round(time.time() - start, 1),
    }
    atomic_write_bytes(args.out.with_suffix(".json"), (json.dumps(provenance, indent=1) + "\n").encode("utf-8"))
    for path in (args.out, args.out.with_suffix(".json")):
        path.chmod(ASSET_MODE)
    log.info("wrote %s (%d bytes) and its .json in %.0f s", args.out, args.out.stat().st_size, time.time() - start)


if __name__ == "__main__":
    main()
