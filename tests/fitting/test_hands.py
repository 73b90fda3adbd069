"""The fitter's last stages: fingers and wrists on the hand landmarks, the head on the face keypoints."""

import dataclasses

import pytest
import torch

from avatar3d.body.base import identity_params
from avatar3d.core import Observations
from avatar3d.core.joints import HAND21
from avatar3d.core.rotations import rotation_about_axis
from avatar3d.core.joints import SMPL22
from avatar3d.fitting.fitter import (
    FACE_POINTS,
    FitConfig,
    HEAD_JOINTS,
    _fit_hands,
    _fit_head,
    _hand_slots,
    _hand_targets,
    _JointTurns,
    _Problem,
    _smpl_slots,
    _Variables,
    fit_camera,
)
from avatar3d.render import rasterize_world

W, H = 256, 256


def test_hand_keypoints_follow_the_fingers(anny_body):
    model = anny_body
    names = model.hand_keypoint_names
    assert names == tuple(f"{side}_hand_{n}" for side in ("left", "right") for n in HAND21)
    rest = model.forward(model.default_params(1))
    kp = model.hand_keypoints(rest)[0]
    wrist, tip, dip = (kp[names.index(f"left_hand_{n}")] for n in ("wrist", "index_tip", "index_dip"))
    assert 0.005 < float((tip - dip).norm()) < 0.04 and float((tip - wrist).norm()) > float((dip - wrist).norm())
    # the two hands mirror each other across the body's sagittal plane (x = 0)
    left, right = kp[:21], kp[21:]
    assert torch.allclose(left * torch.tensor([-1.0, 1.0, 1.0]), right, atol=0.005)
    # bending the index finger's first joint moves that finger only
    pose = model.default_params(1).pose.clone()
    slot = model.pose_joint_names.index("finger2-1.L")
    pose[:, slot] = rotation_about_axis("x", torch.tensor(1.0))
    bent = model.hand_keypoints(model.forward(dataclasses.replace(model.default_params(1), pose=pose)))[0]
    moved = (bent - kp).norm(dim=-1) > 1e-4
    assert [n for n, m in zip(names, moved) if m] == [f"left_hand_index_{j}" for j in ("pip", "dip", "tip")]


@pytest.fixture(scope="module")
def hand_scene(anny_body):
    """A body with curled fingers and turned wrists, seen close up, and a perfect hand detector."""
    model = anny_body
    K = torch.tensor([[300.0, 0, W / 2], [0, 300.0, H / 2], [0, 0, 1]])
    camera = fit_camera(K, W, H)
    shape = torch.full((1, 6), 0.5)
    g = torch.Generator().manual_seed(1)
    fingers = 0.35 * torch.randn(1, len(model.hand_pose_slots), 3, generator=g)
    wrists = 0.5 * torch.randn(1, 2, 3, generator=g)
    base = identity_params(1, len(model.pose_joint_names), shape)
    base = dataclasses.replace(base, transl=torch.tensor([[0.0, -1.0, -1.6]]))
    truth = _JointTurns(_hand_slots(model), torch.cat((fingers, wrists), 1)).apply(base)
    with torch.no_grad():
        out = model.forward(truth)
        hands = model.hand_keypoints(out)[0]
        body_kp = model.surface_keypoints(out.vertices)[0]
        mask = rasterize_world(out.vertices, model.faces, camera).coverage[0].float()
    names = tuple(model.surface_keypoint_names) + model.hand_keypoint_names
    uv = camera.project(camera.world_to_camera(torch.cat((body_kp, hands))))
    visible = ((uv >= 0) & (uv < W)).all(-1).float()
    obs = Observations(image=torch.zeros(H, W, 3, dtype=torch.uint8), keypoint_names=names, keypoints=uv,
                       confidence=visible, mask=mask, bbox=(0.0, 0.0, float(W), float(H)))
    v = _Variables(shape_raw=torch.zeros(1, 6), body=torch.zeros(1, 21, 3), orient_base=torch.eye(3)[None],
                   orient_delta=torch.zeros(1, 3), transl=base.transl.clone())
    return model, obs, camera, K, truth, v


def _hand_error_px(problem, params, confidence):
    uv = problem.project(problem.model.hand_keypoints(problem.model.forward(params)))[0]
    observed, _, _ = _hand_targets(problem)
    err = (uv - observed).norm(dim=-1)
    return float((err * confidence).sum() / confidence.sum())


