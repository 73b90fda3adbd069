"""The shipped encoder checkpoint: documented, small, fast, and better than trivial baselines on
freshly generated synthetic people (a seed never used for training)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar3d.core import Observations
from avatar3d.encoder.features import TOKEN_KEYPOINTS
from avatar3d.encoder.predict import BodyEncoder, default_checkpoint_path
from avatar3d.train.encoder import evaluate
from avatar3d.train.encoder_data import NoiseConfig, SceneConfig, generate_dataset

ROOT = Path(__file__).resolve().parents[2]
FRESH_SEED = 987654


@pytest.fixture(scope="module")
def encoder():
    return BodyEncoder.load()


@pytest.fixture(scope="module")
def fresh(anny_body):
    return generate_dataset(anny_body, SceneConfig(num_shapes=5, poses_per_shape=8), seed=FRESH_SEED)


def test_checkpoint_is_small_and_documented(encoder):
    path = default_checkpoint_path()
    assert path.stat().st_size <= 20 * 2**20
    info = encoder.info
    assert "train encoder" in info["command"] and info["metrics"]["train_samples"] > 1000
    assert info["train_config"]["seed"] == 0
    readme = (ROOT / "assets" / "README.md").read_text(encoding="utf-8")
    assert "encoder/encoder.pt" in readme and "train encoder" in readme
    import yaml

    shipped = yaml.safe_load((ROOT / "configs" / "train" / "encoder.yaml").read_text(encoding="utf-8"))
    for key, value in shipped.items():
        assert info["train_config"][key] == value, key
    assert json.loads((path.parent / "encoder.json").read_text(encoding="utf-8"))["format"] == info["format"]


def test_beats_trivial_baselines_on_fresh_people(encoder, fresh):
    # the baseline knows the fresh set's own mean shape and height (better than any constant)
    m = evaluate(encoder.network, fresh, np.arange(len(fresh)), NoiseConfig(), seed=1,
                 baseline_shape=fresh.shape.mean(0), baseline_height=float(fresh.height.mean()))
    base = m["baseline"]
    assert m["pose_err_deg"] < 0.8 * base["pose_err_deg"]
    assert m["orient_err_deg"] < 0.5 * base["orient_err_deg"]
    assert m["depth_err_pct"] < 15.0
    # its 3D keypoints improve on the (simulated) detector landmarks it was given
    assert m["keypoints3d_err_mm"] < 0.8 * m["detector3d_err_mm"]
    # a true description helps, in both languages; a wrong one hurts
    for lang in ("en", "ko"):
        assert m[f"height_err_cm_{lang}"] < 0.7 * m["height_err_cm_none"]
        assert m[f"height_err_cm_{lang}"] < 0.6 * base["height_err_cm"]
        assert m[f"shape_mae_{lang}"] < base["shape_mae"]
    assert m["height_err_cm_wrong"] > m["height_err_cm_en"]


def _observations(data, i: int) -> Observations:
    box = data.bbox[i]
    w, h = (int(v) for v in data.size[i])
    mask = torch.zeros(h, w)
    mask[int(box[1]):int(box[3]), int(box[0]):int(box[2])] = 1.0
    conf = torch.from_numpy(data.in_image[i].astype(np.float32))
    return Observations(image=torch.zeros(h, w, 3, dtype=torch.uint8), keypoint_names=TOKEN_KEYPOINTS,
                        keypoints=torch.from_numpy(data.uv[i]).float(), confidence=conf, mask=mask,
                        bbox=tuple(float(x) for x in box), world_landmarks=torch.from_numpy(data.cam3d[i]).float())


def test_predict_gives_a_valid_prior_and_survives_bad_text(encoder, fresh):
    obs = _observations(fresh, 0)
    K = torch.from_numpy(fresh.K[0]).float()
    prior = encoder.predict(obs, K)
    assert prior.description is None and prior.body_pose.shape == (21, 3, 3)
    assert ((prior.shape >= 0) & (prior.shape <= 1)).all() and 0.5 < prior.height_m < 2.5
    assert prior.depth == pytest.approx(float(prior.root_camera[2]))
    described = encoder.predict(obs, K, "키가 아주 큰 남자")
    assert described.description.height == "very tall" and described.description.sex == "male"
    for bad in ("", "tall short", "x" * 5000, "背の高い男性", "\x00"):
        p = encoder.predict(obs, K, bad)
        assert p.warnings and torch.isfinite(p.shape).all()
    # inference speed is measured by `avatar3d bench encoder`, not asserted here
