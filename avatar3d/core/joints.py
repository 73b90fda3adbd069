"""Canonical joint and keypoint names (DESIGN.md section 3).

"left" is always the person's own left, which in the world frame at rest is +X.

Three named sets, kept apart because some names repeat with different meanings:

* ``SMPL22`` - the 22 SMPL body joints (rotation centres inside the body).
* ``COCO17`` - the 17 COCO keypoints (surface landmarks: COCO's hips and ankles are not the
  SMPL joints of the same name; they belong to a different set and are never mixed).
* ``HAND21`` - the 21 mediapipe hand landmarks, per hand.
"""

from __future__ import annotations

SMPL22: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)

#: Parent index of each SMPL22 joint (-1 for the root), as in the SMPL kinematic tree.
SMPL22_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
)

COCO17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

#: The 12 limb keypoints of COCO17 (shoulders to ankles), used for PA-MPJPE.
COCO_LIMBS12: tuple[str, ...] = COCO17[5:]

HAND21: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)


def mirror_name(name: str) -> str:
    """The name of the joint on the other side ("left_knee" <-> "right_knee"); others unchanged."""
    if name.startswith("left_"):
        return "right_" + name[len("left_"):]
    if name.startswith("right_"):
        return "left_" + name[len("right_"):]
    return name


def index_of(names: tuple[str, ...], wanted: tuple[str, ...] | list[str]) -> list[int]:
    """Indices of ``wanted`` in ``names``; ValueError naming every missing name."""
    lookup = {n: i for i, n in enumerate(names)}
    missing = [w for w in wanted if w not in lookup]
    if missing:
        raise ValueError(f"unknown joint name(s) {missing}; known: {list(names)}")
    return [lookup[w] for w in wanted]