def test_stage_c_fits_fingers_and_wrists_to_the_hand_landmarks(hand_scene):
    model, obs, camera, K, truth, v = hand_scene
    problem = _Problem(model, obs, camera, FitConfig(silhouette_size=48, hand_iterations=150), None)
    observed, confidence, sizes = _hand_targets(problem)
    assert int((confidence > 0).sum()) >= 30 and min(sizes) > 10  # both hands in view, tens of pixels
    with torch.no_grad():
        start = problem.params_of(v)
        before = _hand_error_px(problem, start, confidence)
    hands = _fit_hands(problem, start)
    with torch.no_grad():
        after = _hand_error_px(problem, hands.apply(start), confidence)
    assert before > 8.0 and after < 0.15 * before
    # and the hands' 3D shape (wrist-relative landmarks) came closer to the truth: 2D alone leaves
    # a hand's depth ambiguous, so this is looser than the 2D match
    def hand_shape_error(params):
        kp = model.hand_keypoints(model.forward(params))[0].reshape(2, 21, 3)
        true = model.hand_keypoints(model.forward(truth))[0].reshape(2, 21, 3)
        return float(((kp - kp[:, :1]) - (true - true[:, :1])).norm(dim=-1).mean())
    with torch.no_grad():
        assert hand_shape_error(hands.apply(start)) < 0.8 * hand_shape_error(start)


def test_a_hand_without_landmarks_is_left_alone(hand_scene):
    model, obs, camera, K, truth, v = hand_scene
    names = obs.keypoint_names
    unseen = obs.confidence.clone()
    unseen[[i for i, n in enumerate(names) if n.startswith("right_hand_") or n == "right_wrist"]] = 0.0
    problem = _Problem(model, dataclasses.replace(obs, confidence=unseen), camera, FitConfig(silhouette_size=48, hand_iterations=20), None)
    _, confidence, _ = _hand_targets(problem)
    assert float(confidence[21:].sum()) == 0.0 and float(confidence[:21].sum()) > 0.0
    hands = _fit_hands(problem, problem.params_of(v))
    fingers, wrists = hands.turns[:, :len(model.hand_pose_slots)], hands.turns[:, len(model.hand_pose_slots):]
    right = [i for i, s in enumerate(model.hand_pose_slots) if model.pose_joint_names[s].endswith(".R")]
    assert float(fingers[0, right].abs().max()) < 1e-6 and float(wrists[0, 1].abs().max()) < 1e-6
    left = [i for i in range(len(model.hand_pose_slots)) if i not in right]
    assert float(fingers[0, left].abs().max()) > 0.01


def test_head_stage_turns_the_head_to_the_face_keypoints(anny_body):
    """A body whose head is turned and nodded; the head stage starts from a straight head."""
    model = anny_body
    K = torch.tensor([[900.0, 0, W / 2], [0, 900.0, H / 2], [0, 0, 1]])
    camera = fit_camera(K, W, H)
    base = identity_params(1, len(model.pose_joint_names), torch.full((1, 6), 0.5))
    base = dataclasses.replace(base, transl=torch.tensor([[0.0, -1.55, -1.8]]))
    true_turns = torch.tensor([[[0.15, 0.2, 0.0], [0.2, 0.3, 0.05]]])
    truth = _JointTurns(_smpl_slots(model, HEAD_JOINTS), true_turns).apply(base)
    names = tuple(model.surface_keypoint_names)
    with torch.no_grad():
        out = model.forward(truth)
        uv = camera.project(camera.world_to_camera(model.surface_keypoints(out.vertices)[0]))
        mask = rasterize_world(out.vertices, model.faces, camera).coverage[0].float()
    face = [names.index(n) for n in FACE_POINTS]
    confidence = torch.zeros(len(names))
    confidence[face] = 1.0
    obs = Observations(image=torch.zeros(H, W, 3, dtype=torch.uint8), keypoint_names=names, keypoints=uv,
                       confidence=confidence, mask=mask, bbox=(0.0, 0.0, float(W), float(H)))
    problem = _Problem(model, obs, camera, FitConfig(silhouette_size=48, head_iterations=120), None)
    def face_error_px(params):
        with torch.no_grad():
            kp = problem.project(model.surface_keypoints(model.forward(params).vertices))[0, face]
        return float((kp - uv[face]).norm(dim=-1).mean())
    head = _fit_head(problem, base)
    fitted = head.apply(base)
    assert face_error_px(base) > 10.0 and face_error_px(fitted) < 0.2 * face_error_px(base)
    # the head's orientation (neck and head chained) came back close to the truth
    slots = [model.smpl22_pose_slots[SMPL22.index(j) - 1] for j in ("neck", "head")]
    def head_rotation(params):
        return params.pose[0, slots[0]] @ params.pose[0, slots[1]]
    def angle(a, b):
        return float(torch.arccos(((a.T @ b).trace() - 1).clamp(-2, 2) / 2))
    assert angle(head_rotation(fitted), head_rotation(truth)) < 0.3 * angle(head_rotation(base), head_rotation(truth))
    # without three confident face points there is no head stage
    few = confidence.clone()
    few[face[2:]] = 0.0
    blind = _Problem(model, dataclasses.replace(obs, confidence=few), camera, FitConfig(silhouette_size=48), None)
    assert _fit_head(blind, base) is None
