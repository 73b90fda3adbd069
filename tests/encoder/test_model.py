"""Encoder inputs, network and BodyPrior: shapes, normalisation, masking, rest-pose start."""

import numpy as np
import pytest
import torch

from avatar3d.core import BodyPrior
from avatar3d.encoder.describe import TEXT_FEATURES, description_features, understand_description
from avatar3d.encoder.features import (
    GLOBAL_FEATURES,
    HIP_L,
    HIP_R,
    K_TOKENS,
    MASK_GRID,
    global_features,
    keypoint_tokens,
    mask_grid_from_mask,
    mask_grid_from_points,
)
from avatar3d.encoder.model import EncoderConfig, MultimodalEncoder, rotation_angle


def _inputs(b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, K_TOKENS, 7, generator=g), torch.randn(b, GLOBAL_FEATURES, generator=g),
            torch.rand(b, MASK_GRID, MASK_GRID, generator=g), torch.zeros(b, TEXT_FEATURES))


def test_keypoint_tokens_are_box_normalised_and_hip_centred():
    rng = np.random.default_rng(0)
    uv = rng.uniform(100, 300, (K_TOKENS, 2))
    conf = np.ones(K_TOKENS)
    conf[3] = 0.0
    world = rng.normal(0, 0.3, (K_TOKENS, 3)) + 5.0
    box = (100.0, 50.0, 300.0, 450.0)  # centre (200, 250), longer side 400
    t = keypoint_tokens(uv, conf, world, box)
    assert t.shape == (K_TOKENS, 7)
    np.testing.assert_allclose(t[0, :2], (uv[0] - [200, 250]) / 400, rtol=1e-5)
    assert (t[3, :2] == 0).all() and t[3, 2] == 0  # unseen: no position
    hip = 0.5 * (t[HIP_L, 3:6] + t[HIP_R, 3:6])
    np.testing.assert_allclose(hip, 0, atol=1e-6)
    assert (t[:, 6] == 1).all()
    # doubling the photo's resolution (box and points) leaves the tokens unchanged
    t2 = keypoint_tokens(uv * 2, conf, world, tuple(2 * x for x in box))
    np.testing.assert_allclose(t, t2, atol=1e-6)
    assert (keypoint_tokens(uv, conf, None, box)[:, 3:] == 0).all()


