"""detect_person with the real mediapipe models (model_complexity=1, shipped in the wheel) on the
bundled samples and on scenes composed from them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("mediapipe")

from avatar3d.core.joints import COCO17, COCO_LIMBS12  # noqa: E402
from avatar3d.perception import KEYPOINT_NAMES, PerceptionConfig, detect_person  # noqa: E402
from avatar3d.perception import landmarks as lm  # noqa: E402
from avatar3d.utils.errors import UserError  # noqa: E402
from avatar3d.utils.images import SAMPLES_DIR, load_image, sample_image  # noqa: E402

BACKGROUND = (200, 203, 210)


def kp(obs, name: str) -> np.ndarray:
    return obs.keypoints[KEYPOINT_NAMES.index(name)].numpy()


def conf(obs, name: str) -> float:
    return float(obs.confidence[KEYPOINT_NAMES.index(name)])


def scene(size: tuple[int, int], placements: list[tuple[float, float, float]]) -> np.ndarray:
    """The full-body sample pasted at (height fraction of 768 px, centre u, bottom v) on a
    plain canvas of ``size`` (W, H)."""
    canvas = Image.new("RGB", size, BACKGROUND)
    person = Image.open(sample_image("fullbody")).convert("RGB")
    for scale, cu, bottom in placements:
        w, h = int(person.width * scale), int(person.height * scale)
        canvas.paste(person.resize((w, h), Image.Resampling.LANCZOS), (int(cu - w / 2), int(bottom - h)))
    return np.asarray(canvas)


@pytest.fixture(scope="module")
def fullbody():
    return detect_person(load_image(sample_image("fullbody")))


@pytest.fixture(scope="module")
def astronaut():
    return detect_person(load_image(sample_image("astronaut")))


def test_observations_layout(fullbody):
    k = len(KEYPOINT_NAMES)
    assert len(set(KEYPOINT_NAMES)) == k == 75
    assert KEYPOINT_NAMES[:17] == COCO17
    assert fullbody.keypoint_names == KEYPOINT_NAMES
    assert fullbody.image.shape == (768, 512, 3) and fullbody.image.dtype == torch.uint8
    assert fullbody.keypoints.shape == (k, 2) and fullbody.keypoints.dtype == torch.float32
    assert bool(torch.isfinite(fullbody.keypoints).all())
    assert fullbody.confidence.shape == (k,)
    assert float(fullbody.confidence.min()) >= 0 and float(fullbody.confidence.max()) <= 1
    assert fullbody.mask.shape == (768, 512) and fullbody.mask.dtype == torch.float32
    assert fullbody.world_landmarks.shape == (k, 3)


def test_fullbody_sample(fullbody):
    truth = json.loads((SAMPLES_DIR / "person_fullbody.json").read_text(encoding="utf-8"))
    assert fullbody.warnings == ()
    for name in COCO17:
        assert conf(fullbody, name) > 0.5, name
    # every confident body keypoint lies on the person mask
    mask = fullbody.mask.numpy()
    for name in COCO_LIMBS12 + ("nose",):
        u, v = kp(fullbody, name)
        assert mask[int(v), int(u)] > 0.5, name
    # the person's left is on the image's right for a person facing the camera
    for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "eye", "ear"):
        assert kp(fullbody, f"left_{joint}")[0] > kp(fullbody, f"right_{joint}")[0], joint
    # close to where the rendered body's COCO keypoints project (surface regressor vs detector)
    errors = [np.linalg.norm(kp(fullbody, n) - np.array(truth["keypoints2d"][n])) for n in COCO17]
    assert np.median(errors) < 8.0 and max(errors) < 25.0, errors
    # the box spans the body: it is rendered 84% of the image height tall
    u0, v0, u1, v1 = fullbody.bbox
    assert 0.78 * 768 < v1 - v0 < 0.92 * 768
    assert u0 < kp(fullbody, "right_wrist")[0] and kp(fullbody, "left_wrist")[0] < u1


def test_fullbody_hands_face_and_world(fullbody):
    for side in ("left", "right"):
        assert conf(fullbody, f"{side}_hand_wrist") > 0.5
        # the hand model's wrist is the pose model's wrist of the same side, not the other one
        other = "right" if side == "left" else "left"
        assert np.linalg.norm(kp(fullbody, f"{side}_hand_wrist") - kp(fullbody, f"{side}_wrist")) < 25
        assert np.linalg.norm(kp(fullbody, f"{side}_hand_wrist") - kp(fullbody, f"{other}_wrist")) > 150
    assert conf(fullbody, "face_chin") > 0.5
    assert kp(fullbody, "face_chin")[1] > kp(fullbody, "nose")[1] > kp(fullbody, "face_forehead")[1]
    assert kp(fullbody, "face_mouth_left")[0] > kp(fullbody, "face_mouth_right")[0]
    world = fullbody.world_landmarks.numpy()
    body = [KEYPOINT_NAMES.index(n) for n in lm.BODY_KEYPOINTS]
    assert np.isfinite(world[body]).all()
    assert np.isnan(world[KEYPOINT_NAMES.index("left_hand_wrist")]).all()

    def w(name):
        return world[KEYPOINT_NAMES.index(name)]

    # camera-aligned metric axes: x right (person's left), y down, metres, origin mid-hip
    assert w("left_shoulder")[0] > w("right_shoulder")[0]
    assert w("nose")[1] < w("left_hip")[1] < w("left_ankle")[1]
    assert 0.25 < np.linalg.norm(w("left_shoulder") - w("right_shoulder")) < 0.5
    assert np.linalg.norm((w("left_hip") + w("right_hip")) / 2) < 0.05


def test_astronaut_half_body(astronaut):
    assert any("out of frame" in n and ("legs" in n or "lower body" in n) for n in astronaut.warnings)
    for name in ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "left_big_toe"):
        assert conf(astronaut, name) == 0.0, name
    for name in ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder"):
        assert conf(astronaut, name) > 0.5, name
    nose = kp(astronaut, "nose")
    assert 190 < nose[0] < 260 and 100 < nose[1] < 160  # the face, in the upper middle
    assert kp(astronaut, "left_eye")[1] < nose[1]
    for side in ("left", "right"):
        u, v = kp(astronaut, f"{side}_shoulder")
        assert 190 < v < 300, side
    assert kp(astronaut, "left_shoulder")[0] - kp(astronaut, "right_shoulder")[0] > 120
    assert astronaut.bbox[3] == 512.0  # the mask runs out of the bottom of the photo


def test_blank_image_has_no_person():
    with pytest.raises(UserError, match="no person found") as info:
        detect_person(np.full((480, 360, 3), 180, np.uint8))
    assert "one person is clearly visible" in info.value.hint


def test_small_person_is_found_by_the_crop_search():
    """A ~110 px tall person in a 1024 x 1024 photo: too small for the detector on the whole
    image, found by the window search and re-detected on an upscaled crop."""
    image = scene((1024, 1024), [(130 / 768, 700, 400)])
    obs = detect_person(image)
    u0, v0, u1, v1 = obs.bbox
    assert 640 < u0 < u1 < 760 and 250 < v0 < v1 < 410
    confident = [n for n in COCO17 if conf(obs, n) > 0.5]
    assert len(confident) >= 15, confident
    assert 660 < kp(obs, "nose")[0] < 740
    with pytest.raises(UserError, match="no person found"):  # the whole-image pass alone misses them
        detect_person(image, PerceptionConfig(window_search=False))


def test_too_small_person_is_refused_with_its_size():
    image = scene((1024, 1024), [(90 / 768, 300, 800)])
    with pytest.raises(UserError, match=r"only \d+ px tall; need at least 96 px"):
        detect_person(image)


@pytest.fixture(scope="module")
def two_people():
    # a larger person left of centre, a smaller one on the right
    return scene((1024, 768), [(1.0, 330, 768), (0.8, 780, 720)])


def test_two_people_main_person(two_people):
    obs = detect_person(two_people)
    centre = (obs.bbox[0] + obs.bbox[2]) / 2
    assert 250 < centre < 420
    assert any("2 people found" in n for n in obs.warnings)
    assert conf(obs, "left_shoulder") > 0.5


def test_two_people_other_person_and_bad_index(two_people):
    other = detect_person(two_people, PerceptionConfig(person=1))
    centre = (other.bbox[0] + other.bbox[2]) / 2
    assert 700 < centre < 860
    assert all(conf(other, n) > 0.5 for n in ("nose", "left_shoulder", "right_hip"))
    with pytest.raises(UserError, match="person 5 was asked for, but only 2 people were found") as info:
        detect_person(two_people, PerceptionConfig(person=5))
    assert "0 to 1" in info.value.hint


def test_importing_perception_does_not_load_mediapipe():
    code = "import sys, avatar3d.perception; print('mediapipe' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]
