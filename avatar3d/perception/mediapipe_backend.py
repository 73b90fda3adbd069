"""Thin wrapper over mediapipe 0.10.21's legacy ``mediapipe.solutions`` (pose and holistic).

Only ``model_complexity=1`` is used: its models ship inside the mediapipe wheel (0 and 2 would
be downloaded at run time).  mediapipe is imported lazily, on the first :class:`MediapipeRunner`,
never by ``import avatar3d``.

Everything leaving this module is plain numpy in the pixel frame of the image that was given
(u right, v down, origin at the top-left corner: mediapipe's normalised x, y times W, H).
World landmarks are mediapipe's metric ones, whose axes are already camera-aligned (x right,
y down, z away from the camera, like OpenCV's camera frame) with the origin at the middle of
the hips (not at the camera).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar3d.perception.landmarks import NUM_HAND_LANDMARKS, NUM_POSE_LANDMARKS
from avatar3d.utils.errors import UserError

#: The only offline-capable mediapipe pose model (the "full" model, shipped in the wheel).
MODEL_COMPLEXITY = 1
MEDIAPIPE_VERSION = "0.10.21"
#: Set to 1 to see mediapipe's native (C++) log lines, hidden by default.
LOG_ENV = "AVATAR3D_MEDIAPIPE_LOGS"


@dataclass(frozen=True)
class RawDetection:
    """One person as mediapipe saw it, in the pixel frame of the image processed.

    Attributes:
        pose_uv: ``[33, 2]`` float pixel coordinates of the pose landmarks (may lie outside the
            image: mediapipe extrapolates cut-off limbs).
        pose_visibility: ``[33]`` float in [0, 1].
        pose_world: ``[33, 3]`` metres, camera-aligned axes, origin mid-hip; or None.
        left_hand_uv / right_hand_uv: ``[21, 2]`` pixels (the person's own left/right), or None.
        face_uv: ``[468, 2]`` pixels, or None.
        mask: ``[H, W]`` float32 person probability in [0, 1] (zeros if segmentation failed).
    """

    pose_uv: np.ndarray
    pose_visibility: np.ndarray
    pose_world: np.ndarray | None
    left_hand_uv: np.ndarray | None
    right_hand_uv: np.ndarray | None
    face_uv: np.ndarray | None
    mask: np.ndarray

    def mapped(self, scale: float, offset: tuple[float, float], full_size: tuple[int, int]) -> RawDetection:
        """This detection made on a crop (upscaled by ``scale``, whose top-left corner sits at
        ``offset`` (u, v) in the full image) expressed in the full ``(W, H)`` image."""
        off = np.asarray(offset, dtype=np.float64)

        def back(uv: np.ndarray | None) -> np.ndarray | None:
            return None if uv is None else uv / scale + off

        return RawDetection(
            pose_uv=back(self.pose_uv),
            pose_visibility=self.pose_visibility,
            pose_world=self.pose_world,
            left_hand_uv=back(self.left_hand_uv),
            right_hand_uv=back(self.right_hand_uv),
            face_uv=back(self.face_uv),
            mask=paste_mask(self.mask, scale, offset, full_size),
        )


def paste_mask(mask: np.ndarray, scale: float, offset: tuple[float, float], full_size: tuple[int, int]) -> np.ndarray:
    """Resize a crop's ``[h, w]`` mask by 1/``scale`` and paste it at integer ``offset`` into a
    zero ``[H, W]`` mask (``full_size`` = (W, H))."""
    from PIL import Image

    width, height = full_size
    x0, y0 = int(round(offset[0])), int(round(offset[1]))
    crop_w = max(1, int(round(mask.shape[1] / scale)))
    crop_h = max(1, int(round(mask.shape[0] / scale)))
    small = mask
    if (crop_w, crop_h) != (mask.shape[1], mask.shape[0]):
        small = np.asarray(Image.fromarray(mask.astype(np.float32)).resize((crop_w, crop_h), Image.Resampling.BILINEAR))
    out = np.zeros((height, width), np.float32)
    x1, y1 = min(width, x0 + crop_w), min(height, y0 + crop_h)
    out[y0:y1, x0:x1] = small[: y1 - y0, : x1 - x0]
    return np.clip(out, 0.0, 1.0)


def import_mediapipe() -> Any:
    """``mediapipe.solutions``, imported on first use, with a clear error if it is missing."""
    try:
        with quiet_native_logs():
            import mediapipe

            solutions = mediapipe.solutions
    except (ImportError, AttributeError) as exc:
        raise UserError(
            f"mediapipe is not installed or cannot be imported ({exc})",
            f"install it with: pip install mediapipe=={MEDIAPIPE_VERSION}",
        ) from None
    return solutions


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hide mediapipe's C++ log lines (written straight to file descriptor 2) unless
    ``$AVATAR3D_MEDIAPIPE_LOGS`` is set.  Python-level errors still propagate normally."""
    if os.environ.get(LOG_ENV) or not hasattr(os, "dup"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except OSError:  # no usable fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class MediapipeRunner:
    """Holds mediapipe's pose and holistic graphs (static-image mode) for one perception call.

    Use as a context manager; :meth:`pose` is the fast body-only model (person search),
    :meth:`holistic` adds hands and face.  Both return None when no person is found.
    """

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        self._solutions = import_mediapipe()
        self._min_conf = float(min_detection_confidence)
        self._pose: Any = None
        self._holistic: Any = None

    def __enter__(self) -> MediapipeRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for graph in (self._pose, self._holistic):
            if graph is not None:
                with quiet_native_logs():
                    graph.close()
        self._pose = self._holistic = None

    def pose(self, image: np.ndarray) -> RawDetection | None:
        """Body landmarks + segmentation of the most prominent person in ``[H, W, 3]`` uint8 RGB."""
        if self._pose is None:
            with quiet_native_logs():
                self._pose = self._solutions.pose.Pose(
                    static_image_mode=True,
                    model_complexity=MODEL_COMPLEXITY,
                    enable_segmentation=True,
                    min_detection_confidence=self._min_conf,
                )
        return self._run(self._pose, image, hands=False)

    def holistic(self, image: np.ndarray) -> RawDetection | None:
        """Body, hand and face landmarks + segmentation of the most prominent person."""
        if self._holistic is None:
            with quiet_native_logs():
                self._holistic = self._solutions.holistic.Holistic(
                    static_image_mode=True,
                    model_complexity=MODEL_COMPLEXITY,
                    enable_segmentation=True,
                    refine_face_landmarks=False,
                    min_detection_confidence=self._min_conf,
                )
        return self._run(self._holistic, image, hands=True)

    @staticmethod
    def _run(graph: Any, image: np.ndarray, hands: bool) -> RawDetection | None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"mediapipe needs [H, W, 3] uint8 RGB, got shape {list(image.shape)} dtype {image.dtype}")
        height, width = image.shape[:2]
        with quiet_native_logs():
            result = graph.process(np.ascontiguousarray(image))
        if result.pose_landmarks is None:
            return None
        pose = _landmark_array(result.pose_landmarks, width, height, NUM_POSE_LANDMARKS)
        visibility = np.array([lm.visibility for lm in result.pose_landmarks.landmark], dtype=np.float64)
        world = None
        if getattr(result, "pose_world_landmarks", None) is not None:
            world = np.array([[lm.x, lm.y, lm.z] for lm in result.pose_world_landmarks.landmark], dtype=np.float64)
        mask = result.segmentation_mask
        mask = np.zeros((height, width), np.float32) if mask is None else np.clip(np.asarray(mask, np.float32), 0.0, 1.0)
        left = right = face = None
        if hands:
            left = _landmark_array(result.left_hand_landmarks, width, height, NUM_HAND_LANDMARKS)
            right = _landmark_array(result.right_hand_landmarks, width, height, NUM_HAND_LANDMARKS)
            face = _landmark_array(result.face_landmarks, width, height, None)
        return RawDetection(pose, np.clip(visibility, 0.0, 1.0), world, left, right, face, mask)


def _landmark_array(landmarks: Any, width: int, height: int, expected: int | None) -> np.ndarray | None:
    if landmarks is None:
        return None
    uv = np.array([[lm.x * width, lm.y * height] for lm in landmarks.landmark], dtype=np.float64)
    if expected is not None and uv.shape[0] != expected:
        raise RuntimeError(f"mediapipe returned {uv.shape[0]} landmarks, expected {expected}")
    return uv