def test_mask_grid_of_a_box_mask_and_of_points_agree():
    h, w = 200, 120
    mask = np.zeros((h, w), np.float32)
    mask[40:160, 30:90] = 1.0
    box = (30.0, 40.0, 90.0, 160.0)
    grid = mask_grid_from_mask(mask, box)
    assert grid.shape == (MASK_GRID, MASK_GRID)
    # the person fills 60 x 120 px of a 132 x 132 window
    assert grid.mean() == pytest.approx(60 * 120 / 132 ** 2, abs=0.03)
    assert grid[MASK_GRID // 2, MASK_GRID // 2] == 1.0 and grid[MASK_GRID // 2, 0] == 0.0
    ys, xs = np.mgrid[40:160:0.5, 30:90:0.5]
    points = np.stack((xs.ravel() + 0.25, ys.ravel() + 0.25), 1)
    grid2 = mask_grid_from_points(points, box, w, h)
    assert np.abs(grid - grid2).mean() < 0.03
    # outside the photo counts as empty
    cut = mask_grid_from_mask(mask, (30.0, -100.0, 90.0, 160.0))
    assert cut[0].sum() == 0


def test_global_features_flag_truncation():
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    inside = global_features((100, 50, 200, 400), K, 640, 480)
    cut = global_features((0, 50, 200, 480), K, 640, 480)
    assert inside[4:8].sum() == 0 and cut[4] == 1 and cut[7] == 1
    assert inside[3] == pytest.approx(np.log(350 / 500))


def test_network_starts_at_the_rest_pose_and_outputs_valid_values():
    torch.manual_seed(0)
    net = MultimodalEncoder(EncoderConfig(d_model=32, heads=4, layers=2))
    with torch.no_grad():
        out = net(*_inputs(5))
    eye = torch.eye(3).expand(5, 21, 3, 3)
    assert out.pose.shape == (5, 21, 3, 3) and out.orient.shape == (5, 3, 3)
    assert float(rotation_angle(out.pose, eye).max()) < 0.5  # near rest before training
    assert torch.allclose(out.pose @ out.pose.transpose(-1, -2), eye, atol=1e-5)
    assert ((out.shape > 0) & (out.shape < 1)).all()
    assert torch.isfinite(out.height).all() and (out.log_depth_log_sigma.exp() > 0).all()
    # 3D keypoints start near the detector's own landmarks (a correction of them), zero without
    kp, gl, mk, tx = _inputs(5)
    with torch.no_grad():
        out = net(kp, gl, mk, tx)
    detector = kp[..., 3:6] * kp[..., 6:7]
    assert out.keypoints3d.shape == (5, K_TOKENS, 3) and out.keypoints3d_log_sigma.shape == (5, K_TOKENS)
    assert float((out.keypoints3d - detector).abs().max()) < 0.2
    assert float((out.keypoints3d - detector).abs().max()) > 0.0


def test_text_token_is_ignored_when_absent():
    torch.manual_seed(0)
    net = MultimodalEncoder(EncoderConfig(d_model=32, heads=4, layers=2)).eval()
    kp, gl, mk, tx = _inputs(2)
    garbage = torch.randn(2, TEXT_FEATURES)
    garbage[:, 0] = 0.0  # "no description" flag: the token is masked out of attention
    with torch.no_grad():
        a, b = net(kp, gl, mk, tx), net(kp, gl, mk, garbage)
        present = torch.from_numpy(description_features(understand_description("a very tall man")))[None].expand(2, -1)
        c = net(kp, gl, mk, present.contiguous())
    assert torch.allclose(a.height, b.height) and torch.allclose(a.pose, b.pose)
    assert float((a.height - c.height).abs().max()) > 0.0


def test_rotation_angle_matches_axis_angle():
    from avatar3d.core.rotations import axis_angle_to_matrix

    angles = torch.tensor([0.1, 1.0, 2.5])
    r = axis_angle_to_matrix(torch.stack([angles, torch.zeros(3), torch.zeros(3)], 1))
    assert torch.allclose(rotation_angle(r, torch.eye(3).expand(3, 3, 3)), angles, atol=1e-3)


def _prior(**kw):
    base = dict(shape=torch.full((6,), 0.5), shape_sigma=torch.full((6,), 0.1), body_pose=torch.eye(3).expand(21, 3, 3),
                pose_sigma=torch.full((21,), 0.2), global_orient=torch.eye(3), orient_sigma=0.2,
                root_camera=torch.tensor([0.0, 0.0, 3.0]), depth=3.0, depth_sigma=0.3, height_m=1.7, height_sigma=0.05)
    base.update(kw)
    return BodyPrior(**base)


def test_body_prior_checks_its_shapes():
    assert _prior().depth == 3.0
    with pytest.raises(ValueError, match="body_pose"):
        _prior(body_pose=torch.eye(3).expand(22, 3, 3))
    with pytest.raises(ValueError, match="shape_sigma"):
        _prior(shape_sigma=torch.ones(5))
    with pytest.raises(ValueError, match="depth"):
        _prior(depth=-1.0)
    with pytest.raises(ValueError, match="orient_sigma"):
        _prior(orient_sigma=0.0)
    names = ("a", "b")
    assert _prior(keypoints3d=torch.zeros(2, 3), keypoints3d_sigma=torch.ones(2), keypoint_names=names).keypoint_names == names
    with pytest.raises(ValueError, match="keypoints3d"):
        _prior(keypoints3d=torch.zeros(3, 3), keypoints3d_sigma=torch.ones(3), keypoint_names=names)
    with pytest.raises(ValueError, match="keypoints3d_sigma"):
        _prior(keypoints3d=torch.zeros(2, 3), keypoint_names=names)
