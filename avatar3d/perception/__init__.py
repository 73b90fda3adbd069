"""Layer 3: perception — keypoints, confidences and a person mask from one photo (mediapipe).

``detect_person(load_image(path), PerceptionConfig())`` -> :class:`~avatar3d.core.Observations`.
mediapipe is imported only when a detection runs, never by importing this package.
"""

from avatar3d.perception.detector import PerceptionConfig, detect_person
from avatar3d.perception.landmarks import BODY_KEYPOINTS, KEYPOINT_NAMES

__all__ = ["BODY_KEYPOINTS", "KEYPOINT_NAMES", "PerceptionConfig", "detect_person"]
