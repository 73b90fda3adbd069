"""The fitter with an encoder BodyPrior: the prior term, and starting from a good prior."""

import dataclasses
import math

import pytest
import torch

from avatar3d.body.base import identity_params
from avatar3d.core import BodyParams, BodyPrior, Observations
from avatar3d.core.rotations import axis_angle_to_matrix, rotation_about_axis
from avatar3d.fitting.fitter import (FitConfig, _encoder_prior_term, _initial_variables, _Problem, _with_height_target, fit_body,
                                     fit_camera)
from avatar3d.render import rasterize_world

W, H = 192, 256


@pytest.fixture(scope="module")
def scene(anny_body):
    """A rendered Anny body (known params) and what a perfect detector would report."""
    model = anny_body
    K = torch.tensor([[260.0, 0, W / 2], [0, 260.0, H / 2], [0, 0, 1]])
    camera = fit_camera(K, W, H)
    shape = torch.tensor([[0.2, 0.7, 0.5, 0.6, 0.35, 0.5]])
    p = identity_params(1, len(model.pose_joint_names), shape)
    pose = p.pose.clone()
    slots = list(model.smpl22_pose_slots)
    body = torch.zeros(21, 3)
    body[15, 2], body[16, 2] = -0.9, 0.9  # arms lowered (left_shoulder, right_shoulder)
    body[3, 0] = 0.3  # a bent knee
    pose[:, slots] = axis_angle_to_matrix(body)
    orient = rotation_about_axis("y", torch.tensor(0.4))[None].float()
    params = BodyParams(shape=shape, pose=pose, global_orient=orient, transl=torch.tensor([[0.0, -0.9, -3.2]]))
    with torch.no_grad():
        out = model.forward(params)
        kp = model.surface_keypoints(out.vertices)[0]
        mask = rasterize_world(out.vertices, model.faces, camera).coverage[0].float()
    uv = camera.project(camera.world_to_camera(kp))
    cam = camera.world_to_camera(kp)
    names = tuple(model.surface_keypoint_names)
    hip = 0.5 * (cam[names.index("left_hip")] + cam[names.index("right_hip")])
    rows, cols = torch.nonzero(mask > 0.5, as_tuple=True)
    bbox = (float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1))
    obs = Observations(image=torch.zeros(H, W, 3, dtype=torch.uint8), keypoint_names=names, keypoints=uv,
                       confidence=torch.ones(len(names)), mask=mask, bbox=bbox, world_landmarks=cam - hip)
    truth = BodyPrior(shape=shape[0], shape_sigma=torch.full((6,), 0.03), body_pose=pose[0, slots],
                      pose_sigma=torch.full((21,), 0.1), global_orient=orient[0], orient_sigma=0.1,
                      root_camera=camera.world_to_camera(out.smpl22[0, 0]), depth=3.2, depth_sigma=0.2,
                      height_m=float(model.standing_height(shape)[0]), height_sigma=0.03)
    return model, obs, K, params, truth


def test_prior_term_is_zero_at_the_prior_and_weighted_by_sigma(scene):
    model, obs, K, params, truth = scene
    cfg = FitConfig(encoder_height_weight=0.0)  # the stature term has its own test
    problem = _Problem(model, obs, fit_camera(K, W, H), cfg, None, truth)
    local = params.pose[:, list(model.smpl22_pose_slots)]
    assert float(_encoder_prior_term(problem, params, local)[0]) == pytest.approx(0.0, abs=1e-5)
    moved = dataclasses.replace(params, shape=params.shape + 0.1)
    tight = float(_encoder_prior_term(problem, moved, local)[0])
    loose_prior = dataclasses.replace(truth, shape_sigma=torch.full((6,), 0.3))
    loose = float(_encoder_prior_term(_Problem(model, obs, fit_camera(K, W, H), cfg, None, loose_prior), moved, local)[0])
    assert tight > 0 and tight == pytest.approx(loose * 100, rel=1e-3)  # (0.3 / 0.03)^2


def _kp_error(fit):
    return sum(fit.keypoint_error_px.values()) / len(fit.keypoint_error_px)


def test_a_good_prior_beats_no_prior_in_the_same_few_iterations(scene):
    model, obs, K, params, truth = scene
    short = FitConfig(orient_iterations=2, body_iterations=4, prior_orient_iterations=2, prior_body_iterations=4,
                      silhouette_size=48)
    with_prior, timings = fit_body(model, obs, K, short, body_prior=truth)
    without, _ = fit_body(model, obs, K, short)
    assert {"fit_orient", "fit_body"} <= set(timings)
    err = lambda fit: float((fit.params.shape - params.shape).abs().max())  # noqa: E731
    assert err(with_prior) < 0.05 < err(without)
    assert _kp_error(with_prior) < 0.05 * math.hypot(obs.bbox[2] - obs.bbox[0], obs.bbox[3] - obs.bbox[1])
    assert float(with_prior.params.global_orient[0, 2, 2]) > 0.5 and "face away" not in " ".join(with_prior.warnings)


