"""Keypoint names of :class:`~avatar3d.core.Observations` from perception, and where each one
comes from in mediapipe's outputs (pure tables, no mediapipe import), and the one conversion
between mediapipe's and COCO's definition of a keypoint (:func:`coco_hips`).

Order of ``KEYPOINT_NAMES`` (75 names):

* ``COCO17`` (indices 0-16), then four foot points ``left_heel, right_heel, left_big_toe,
  right_big_toe`` (17-20; mediapipe's heel and foot_index, the tip of the foot between the big
  and second toe) = :data:`BODY_KEYPOINTS`, 21 names from the pose model;
* ``left_hand_<HAND21 name>`` x 21 (21-41) and ``right_hand_<HAND21 name>`` x 21 (42-62),
  from the hand models (mediapipe order: wrist, thumb_cmc, ...);
* four face points ``face_forehead, face_chin, face_mouth_left, face_mouth_right`` (63-66) from
  the face mesh (its landmarks 10, 152, 291, 61);
* eight more pose points ``left_pinky, right_pinky, left_index, right_index, left_thumb,
  right_thumb, left_mouth, right_mouth`` (67-74): the pose model's coarse hand and mouth points,
  always present when the body is (useful when the hand model finds no hand).

"left" is the person's own left throughout (mediapipe's convention too).
"""

from __future__ import annotations

import numpy as np

from avatar3d.core.joints import COCO17, HAND21

FOOT_KEYPOINTS: tuple[str, ...] = ("left_heel", "right_heel", "left_big_toe", "right_big_toe")
BODY_KEYPOINTS: tuple[str, ...] = COCO17 + FOOT_KEYPOINTS
LEFT_HAND_KEYPOINTS: tuple[str, ...] = tuple(f"left_hand_{n}" for n in HAND21)
RIGHT_HAND_KEYPOINTS: tuple[str, ...] = tuple(f"right_hand_{n}" for n in HAND21)
FACE_KEYPOINTS: tuple[str, ...] = ("face_forehead", "face_chin", "face_mouth_left", "face_mouth_right")
EXTRA_POSE_KEYPOINTS: tuple[str, ...] = (
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_mouth", "right_mouth",
)
KEYPOINT_NAMES: tuple[str, ...] = (
    BODY_KEYPOINTS + LEFT_HAND_KEYPOINTS + RIGHT_HAND_KEYPOINTS + FACE_KEYPOINTS + EXTRA_POSE_KEYPOINTS
)

#: mediapipe pose landmark index (of its 33) for each pose-derived name.
POSE_LANDMARK_INDEX: dict[str, int] = {
    "nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8,
    "left_mouth": 9, "right_mouth": 10,
    "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14,
    "left_wrist": 15, "right_wrist": 16,
    "left_pinky": 17, "right_pinky": 18, "left_index": 19, "right_index": 20,
    "left_thumb": 21, "right_thumb": 22,
    "left_hip": 23, "right_hip": 24, "left_knee": 25, "right_knee": 26,
    "left_ankle": 27, "right_ankle": 28, "left_heel": 29, "right_heel": 30,
    "left_big_toe": 31, "right_big_toe": 32,
}
NUM_POSE_LANDMARKS = 33
NUM_HAND_LANDMARKS = 21
#: face-mesh landmark index for each face name (for a frontal face 291 is on the image right,
#: i.e. the person's left mouth corner).
FACE_LANDMARK_INDEX: dict[str, int] = {"face_forehead": 10, "face_chin": 152, "face_mouth_left": 291, "face_mouth_right": 61}

POSE_NAMES: tuple[str, ...] = BODY_KEYPOINTS + EXTRA_POSE_KEYPOINTS

#: mediapipe's hip landmarks sit higher than COCO hips (its topology places them nearer the
#: pelvis crest): on renders with exact COCO ground truth (../shared/bench/synth_dev, 36 seen
#: hips) the offset along the hip -> shoulder line is 6.9 % (median 6.0 %, sd 4 %) of that line.
#: Our hips are COCO hips (what the body models' keypoint regressors and the encoder use).
MEDIAPIPE_HIP_RAISE = 0.065


def coco_hips(points: np.ndarray, names: tuple[str, ...] = KEYPOINT_NAMES) -> np.ndarray:
    """``points [K, D]`` (pixels or metres, D = 2 or 3; rows named by ``names``) with each
    mediapipe hip moved down its own hip -> shoulder line by :data:`MEDIAPIPE_HIP_RAISE` (to
    where a COCO hip is).  Rows with non-finite values are left alone."""
    out = points.copy()
    for side in ("left", "right"):
        hip, shoulder = names.index(f"{side}_hip"), names.index(f"{side}_shoulder")
        if np.isfinite(points[hip]).all() and np.isfinite(points[shoulder]).all():
            out[hip] = points[hip] - MEDIAPIPE_HIP_RAISE * (points[shoulder] - points[hip])
    return out


def index(name: str) -> int:
    """Index of ``name`` in :data:`KEYPOINT_NAMES`."""
    return KEYPOINT_NAMES.index(name)
