"""Find the main person in a photo: keypoints with confidences, a person mask, warnings.

Pipeline of :func:`detect_person`:

1. **Search** (mediapipe pose, fast): detect the most prominent person, paint them out with
   the background colour, detect again, ... up to ``max_people``.  If nobody is found in the
   whole image, search overlapping windows of a half, then a quarter of the image's short side
   (finds people too small for the detector at full view).
2. **Select**: number the candidates by decreasing score (size x centrality, see
   :mod:`avatar3d.perception.selection`); take ``config.person`` (default 0, the largest and
   most central).
3. **Refine** (mediapipe holistic: body, hands, face, segmentation): paint the other
   candidates out and re-run; for a small person (box under ``crop_below`` of the image
   height) on a crop around them with a margin, upscaled to ``crop_min_side``, mapped back to
   full-image pixels.
4. **Report**: keypoints in :data:`~avatar3d.perception.landmarks.KEYPOINT_NAMES` order;
   confidence = mediapipe visibility, set to 0 below ``min_visibility`` and for points outside
   the image; warnings for cut-off / hidden parts; errors for no person or a person too small.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from avatar3d.core import Observations
from avatar3d.perception import landmarks as lm
from avatar3d.perception.mediapipe_backend import MediapipeRunner, RawDetection
from avatar3d.perception.selection import (
    Box,
    Candidate,
    clip_box,
    expand_box,
    inside,
    iou,
    mask_box,
    person_box,
    points_box,
    score,
    search_windows,
    union,
)
from avatar3d.perception.truncation import truncation_warnings
from avatar3d.utils.errors import UserError
from avatar3d.utils.images import LoadedImage, as_loaded_image

log = logging.getLogger(__name__)

#: Pose landmarks that make a detection plausible as a person (at least two must be seen).
ANCHOR_LANDMARKS = ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip")
#: Visibility an anchor landmark needs to count.
ANCHOR_VISIBILITY = 0.5
#: Crops are never upscaled more than this (no detail is gained beyond it).
MAX_UPSCALE = 4.0
#: Two detections overlapping more than this (IoU) are the same person.
SAME_PERSON_IOU = 0.4
#: Margin around a person found by the window search (its box may be partial).
WINDOW_CROP_MARGIN = 0.5
#: Painting a person out grows their mask by this fraction of their box height.
ERASE_GROW = 0.03
#: Mask probability above which a pixel belongs to a person when painting them out.
ERASE_MASK_THRESHOLD = 0.3
#: The window search tries windows of 1/2, then 1/4 ... of the image's short side, this many
#: levels, none smaller than MIN_WINDOW_PX (1/2: 9 windows, 1/4: 49 windows).
WINDOW_LEVELS = 2
MIN_WINDOW_PX = 192


@dataclass(frozen=True)
class PerceptionConfig:
    """How :func:`detect_person` finds and measures the person.

    Attributes:
        person: which person to use when several are found: 0 = the largest and most central
            (default), 1 = the next, ... (the CLI's ``--person N``).  None = 0.
        max_people: how many people the search looks for.
        min_person_height_px: a person shorter than this (pixels, mask + keypoints box) is
            refused: too small to fit.
        min_visibility: keypoints whose mediapipe visibility is below this get confidence 0.
        mask_threshold: mask probability above which a pixel counts as the person (for boxes).
        min_detection_confidence: mediapipe's person-detector threshold.
        centrality_weight: how much being off-centre lowers a candidate's score (0 = size only).
        crop_below: a person whose box is shorter than this fraction of the image height is
            re-detected on a crop around them (upscaled); taller people on the whole image.
        crop_margin: the refine crop extends this fraction of the person's box size beyond it.
        crop_min_side: crops whose longer side is smaller are upscaled to it (at most 4x).
        window_search: when nobody is found in the whole image, search windows of it.
        hands_and_face: run the holistic model (hands + face) for the chosen person; False
            runs the body-only pose model (faster; hand and face keypoints then have confidence 0).
    """

    person: int | None = None
    max_people: int = 4
    min_person_height_px: int = 96
    min_visibility: float = 0.3
    mask_threshold: float = 0.5
    min_detection_confidence: float = 0.5
    centrality_weight: float = 0.5
    crop_below: float = 0.6
    crop_margin: float = 0.2
    crop_min_side: int = 512
    window_search: bool = True
    hands_and_face: bool = True

    def __post_init__(self) -> None:
        if self.person is not None and self.person < 0:
            raise UserError(f"person index must be 0 or more, got {self.person}", "people are numbered from 0 (the main person)")
        if self.max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {self.max_people}")
        if self.min_person_height_px < 1:
            raise ValueError(f"min_person_height_px must be positive, got {self.min_person_height_px}")
        for name in ("min_visibility", "mask_threshold", "min_detection_confidence", "centrality_weight", "crop_below"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if not 0.0 <= self.crop_margin <= 2.0:
            raise ValueError(f"crop_margin must lie in [0, 2], got {self.crop_margin}")
        if self.crop_min_side < 64:
            raise ValueError(f"crop_min_side must be at least 64, got {self.crop_min_side}")


def detect_person(image: LoadedImage | np.ndarray, config: PerceptionConfig | None = None) -> Observations:
    """Keypoints, confidences and mask of the main person in a photo.

    Args:
        image: a :class:`~avatar3d.utils.images.LoadedImage` (from ``load_image``) or an
            ``[H, W, 3]`` uint8 RGB array.
        config: :class:`PerceptionConfig` (default: the largest, most central person).

    Returns:
        :class:`~avatar3d.core.Observations` with ``keypoint_names`` =
        :data:`~avatar3d.perception.landmarks.KEYPOINT_NAMES` (75: COCO-17, 4 foot points,
        2 x 21 hand points, 4 face points, 8 coarse pose points); ``keypoints`` ``[75, 2]``
        float32 pixels (u, v) in the corner-origin frame (finite everywhere: missing hands sit
        at the pose wrist, a missing face at the nose, cut-off limbs where mediapipe
        extrapolates them, possibly outside the image); ``confidence`` ``[75]`` float32 in
        [0, 1] (0 = not seen / outside the image; hand and face points carry the pose
        visibility of the wrist / nose); ``mask`` ``[H, W]`` float32 person probability;
        ``bbox`` of mask and seen keypoints; ``world_landmarks`` ``[75, 3]`` float32 metres
        from mediapipe's metric pose, camera-aligned axes (x right, y down, z away from the
        camera) with the origin at mid-hip, NaN for the hand and face points (mediapipe
        gives them no metric 3D); ``warnings``: loading notes, people count, cut-off parts.

    Raises:
        UserError: no person found; ``config.person`` beyond the people found; the person is
            smaller than ``config.min_person_height_px``.
    """
    cfg = config or PerceptionConfig()
    img = as_loaded_image(image)
    pixels = img.pixels
    height, width = pixels.shape[:2]
    notes = list(img.warnings)
    with MediapipeRunner(cfg.min_detection_confidence) as runner:
        candidates, from_windows = _search(pixels, runner, cfg)
        if not candidates:
            raise UserError(
                f"no person found in {img.name}",
                "use a photo where one person is clearly visible, facing the camera, with at least "
                "the head and shoulders in the frame; if the person is small in the photo, crop it "
                "around them",
            )
        candidates.sort(key=lambda c: -c.score)
        index = cfg.person or 0
        if index >= len(candidates):
            count = f"{len(candidates)} person was" if len(candidates) == 1 else f"{len(candidates)} people were"
            raise UserError(
                f"person {index} was asked for, but only {count} found in {img.name}",
                f"people are numbered from 0 (largest and most central first): choose 0 to {len(candidates) - 1}",
            )
        if len(candidates) > 1:
            how = "chosen with --person" if cfg.person else "the largest and most central"
            notes.append(
                f"{len(candidates)} people found; using person {index} ({how}); "
                f"choose another with --person 0..{len(candidates) - 1}"
            )
        chosen = candidates[index]
        others = [c for i, c in enumerate(candidates) if i != index]
        margin = WINDOW_CROP_MARGIN if from_windows else cfg.crop_margin
        det, refine_note = _refine(pixels, chosen, others, runner, cfg, margin)
    if refine_note:
        notes.append(refine_note)
    return _observations(img, det, cfg, notes)


# --------------------------------------------------------------------------- search
def _plausible(det: RawDetection, width: int, height: int) -> bool:
    idx = [lm.POSE_LANDMARK_INDEX[n] for n in ANCHOR_LANDMARKS]
    ok = (det.pose_visibility[idx] >= ANCHOR_VISIBILITY) & inside(det.pose_uv[idx], width, height)
    return int(ok.sum()) >= 2


def _background_colour(pixels: np.ndarray) -> np.ndarray:
    step = max(1, int(math.sqrt(pixels.shape[0] * pixels.shape[1] / 65536)))
    return np.median(pixels[::step, ::step].reshape(-1, 3), axis=0).astype(np.uint8)


def _person_region(det: RawDetection, box: Box, cfg: PerceptionConfig) -> np.ndarray:
    """``[H, W]`` bool: the pixels to paint out to hide this person (grown mask + keypoint box)."""
    from scipy.ndimage import maximum_filter

    height, width = det.mask.shape
    grow = max(1, int(round(ERASE_GROW * (box[3] - box[1]))))
    region = maximum_filter((det.mask > ERASE_MASK_THRESHOLD).astype(np.uint8), size=2 * grow + 1) > 0
    seen = (det.pose_visibility >= cfg.min_visibility) & inside(det.pose_uv, width, height)
    kp = points_box(det.pose_uv[seen])
    if kp is not None:
        x0, y0, x1, y1 = expand_box(kp, 0.05, width, height)
        region[y0:y1, x0:x1] = True
    return region


def _search(pixels: np.ndarray, runner: MediapipeRunner, cfg: PerceptionConfig) -> tuple[list[Candidate], bool]:
    height, width = pixels.shape[:2]
    fill = _background_colour(pixels)
    work = pixels.copy()
    found: list[Candidate] = []
    for _ in range(cfg.max_people):
        det = runner.pose(work)
        if det is None or not _plausible(det, width, height):
            break
        box = person_box(det, width, height, cfg.min_visibility, cfg.mask_threshold)
        if box is None or any(iou(box, c.box) > SAME_PERSON_IOU for c in found):
            break  # painting out failed: the detector found the same person again
        found.append(Candidate(det, box, score(det, box, width, height, cfg.mask_threshold, cfg.centrality_weight)))
        work[_person_region(det, box, cfg)] = fill
    if found or not cfg.window_search:
        return found, False
    for level in range(1, WINDOW_LEVELS + 1):
        side = min(width, height) // (2**level)
        if side < MIN_WINDOW_PX:
            break
        found = _window_search(pixels, runner, cfg, side)
        log.debug("window search (%d px windows) found %d people", side, len(found))
        if found:
            return found, True
    return [], True


def _window_search(pixels: np.ndarray, runner: MediapipeRunner, cfg: PerceptionConfig, side: int) -> list[Candidate]:
    height, width = pixels.shape[:2]
    found: list[Candidate] = []
    for x0, y0, x1, y1 in search_windows(width, height, side):
        det = runner.pose(np.ascontiguousarray(pixels[y0:y1, x0:x1]))
        if det is None or not _plausible(det, x1 - x0, y1 - y0):
            continue
        det = det.mapped(1.0, (x0, y0), (width, height))
        box = person_box(det, width, height, cfg.min_visibility, cfg.mask_threshold)
        if box is None:
            continue
        cand = Candidate(det, box, score(det, box, width, height, cfg.mask_threshold, cfg.centrality_weight))
        same = [i for i, c in enumerate(found) if iou(box, c.box) > SAME_PERSON_IOU or _contains(c.box, box) or _contains(box, c.box)]
        if not same:
            found.append(cand)
        elif all(_area(box) > _area(found[i].box) for i in same):  # keep the most complete view
            found = [c for i, c in enumerate(found) if i not in same] + [cand]
    return found


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _contains(outer: Box, inner: Box, slack: float = 0.8) -> bool:
    """Most (``slack``) of ``inner`` lies inside ``outer``."""
    iw = max(0.0, min(outer[2], inner[2]) - max(outer[0], inner[0]))
    ih = max(0.0, min(outer[3], inner[3]) - max(outer[1], inner[1]))
    return _area(inner) > 0 and iw * ih >= slack * _area(inner)


# --------------------------------------------------------------------------- refine
def _refine(
    pixels: np.ndarray,
    chosen: Candidate,
    others: list[Candidate],
    runner: MediapipeRunner,
    cfg: PerceptionConfig,
    margin: float,
) -> tuple[RawDetection, str | None]:
    """Re-run the detailed model on ``chosen`` with the others painted out: on a crop around
    them (upscaled) if they are small, else on the whole image."""
    height, width = pixels.shape[:2]
    if chosen.box[3] - chosen.box[1] < cfg.crop_below * height:
        x0, y0, x1, y1 = expand_box(chosen.box, margin, width, height)
    else:
        x0, y0, x1, y1 = 0, 0, width, height
    crop = pixels[y0:y1, x0:x1].copy()
    if others:
        keep = chosen.detection.mask > ERASE_MASK_THRESHOLD
        hide = np.zeros((height, width), bool)
        for other in others:
            hide |= _person_region(other.detection, other.box, cfg)
        hide &= ~keep
        crop[hide[y0:y1, x0:x1]] = _background_colour(pixels)
    scale = min(MAX_UPSCALE, max(1.0, cfg.crop_min_side / max(x1 - x0, y1 - y0)))
    if scale > 1.0:
        size = (int(round((x1 - x0) * scale)), int(round((y1 - y0) * scale)))
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC))
        scale = size[0] / (x1 - x0)
    det = runner.holistic(crop) if cfg.hands_and_face else runner.pose(crop)
    if det is None:
        return chosen.detection, "the detailed re-detection of the person failed; using the first detection (no hands or face)"
    det = det.mapped(scale, (x0, y0), (width, height))
    box = person_box(det, width, height, cfg.min_visibility, cfg.mask_threshold)
    if box is None or iou(box, chosen.box) < 0.3 and not _contains(box, chosen.box, 0.5):
        return chosen.detection, "the detailed re-detection found a different region; using the first detection (no hands or face)"
    return det, None


# --------------------------------------------------------------------------- report
def _observations(img: LoadedImage, det: RawDetection, cfg: PerceptionConfig, notes: list[str]) -> Observations:
    height, width = img.pixels.shape[:2]
    names = lm.KEYPOINT_NAMES
    k = len(names)
    uv = np.zeros((k, 2), np.float64)
    conf = np.zeros(k, np.float64)
    world = np.full((k, 3), np.nan, np.float64)
    for name in lm.POSE_NAMES:
        i, j = lm.index(name), lm.POSE_LANDMARK_INDEX[name]
        uv[i] = det.pose_uv[j]
        conf[i] = det.pose_visibility[j]
        if det.pose_world is not None:
            world[i] = det.pose_world[j]
    for side, hand_uv, hand_names in (
        ("left", det.left_hand_uv, lm.LEFT_HAND_KEYPOINTS),
        ("right", det.right_hand_uv, lm.RIGHT_HAND_KEYPOINTS),
    ):
        wrist = lm.POSE_LANDMARK_INDEX[f"{side}_wrist"]
        rows = [lm.index(n) for n in hand_names]
        if hand_uv is not None:
            uv[rows] = hand_uv
            conf[rows] = det.pose_visibility[wrist]
        else:
            uv[rows] = det.pose_uv[wrist]
    nose = lm.POSE_LANDMARK_INDEX["nose"]
    for name in lm.FACE_KEYPOINTS:
        i = lm.index(name)
        if det.face_uv is not None:
            uv[i] = det.face_uv[lm.FACE_LANDMARK_INDEX[name]]
            conf[i] = det.pose_visibility[nose]
        else:
            uv[i] = det.pose_uv[nose]
    uv = lm.coco_hips(uv)
    world = lm.coco_hips(world)
    outside = ~inside(uv, width, height)
    conf[(conf < cfg.min_visibility) | outside] = 0.0
    mbox = mask_box(det.mask, cfg.mask_threshold)
    box = union(mbox, points_box(uv[conf > 0]))
    if box is None:
        raise UserError(f"no person found in {img.name}", "use a photo where one person is clearly visible")
    box = clip_box(box, width, height)
    person_h = box[3] - box[1]
    if person_h < cfg.min_person_height_px:
        raise UserError(
            f"the person in {img.name} is only {person_h:.0f} px tall; need at least {cfg.min_person_height_px} px",
            "use a photo where the person is larger: move closer, zoom in, or crop the photo around them",
        )
    body = [lm.index(n) for n in lm.BODY_KEYPOINTS]
    notes.extend(truncation_warnings(lm.BODY_KEYPOINTS, conf[body] > 0, outside[body], mbox, width, height))
    for note in notes:
        log.info("perception: %s", note)
    return Observations(
        image=torch.from_numpy(img.pixels.copy()),
        keypoint_names=names,
        keypoints=torch.from_numpy(uv.astype(np.float32)),
        confidence=torch.from_numpy(conf.astype(np.float32)),
        mask=torch.from_numpy(np.ascontiguousarray(det.mask, dtype=np.float32)),
        bbox=box,
        world_landmarks=torch.from_numpy(world.astype(np.float32)),
        warnings=tuple(notes),
    )