def test_an_unsure_flipped_prior_still_finds_the_facing(scene):
    model, obs, K, params, truth = scene
    short = FitConfig(prior_orient_iterations=4, prior_body_iterations=0, silhouette_size=48,
                      encoder_landmark_candidates=False)
    flip = rotation_about_axis("y", torch.tensor(math.pi)).float()
    unsure = dataclasses.replace(truth, global_orient=flip @ truth.global_orient, orient_sigma=1.5)
    fit, _ = fit_body(model, obs, K, short, body_prior=unsure)
    assert float(fit.params.global_orient[0, 2, 2]) > 0.5  # facing the camera, like the truth
    sure = dataclasses.replace(unsure, orient_sigma=0.05)
    wrong, _ = fit_body(model, obs, K, short, body_prior=sure)  # no flip tried: it stays turned away
    assert float(wrong.params.global_orient[0, 2, 2]) < 0 and "face away" in " ".join(wrong.warnings)
    # the detector's landmarks as extra starting candidates rescue even a confident wrong facing
    rescued, _ = fit_body(model, obs, K, dataclasses.replace(short, encoder_landmark_candidates=True), body_prior=sure)
    assert float(rescued.params.global_orient[0, 2, 2]) > 0.5


def test_height_target_moves_the_height_phenotype_to_the_stated_height(scene):
    model, obs, K, params, truth = scene
    wanted = truth.height_m + 0.12
    moved = _with_height_target(model, dataclasses.replace(truth, height_m=wanted, height_sigma=0.02))
    assert float(model.standing_height(moved.shape[None])[0]) == pytest.approx(wanted, abs=0.01)
    assert float(moved.shape_sigma[4]) == pytest.approx(0.02 / 1.1, rel=0.3)  # ~1.1 m per unit
    same = _with_height_target(model, truth)
    assert torch.allclose(same.shape, truth.shape, atol=0.01)


def test_stature_term_measures_the_standing_height_against_the_prior(scene):
    """The height term follows the body's real standing height (every phenotype moves it),
    in units of the prior's height sigma."""
    model, obs, K, params, truth = scene
    local = params.pose[:, list(model.smpl22_pose_slots)]
    with_h, without_h = (_Problem(model, obs, fit_camera(K, W, H), FitConfig(encoder_height_weight=w), None, truth)
                         for w in (0.05, 0.0))
    assert float(_encoder_prior_term(with_h, params, local, model.forward(params).rest_vertices)[0]) == pytest.approx(0.0, abs=1e-5)
    for k, step in ((4, 0.04), (1, -0.08), (0, 0.3)):  # height, age (non-linear there), gender
        shape = params.shape.clone()
        shape[0, k] += step
        moved = dataclasses.replace(params, shape=shape)
        dh = float(model.standing_height(shape)[0] - model.standing_height(params.shape)[0])
        rest = model.forward(moved).rest_vertices
        extra = float(_encoder_prior_term(with_h, moved, local, rest)[0] - _encoder_prior_term(without_h, moved, local, rest)[0])
        assert abs(dh) > 0.02
        # the height the term saw (metres from the prior's) within 4 mm of the real change
        assert math.sqrt(extra / 0.05) * truth.height_sigma == pytest.approx(abs(dh), abs=0.004)


def test_a_stated_height_far_from_the_photo_is_flagged_then_ignored():
    from avatar3d.encoder.describe import understand_description
    from avatar3d.encoder.predict import fuse_stated_height

    base = dict(shape=torch.full((6,), 0.5), shape_sigma=torch.full((6,), 0.1), body_pose=torch.eye(3).expand(21, 3, 3),
                pose_sigma=torch.full((21,), 0.2), global_orient=torch.eye(3), orient_sigma=0.2,
                root_camera=torch.tensor([0.0, 0.0, 3.0]), depth=3.0, depth_sigma=0.3, height_sigma=0.07,
                shape_names=("gender", "age", "muscle", "weight", "height", "proportions"))
    photo = BodyPrior(**base, height_m=1.75)
    # the network saw the number too: its text-conditioned height phenotype moved towards it
    read = lambda text: BodyPrior(**{**base, "shape": torch.tensor([0.5, 0.5, 0.5, 0.5, 0.2, 0.5])}, height_m=1.70,  # noqa: E731
                                  description=understand_description(text))
    near = fuse_stated_height(read("a 172 cm man"), photo)
    assert near.height_m == pytest.approx(1.72, abs=0.01) and near.warnings == ()
    far = fuse_stated_height(read("a 150 cm man"), photo)  # 3.4 sigma: used, with a warning
    assert far.height_m == pytest.approx(1.50, abs=0.02) and "1.50 m is far from" in far.warnings[-1]
    typo = fuse_stated_height(read("a 117 cm man"), photo)  # 8.6 sigma: the photo wins
    assert typo.height_m == 1.75 and typo.height_sigma == 0.07 and float(typo.shape[4]) == 0.5
    assert "1.17 m contradicts" in typo.warnings[-1] and "ignored" in typo.warnings[-1]


