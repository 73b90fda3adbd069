"""`avatar3d train encoder` on a tiny config: data, loss going down, checkpoint, config, determinism."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar3d.encoder.model import EncoderConfig
from avatar3d.encoder.predict import BodyEncoder
from avatar3d.train.encoder import TrainEncoderConfig, split, train_encoder
from avatar3d.train.encoder_data import NoiseConfig, SceneConfig, augment, generate_dataset
from avatar3d.utils.configs import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = TrainEncoderConfig(
    seed=3, scene=SceneConfig(num_shapes=3, poses_per_shape=5), model=EncoderConfig(d_model=16, heads=2, layers=1),
    steps=60, batch_size=16, learning_rate=3e-3, warmup_steps=5, val_fraction=0.34, eval_every=0, threads=1)


@pytest.fixture(scope="module")
def tiny_run(anny_body, tmp_path_factory):
    out = tmp_path_factory.mktemp("encoder")
    return out, train_encoder(TINY, out, model_factory=lambda: anny_body, command="test")


def test_generated_samples_are_consistent(anny_body):
    data = generate_dataset(anny_body, SceneConfig(num_shapes=2, poses_per_shape=3), seed=5)
    assert len(data) >= 4 and data.pose.shape[1:] == (21, 3, 3)
    # box and keypoints agree: keypoints inside the image lie in (or next to) the person box
    inside = data.uv[data.in_image]
    assert np.isfinite(inside).all()
    # the stature is the same for every pose of a body, and plausible
    for g in np.unique(data.group):
        assert np.ptp(data.height[data.group == g]) == 0
    assert ((data.height > 0.8) & (data.height < 2.5)).all()
    assert ((data.mask >= 0) & (data.mask <= 1)).all() and data.mask.mean() > 0.1
    batch = augment(data, np.arange(len(data)), NoiseConfig(), np.random.default_rng(0), text_mode="en")
    assert batch.text[:, 0].eq(1).all()  # every sample has a readable English description
    none = augment(data, np.arange(len(data)), NoiseConfig(), np.random.default_rng(0), text_mode="none")
    assert none.text.abs().sum() == 0
    # the same seed gives the same data
    again = generate_dataset(anny_body, SceneConfig(num_shapes=2, poses_per_shape=3), seed=5)
    np.testing.assert_array_equal(data.uv, again.uv)
    assert data.texts == again.texts


def test_loss_goes_down_and_checkpoint_is_complete(tiny_run):
    out, result = tiny_run
    losses = result.losses
    assert len(losses) == TINY.steps and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    enc = BodyEncoder.load(result.checkpoint)
    info = json.loads((out / "encoder.json").read_text())
    assert info["command"] == "test" and info["metrics"]["train_samples"] > 0
    assert info["model_config"] == dataclasses.asdict(TINY.model)
    assert enc.info["train_config"]["seed"] == 3
    # the resolved config round-trips through the strict loader
    assert load_config(TrainEncoderConfig, out / "train_config.yaml") == TINY


def test_training_is_deterministic(anny_body, tiny_run, tmp_path):
    _, first = tiny_run
    second = train_encoder(TINY, tmp_path, model_factory=lambda: anny_body, command="test")
    assert second.losses == first.losses
    other = train_encoder(dataclasses.replace(TINY, steps=10, seed=4), tmp_path / "other", model_factory=lambda: anny_body)
    assert other.losses != first.losses[:10]


def test_split_is_by_body():
    class D:
        group = np.repeat(np.arange(10), 4)

    train, val = split(D, 0.2, 0)
    assert set(D.group[train]).isdisjoint(D.group[val]) and len(set(D.group[val])) == 2


def test_shipped_yaml_loads_strictly(tmp_path):
    cfg = load_config(TrainEncoderConfig, ROOT / "configs" / "train" / "encoder.yaml")
    assert cfg.steps > 0 and cfg.threads >= 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("stepz: 3\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_config(TrainEncoderConfig, bad)
