"""mediapipe -> COCO keypoint conventions."""

import numpy as np

from avatar3d.perception import landmarks as lm


def test_mediapipe_hips_move_down_to_coco_hips_and_nothing_else_moves():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(len(lm.KEYPOINT_NAMES), 2)) * 50 + 200
    li, ls = lm.index("left_hip"), lm.index("left_shoulder")
    pts[li], pts[ls] = (100.0, 300.0), (100.0, 100.0)  # an upright torso, 200 px long
    out = lm.coco_hips(pts)
    assert np.allclose(out[li], (100.0, 300.0 + 200.0 * lm.MEDIAPIPE_HIP_RAISE))  # lower in the image
    moved = np.nonzero(np.any(out != pts, axis=1))[0]
    assert set(moved) == {li, lm.index("right_hip")}
    assert 0.03 < lm.MEDIAPIPE_HIP_RAISE < 0.12


def test_hips_without_a_shoulder_are_left_alone():
    pts = np.zeros((len(lm.KEYPOINT_NAMES), 3))
    pts[lm.index("left_shoulder")] = (0.0, -0.5, 0.0)
    pts[lm.index("right_shoulder")] = np.nan  # not seen in 3D
    out = lm.coco_hips(pts)
    assert np.array_equal(out[lm.index("right_hip")], pts[lm.index("right_hip")])
    assert np.allclose(out[lm.index("left_hip")], (0.0, 0.5 * lm.MEDIAPIPE_HIP_RAISE, 0.0))
