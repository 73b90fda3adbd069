"""Pure parts of perception: boxes, scores, crops, truncation warnings, config checks (no mediapipe)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar3d.perception import PerceptionConfig
from avatar3d.perception import landmarks as lm
from avatar3d.perception.mediapipe_backend import RawDetection, paste_mask
from avatar3d.perception.selection import expand_box, iou, mask_box, person_box, score, search_windows
from avatar3d.perception.truncation import truncation_warnings
from avatar3d.utils.errors import UserError


def detection(box: tuple[int, int, int, int], size=(400, 300)) -> RawDetection:
    """A fake detection whose mask is the box and whose landmarks sit inside it."""
    w, h = size
    mask = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1.0
    rng = np.random.default_rng(0)
    uv = np.stack([rng.uniform(x0, x1, 33), rng.uniform(y0, y1, 33)], 1)
    return RawDetection(uv, np.ones(33), None, None, None, None, mask)


def test_mask_box_and_person_box():
    det = detection((100, 50, 160, 250))
    assert mask_box(det.mask, 0.5) == (100.0, 50.0, 160.0, 250.0)
    assert mask_box(np.zeros((5, 5)), 0.5) is None
    # a visible landmark outside the mask widens the box; one outside the image does not count
    uv = det.pose_uv.copy()
    uv[0] = (300, 100)
    uv[1] = (900, 100)
    wider = RawDetection(uv, det.pose_visibility, None, None, None, None, det.mask)
    assert person_box(wider, 400, 300, 0.5, 0.5) == (100.0, 50.0, 300.0, 250.0)


def test_score_prefers_large_and_central():
    w, h = 400, 300
    big_side = detection((20, 20, 120, 290))
    small_centre = detection((180, 110, 220, 190))
    big_centre = detection((150, 20, 250, 290))
    s = {name: score(d, mask_box(d.mask, 0.5), w, h, 0.5, 0.5) for name, d in
         {"big_side": big_side, "small_centre": small_centre, "big_centre": big_centre}.items()}
    assert s["big_centre"] > s["big_side"] > s["small_centre"]
    # with no centrality weight, equally large people score the same wherever they stand
    a = score(big_side, mask_box(big_side.mask, 0.5), w, h, 0.5, 0.0)
    b = score(big_centre, mask_box(big_centre.mask, 0.5), w, h, 0.5, 0.0)
    assert a == pytest.approx(b)


def test_iou_and_expand_box():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert expand_box((100, 100, 140, 200), 0.1, 1000, 1000) == (90, 90, 150, 210)
    assert expand_box((0, 0, 40, 100), 0.5, 60, 80) == (0, 0, 60, 80)  # clipped to the image


def test_search_windows_cover_the_image():
    windows = search_windows(1000, 600, 300)
    assert all(x1 - x0 == 300 and y1 - y0 == 300 for x0, y0, x1, y1 in windows)
    covered = np.zeros((600, 1000), bool)
    for x0, y0, x1, y1 in windows:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert len(windows) == 6 * 3


def test_paste_mask_maps_a_crop_back():
    crop_mask = np.zeros((100, 80), np.float32)
    crop_mask[50:, :] = 1.0  # lower half of the (2x upscaled) crop
    full = paste_mask(crop_mask, 2.0, (10, 20), (100, 120))
    assert full.shape == (120, 100)
    assert full[20:40, 10:50].max() < 0.5 and full[50:70, 10:50].min() > 0.5
    assert full[:, 60:].max() == 0 and full[:15].max() == 0


def body_flags(seen: set[str] | None = None, missing: set[str] = frozenset(), outside: set[str] = frozenset()):
    names = lm.BODY_KEYPOINTS
    seen_arr = np.array([n not in missing for n in names])
    out_arr = np.array([n in outside for n in names])
    return names, seen_arr, out_arr


def test_truncation_warnings():
    names, seen, out = body_flags()
    assert truncation_warnings(names, seen, out, (10, 10, 90, 190), 100, 200) == []
    legs = {"left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel", "left_big_toe", "right_big_toe"}
    notes = truncation_warnings(*body_flags(missing=legs, outside=legs), (10, 10, 90, 200), 100, 200)
    assert notes == ["legs out of frame above the knees: legs will be guessed"]
    shins = {"left_ankle", "right_ankle", "left_heel", "right_heel", "left_big_toe", "right_big_toe"}
    notes = truncation_warnings(*body_flags(missing=shins, outside=shins), None, 100, 200)
    assert notes == ["legs out of frame below the knees: lower legs and feet will be guessed"]
    notes = truncation_warnings(*body_flags(missing={"left_wrist"}), None, 100, 200)
    assert notes == ["left wrist not visible: the forearm pose will be guessed"]
    # nothing missing, but the mask runs into the left edge
    notes = truncation_warnings(*body_flags(), (0, 10, 90, 190), 100, 200)
    assert notes == ["the person touches the left edge of the photo: part of the body may be cut off"]
    head = {"nose", "left_eye", "right_eye"}
    notes = truncation_warnings(*body_flags(missing=head), None, 100, 200)
    assert "face not visible" in notes[0]


def test_config_checks():
    with pytest.raises(UserError, match="person index must be 0 or more"):
        PerceptionConfig(person=-1)
    with pytest.raises(ValueError, match="min_visibility"):
        PerceptionConfig(min_visibility=1.5)
    with pytest.raises(ValueError, match="max_people"):
        PerceptionConfig(max_people=0)
    assert PerceptionConfig().person is None


def test_keypoint_tables():
    assert len(lm.KEYPOINT_NAMES) == 75 == len(set(lm.KEYPOINT_NAMES))
    assert set(lm.POSE_NAMES) == set(lm.POSE_LANDMARK_INDEX)
    assert all(0 <= i < lm.NUM_POSE_LANDMARKS for i in lm.POSE_LANDMARK_INDEX.values())
    # mediapipe pairs from the ears down: odd = the person's left, the right one follows
    assert (lm.POSE_LANDMARK_INDEX["left_eye"], lm.POSE_LANDMARK_INDEX["right_eye"]) == (2, 5)
    for name, i in lm.POSE_LANDMARK_INDEX.items():
        if name.startswith("left_") and name != "left_eye":
            assert i % 2 == 1 and lm.POSE_LANDMARK_INDEX["right_" + name[5:]] == i + 1