def test_a_stated_height_is_fused_with_the_network_height():
    from avatar3d.encoder.describe import understand_description
    from avatar3d.encoder.predict import fuse_stated_height

    base = dict(shape=torch.full((6,), 0.5), shape_sigma=torch.full((6,), 0.1), body_pose=torch.eye(3).expand(21, 3, 3),
                pose_sigma=torch.full((21,), 0.2), global_orient=torch.eye(3), orient_sigma=0.2,
                root_camera=torch.tensor([0.0, 0.0, 3.0]), depth=3.0, depth_sigma=0.3, height_m=1.75, height_sigma=0.08)
    stated = fuse_stated_height(BodyPrior(**base, description=understand_description("a 160 cm woman")))
    assert stated.height_m == pytest.approx(1.60, abs=0.015) and stated.height_sigma < 0.03
    category = fuse_stated_height(BodyPrior(**base, description=understand_description("a short woman")))
    assert category.height_m == 1.75  # categories are the network's job
    ignored = fuse_stated_height(BodyPrior(**base, description=understand_description("zzz 160 qq")))
    assert ignored.height_m == 1.75


def test_encoder_keypoints_replace_the_detector_landmarks_in_the_direction_term(scene):
    from avatar3d.encoder.features import TOKEN_KEYPOINTS
    from avatar3d.fitting import terms
    from avatar3d.fitting.fitter import _with_encoder_landmarks

    model, obs, K, params, truth = scene
    names = obs.keypoint_names
    mirrored = obs.world_landmarks.clone()
    mirrored[:, 2] = -mirrored[:, 2]  # a detector that got every depth backwards
    detector_obs = dataclasses.replace(obs, world_landmarks=mirrored)
    predicted = [n for n in TOKEN_KEYPOINTS if n in names]
    prior = dataclasses.replace(truth, keypoint_names=tuple(predicted), keypoints3d_sigma=torch.full((len(predicted),), 0.05),
                                keypoints3d=torch.stack([obs.world_landmarks[names.index(n)] for n in predicted]))
    merged = _with_encoder_landmarks(detector_obs, prior)
    for n in names:
        expected = obs.world_landmarks if n in predicted else mirrored
        assert torch.equal(merged.world_landmarks[names.index(n)], expected[names.index(n)])
    assert _with_encoder_landmarks(detector_obs, truth) is detector_obs  # a prior without keypoints

    def direction_error(o):
        problem = _Problem(model, o, fit_camera(K, W, H), FitConfig(), None)
        with torch.no_grad():
            joints = problem.keypoints3d(model.forward(params))
        return float(terms.direction_loss(joints, problem.direction_targets, problem.direction_bones, problem.direction_weights)[0])

    assert direction_error(merged) < 1e-3 < 0.05 < direction_error(detector_obs)


def test_silhouette_scale_ramps_only_the_pixel_silhouette_term(scene):
    """The body stage ramps the silhouette term in (FitConfig.silhouette_ramp) through this scale."""
    model, obs, K, params, truth = scene
    cfg = FitConfig(silhouette_size=64, silhouette_weight=0.5)
    problem = _Problem(model, obs, fit_camera(K, W, H), cfg, None)
    v = _initial_variables(problem, [0.0])
    with torch.no_grad():
        full, none, half = (float(problem.loss(v, True, s)[0][0]) for s in (1.0, 0.0, 0.5))
        off = float(_Problem(model, obs, fit_camera(K, W, H), dataclasses.replace(cfg, silhouette_weight=0.0), None).loss(v, True)[0][0])
    assert full > none + 1e-4  # the rest pose does not match the mask
    assert none == pytest.approx(off, rel=1e-6)
    assert half == pytest.approx(0.5 * (full + none), rel=1e-5)
