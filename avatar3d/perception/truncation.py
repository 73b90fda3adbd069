"""Warnings about body parts that are cut off by the frame or hidden (pure functions).

A body keypoint is *seen* when its confidence is above zero (perception zeroes keypoints whose
visibility is low or that lie outside the image).  A missing keypoint is *out of frame* when the
detector's (extrapolated) position for it lies outside the image, else *not visible*
(occluded, or too uncertain).  The fitter guesses missing parts from the body prior; these
warnings say which.
"""

from __future__ import annotations

import numpy as np

from avatar3d.perception.selection import Box

#: Pixels: a mask box this close to an image edge touches it.
EDGE_TOLERANCE_PX = 1.0


def truncation_warnings(
    names: tuple[str, ...],
    seen: np.ndarray,
    outside: np.ndarray,
    mask_box: Box | None,
    width: int,
    height: int,
) -> list[str]:
    """Human-readable warnings for missing body parts.

    Args:
        names: keypoint names (must include the COCO-17 and foot names of
            :data:`avatar3d.perception.landmarks.BODY_KEYPOINTS`).
        seen: ``[K]`` bool, keypoint confidently seen.
        outside: ``[K]`` bool, the detector's position for the keypoint is outside the image.
        mask_box: the person mask's box (pixel edges), for the "touches the edge" note.
        width, height: image size in pixels.
    """
    is_seen = {n: bool(s) for n, s in zip(names, seen)}
    is_out = {n: bool(o) for n, o in zip(names, outside)}
    notes: list[str] = []

    def missing(*keys: str) -> list[str]:
        return [k for k in keys if not is_seen[k]]

    def where(miss: list[str]) -> str:
        return "out of frame" if any(is_out[n] for n in miss) else "not visible"

    # head
    face = missing("nose", "left_eye", "right_eye")
    if len(face) == 3:
        if where(face) == "out of frame":
            notes.append("head out of frame: the head will be guessed")
        else:
            notes.append("face not visible (seen from behind or covered?): head orientation will be guessed")
    # legs, from the top down
    hips, knees = missing("left_hip", "right_hip"), missing("left_knee", "right_knee")
    ankles = missing("left_ankle", "right_ankle")
    feet = missing("left_heel", "right_heel", "left_big_toe", "right_big_toe")
    if len(hips) == 2:
        notes.append(f"hips and legs {where(hips + knees + ankles)}: the lower body will be guessed")
    elif len(knees) == 2:
        notes.append(f"legs {where(knees + ankles)} above the knees: legs will be guessed")
    elif len(ankles) == 2:
        notes.append(f"legs {where(ankles)} below the knees: lower legs and feet will be guessed")
    else:
        for side in ("left", "right"):
            knee, ankle = missing(f"{side}_knee"), missing(f"{side}_ankle")
            if knee:
                notes.append(f"{side} leg {where(knee + ankle)} above the knee: it will be guessed")
            elif ankle:
                notes.append(f"{side} leg {where(ankle)} below the knee: the lower leg will be guessed")
        if not ankles and feet:
            notes.append(f"feet partly {where(feet)}: foot pose will be guessed")
    # arms
    for side in ("left", "right"):
        shoulder, elbow, wrist = missing(f"{side}_shoulder"), missing(f"{side}_elbow"), missing(f"{side}_wrist")
        if shoulder and elbow:
            notes.append(f"{side} arm {where(shoulder + elbow + wrist)}: it will be guessed")
        elif elbow:
            notes.append(f"{side} elbow {where(elbow + wrist)}: the arm pose will be guessed")
        elif wrist:
            notes.append(f"{side} wrist {where(wrist)}: the forearm pose will be guessed")
    # a mask running into the border means something is cut even if the keypoints are fine
    if mask_box is not None and not any("out of frame" in n for n in notes):
        edges = []
        if mask_box[0] <= EDGE_TOLERANCE_PX:
            edges.append("left")
        if mask_box[2] >= width - EDGE_TOLERANCE_PX:
            edges.append("right")
        if mask_box[1] <= EDGE_TOLERANCE_PX:
            edges.append("top")
        if mask_box[3] >= height - EDGE_TOLERANCE_PX:
            edges.append("bottom")
        if edges:
            notes.append(f"the person touches the {' and '.join(edges)} edge of the photo: part of the body may be cut off")
    return notes
