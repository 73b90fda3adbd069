"""Retarget CMU mocap clips onto the canonical SMPL-22 skeleton, as a :class:`core.Motion`.

Source clips come from :mod:`avatar3d.motion.bvh` / :mod:`avatar3d.motion.asf_amc`
(:class:`MocapClip`); the target is the canonical skeleton of
:mod:`avatar3d.motion.canonical` (Anny's average body at rest, an A-pose-like stance) in the
canonical convention of :mod:`avatar3d.core.kinematics` (rest orientation = identity in world
axes, ``G[j] = G[parent] @ local[j]``).

How (all in the world frame: metres, Y up, facing +Z at rest):

1. **Joint map.**  Each SMPL-22 joint takes the frame (global rotation) of one source joint
   (:data:`MB_JOINTS`, :data:`MAX_JOINTS`, :data:`ASF_JOINTS`; the variant is detected from the
   joint names).  The SMPL wrist is the *hand* joint of the source (``LeftFingerBase`` /
   ``lhand``), whose rotation is wrist flexion; CMU's ``LeftHand``/``lwrist`` joint is the
   distal forearm and carries forearm twist only (cgspeed BVH even drop its length).
2. **Rest alignment** (once per clip skeleton): a fixed rotation ``A[j]`` per joint, so that
   ``G[j] = G_src[joint(j)] @ A[j]``.  CMU's zero pose is a T-pose (or arms-down for ``max``)
   with splayed legs; the canonical rest is Anny's A-pose.

   * pelvis: ``A`` aligns two canonical rest directions with the source's zero-pose ones (the
     spine and the hip line; a Wahba problem), so twist is defined;
   * limbs, toes, neck, head (*direction matching*): ``A[j] = A[parent] @ R`` with ``R`` the
     minimal rotation taking the canonical rest bone direction onto the source rest bone
     direction (seen in the parent's aligned frame).  Chaining keeps twist continuous, so a
     straight source limb straightens the A-pose elbow by a pure hinge swing;
   * spine1-3 and collars (*rotation transfer*, :data:`_ROTATION_TRANSFER`): ``A[j] =
     A[parent]``: their rest directions differ for rig reasons, not posture (see there).
3. **Per frame:** ``G[j] = S[j] @ G_src[joint(j)] @ A[j]`` where ``S[j]`` is the minimal
   rotation that lays a direction-matched bone onto the posed source direction when that
   direction spans more than one source joint (the CMU neck has two joints; elsewhere
   ``S = I``), then ``local = G[parent]^T G`` (:func:`core.kinematics.local_from_global`).
4. **Root translation:** bone-length scaling.  ``scale = canonical (thigh + shin) / source
   (thigh + shin)``; the canonical hip centre follows the scaled source hip centre (the CMU root
   sits ~10 cm above its hip joints, the canonical pelvis at their level), so
   ``root = scale * hip_centre_src - G[pelvis] @ (hip_centre_rest - pelvis_rest)``.  The CMU
   floor is y = 0, so the scaled floor is too; ``align_floor`` then removes each subject's
   floor-calibration offset.  The original heading and path are kept.

Quality (:func:`retarget_quality`): direction-matched bones reproduce the source's posed
directions (cosine 1.000); the rotation-transferred spine and collar bones differ by their
fixed rest offsets (spine ~0.98-0.99, collar -> shoulder ~0.83-0.95).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from avatar3d.core import Motion, Skeleton
from avatar3d.core.joints import SMPL22, SMPL22_PARENTS
from avatar3d.core.kinematics import forward_kinematics, local_from_global
from avatar3d.core.rotations import matrix_to_quaternion, quaternion_slerp, quaternion_to_matrix
from avatar3d.motion.asf_amc import DEFAULT_AMC_FPS, read_asf_amc
from avatar3d.motion.bvh import CMU_UNIT_M, MocapClip, read_bvh

log = logging.getLogger(__name__)

#: Rest vectors shorter than this (metres) are zero-length bones (CMU has several).
DEGENERATE_M = 1e-4
#: Floor alignment: this percentile of the lower foot (ball) joint height over the clip is put
#: at the canonical rest foot height (stance frames are the low ones in any clip that stands).
FLOOR_PERCENTILE = 10.0
#: The frame rate the motion library is resampled to.
LIBRARY_FPS = 30.0
#: Subjects whose cgspeed header rate (120) is wrong, per the CMU folder README: subject 141
#: waves at 4.9 Hz at 120 fps, 2.45 Hz at 60 fps.  (Subject 93 is unverified; left at 120.)
CMU_FPS_OVERRIDES = {"141": 60.0}
#: Variants from sources.tsv that hold a T-pose frame 0 to drop.
TPOSE_VARIANTS = ("mb1", "mb2")
#: Variants we can retarget (cc_iclone is Reallusion's rig and may not be used: licence).
SUPPORTED_VARIANTS = ("mb1", "mb2", "mb2_resaved", "max", "asfamc")


def _sides(template: dict[str, tuple[str, str]], centre: dict[str, str]) -> dict[str, str]:
    out = dict(centre)
    for part, (left, right) in template.items():
        out[f"left_{part}"] = left
        out[f"right_{part}"] = right
    return out


#: cgspeed MotionBuilder-friendly BVH (variants mb1, mb2, mb2_resaved): SMPL-22 -> source joint.
MB_JOINTS: dict[str, str] = _sides(
    {
        "hip": ("LeftUpLeg", "RightUpLeg"), "knee": ("LeftLeg", "RightLeg"), "ankle": ("LeftFoot", "RightFoot"),
        "foot": ("LeftToeBase", "RightToeBase"), "collar": ("LeftShoulder", "RightShoulder"),
        "shoulder": ("LeftArm", "RightArm"), "elbow": ("LeftForeArm", "RightForeArm"),
        "wrist": ("LeftFingerBase", "RightFingerBase"),
    },
    {"pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck", "head": "Head"},
)
#: cgspeed 3ds Max biped-named BVH (variant max).  Note "LeftShoulder" is the humerus here.
MAX_JOINTS: dict[str, str] = _sides(
    {
        "hip": ("LeftHip", "RightHip"), "knee": ("LeftKnee", "RightKnee"), "ankle": ("LeftAnkle", "RightAnkle"),
        "foot": ("LeftToe", "RightToe"), "collar": ("LeftCollar", "RightCollar"),
        "shoulder": ("LeftShoulder", "RightShoulder"), "elbow": ("LeftElbow", "RightElbow"),
        "wrist": ("lhand", "rhand"),
    },
    {"pelvis": "Hips", "spine1": "lowerback", "spine2": "Chest", "spine3": "Chest2", "neck": "lowerneck", "head": "Head"},
)
#: CMU ASF bones (a bone's joint is its start point).
ASF_JOINTS: dict[str, str] = _sides(
    {
        "hip": ("lfemur", "rfemur"), "knee": ("ltibia", "rtibia"), "ankle": ("lfoot", "rfoot"),
        "foot": ("ltoes", "rtoes"), "collar": ("lclavicle", "rclavicle"), "shoulder": ("lhumerus", "rhumerus"),
        "elbow": ("lradius", "rradius"), "wrist": ("lhand", "rhand"),
    },
    {"pelvis": "root", "spine1": "lowerback", "spine2": "upperback", "spine3": "thorax", "neck": "lowerneck", "head": "head"},
)
JOINT_MAPS = {"mb": MB_JOINTS, "max": MAX_JOINTS, "asf": ASF_JOINTS}

#: Canonical leaf joints get a direction of their own for the rest alignment: the head and
#: the toes by a fixed canonical direction (the Anny rest head looks ahead, the toes point
#: forward), the wrist by continuing the forearm.
_LEAF_DIRECTIONS = {"head": (0.0, 1.0, 0.0), "left_foot": (0.0, 0.0, 1.0), "right_foot": (0.0, 0.0, 1.0)}
#: Joints aligned with two directions (Wahba): an "up" bone and a left-right line, each given as
#: (from, to) SMPL joints; the others chain single directions.
_MULTI = {"pelvis": (("pelvis", "spine1"), ("right_hip", "left_hip"))}
#: Joints that take their source joint's rotation *change* only (``A`` = the parent's): both
#: rests are a person standing upright, but the rigs place these joints differently, so their
#: rest directions differ for modelling reasons, not posture.  CMU's spine is a straight line of
#: marker-based joints while Anny's spine joints zig-zag along the S-curve (pelvis->spine1 leans
#: 25 deg back, spine3->neck 10 deg forward): matching directions would bend Anny's spine +-15
#: deg at every joint of a neutral stance.  The CMU clavicle starts at the thorax end, well
#: below the sterno-clavicular joint, so its rest direction points ~20-30 deg up: matching it
#: would shrug the shoulders.  (The neck and head keep direction matching: cgspeed's neck rest
#: leans back 22 deg and the data compensates, so their rest is not neutral.)
_ROTATION_TRANSFER = ("spine1", "spine2", "spine3", "left_collar", "right_collar")


class UnsupportedClipError(ValueError):
    """A clip this retargeter refuses (unknown rig, or a variant excluded for licence reasons)."""


@dataclass(frozen=True)
class JointMap:
    """Which source joint drives each SMPL-22 joint.

    Attributes:
        variant: "mb", "max" or "asf".
        source: 22 source joint names, in SMPL22 order.
    """

    variant: str
    source: tuple[str, ...]


def detect_joint_map(clip: MocapClip) -> JointMap:
    """The joint map for ``clip`` from its joint names; UnsupportedClipError for other rigs."""
    names = set(clip.names)
    for variant, table in JOINT_MAPS.items():
        if all(table[j] in names for j in SMPL22):
            return JointMap(variant=variant, source=tuple(table[j] for j in SMPL22))
    if any(n.startswith(("CC_Base_", "RL_")) for n in names):
        raise UnsupportedClipError(
            f"clip {clip.name!r} uses Reallusion's CC rig (cc_iclone); those files must not be used (licence caution)"
        )
    raise UnsupportedClipError(f"clip {clip.name!r}: no CMU joint map fits joints {sorted(names)[:12]}...")


@dataclass(frozen=True)
class RestAlignment:
    """The fixed part of a retarget, per (source skeleton, canonical skeleton) pair.

    Attributes:
        source_index: ``[22]`` source joint index driving each SMPL-22 joint.
        alignment: ``[22, 3, 3]`` rest-alignment rotations ``A`` (see module docstring).
        swing_target: ``[22]`` source joint index whose posed position the bone is laid
            towards per frame, or -1 (no correction).
        swing_direction: ``[22, 3]`` the canonical rest direction that is laid onto it.
        scale: canonical / source leg length.
        hip_offset: ``[3]`` canonical hip centre minus pelvis at rest (metres).
        source_hips: the two source hip joint indices (left, right).
    """

    source_index: np.ndarray
    alignment: np.ndarray
    swing_target: np.ndarray
    swing_direction: np.ndarray
    scale: float
    hip_offset: np.ndarray
    source_hips: tuple[int, int]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` the smallest rotation taking direction ``a`` to ``b`` (``[..., 3]``)."""
    a, b = np.broadcast_arrays(_unit(np.asarray(a, dtype=np.float64)), _unit(np.asarray(b, dtype=np.float64)))
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    k = np.zeros(a.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    eye = np.broadcast_to(np.eye(3), k.shape)
    out = eye + k + (k @ k) / np.maximum(1.0 + c, 1e-12)[..., None, None]
    flip = c < -1.0 + 1e-9
    if np.any(flip):  # antiparallel: half turn about any axis perpendicular to a
        af = a[flip]
        helper = np.where(np.abs(af[:, :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
        axis = _unit(np.cross(af, helper))
        out[flip] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return out


def wahba(canonical: np.ndarray, source: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``[3, 3]`` rotation ``A`` minimising ``sum w |A c_i - s_i|^2`` over unit directions."""
    c, s = _unit(canonical), _unit(source)
    w = np.ones(len(c)) if weights is None else weights
    h = (w[:, None, None] * s[:, :, None] * c[:, None, :]).sum(0)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _tip(clip: MocapClip, rest: np.ndarray, j: int) -> np.ndarray | None:
    """Rest vector from joint j to the first point below it (depth-first, first children
    first, End Sites included) that is not at j's own place: the direction of j's bone.
    None when there is none (some re-saved files zero their End Sites)."""
    stack = [j]
    while stack:
        node = stack.pop()
        points = [] if node == j else [rest[node]]
        if node in clip.end_sites:
            points.append(rest[node] + clip.end_sites[node])
        for point in points:
            if np.linalg.norm(point - rest[j]) > DEGENERATE_M:
                return point - rest[j]
        stack.extend(reversed(clip.children(node)))
    return None


def rest_alignment(clip: MocapClip, skeleton: Skeleton, joint_map: JointMap) -> RestAlignment:
    """Compute the fixed rest alignment of ``clip``'s skeleton to ``skeleton`` (SMPL-22)."""
    if tuple(skeleton.names) != SMPL22:
        raise ValueError(f"the target skeleton must have the SMPL22 joints in order, got {skeleton.names}")
    rest_src = clip.rest_positions()
    rest_can = skeleton.rest_positions.detach().cpu().double().numpy()
    src = np.array([clip.index(n) for n in joint_map.source])
    children = {j: [k for k, p in enumerate(SMPL22_PARENTS) if p == j] for j in range(22)}

    def pair(j: int, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(canonical, source) rest vectors from j to k and the canonical joint reached; when
        the source bone has zero length (CMU's Hips -> LowerBack), one joint further down."""
        s = rest_src[src[k]] - rest_src[src[j]]
        if np.linalg.norm(s) < DEGENERATE_M and children[k]:
            k = children[k][0]
            s = rest_src[src[k]] - rest_src[src[j]]
        return rest_can[k] - rest_can[j], s, k

    align = np.zeros((22, 3, 3))
    swing_target = np.full(22, -1)
    swing_dir = np.zeros((22, 3))
    for j, name in enumerate(SMPL22):
        parent = SMPL22_PARENTS[j]
        if name in _MULTI:
            pairs = [pair(SMPL22.index(a), SMPL22.index(b)) for a, b in _MULTI[name]]
            if any(np.linalg.norm(p[1]) < DEGENERATE_M for p in pairs):
                raise ValueError(f"clip {clip.name!r}: cannot align {name}: a source direction has zero length")
            align[j] = wahba(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
            continue
        base = align[parent]
        if name in _ROTATION_TRANSFER:
            align[j] = base
            continue
        if children[j]:
            c, s, k = pair(j, children[j][0])
            if np.linalg.norm(s) < DEGENERATE_M:
                raise ValueError(f"clip {clip.name!r}: zero-length source bone under {joint_map.source[j]!r}")
            swing_target[j] = src[k]
            swing_dir[j] = _unit(c)
        else:  # leaves: head and toes by a fixed direction, wrists continue the forearm
            c = np.array(_LEAF_DIRECTIONS[name]) if name in _LEAF_DIRECTIONS else rest_can[j] - rest_can[parent]
            s = _tip(clip, rest_src, src[j])
            if s is None:  # no bone to align with: keep the parent's alignment
                log.debug("%s: %s has no tip; leaf %s keeps its parent's alignment", clip.name, joint_map.source[j], name)
                s = base @ c
        align[j] = base @ minimal_rotation(c, base.T @ s)

    def leg(positions: np.ndarray, idx: list[int]) -> float:
        hip, knee, ankle = (positions[i] for i in idx)
        return float(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))

    can_legs = [leg(rest_can, [SMPL22.index(f"{s}_{p}") for p in ("hip", "knee", "ankle")]) for s in ("left", "right")]
    src_legs = [leg(rest_src, [src[SMPL22.index(f"{s}_{p}")] for p in ("hip", "knee", "ankle")]) for s in ("left", "right")]
    lh, rh = SMPL22.index("left_hip"), SMPL22.index("right_hip")
    return RestAlignment(
        source_index=src,
        alignment=align,
        swing_target=swing_target,
        swing_direction=swing_dir,
        scale=float(np.mean(can_legs) / np.mean(src_legs)),
        hip_offset=0.5 * (rest_can[lh] + rest_can[rh]) - rest_can[0],
        source_hips=(int(src[lh]), int(src[rh])),
    )


def retarget_globals(clip: MocapClip, alignment: RestAlignment) -> tuple[np.ndarray, np.ndarray]:
    """Canonical global rotations ``[T, 22, 3, 3]`` and root translation ``[T, 3]`` (float64)."""
    pos, glob = clip.forward_kinematics()
    g = glob[:, alignment.source_index] @ alignment.alignment  # [T, 22, 3, 3]
    for j in range(22):
        k = alignment.swing_target[j]
        if k < 0:
            continue
        target = pos[:, k] - pos[:, alignment.source_index[j]]
        current = g[:, j] @ alignment.swing_direction[j]
        ok = np.linalg.norm(target, axis=-1) > DEGENERATE_M
        swing = minimal_rotation(current, np.where(ok[:, None], target, current))
        g[:, j] = swing @ g[:, j]
    hip_centre = 0.5 * (pos[:, alignment.source_hips[0]] + pos[:, alignment.source_hips[1]])
    root = alignment.scale * hip_centre - g[:, 0] @ alignment.hip_offset
    return g, root


def retarget(
    clip: MocapClip,
    skeleton: Skeleton | None = None,
    *,
    joint_map: JointMap | None = None,
    fps: float | None = None,
    align_floor: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Motion:
    """Retarget a CMU clip to a canonical :class:`core.Motion` (see the module docstring).

    Args:
        clip: the source clip (BVH or ASF/AMC, T-pose frame already dropped).
        skeleton: the SMPL-22 target (default: the shipped canonical skeleton).
        joint_map: default: detected from the joint names.
        fps: resample to this rate (default: keep the clip's rate).
        align_floor: shift the motion vertically so that the lower foot joint's
            :data:`FLOOR_PERCENTILE` height equals its rest height (CMU subjects' floor
            calibration differs by a few cm; e.g. 08_04 sinks 4 cm without it).  False keeps
            the scaled CMU heights (floor y = 0).
        dtype: of the output tensors.

    Returns:
        ``Motion(fps, skeleton, local_rotations [T, 22, 4] (w, x, y, z), root_translation
        [T, 3] metres (world frame, y up, CMU's floor at y = 0, original heading), contacts=None)``.
    """
    if skeleton is None:
        from avatar3d.motion.canonical import load_canonical_skeleton

        skeleton = load_canonical_skeleton()
    joint_map = joint_map or detect_joint_map(clip)
    alignment = rest_alignment(clip, skeleton, joint_map)
    g, root = retarget_globals(clip, alignment)
    local = local_from_global(SMPL22_PARENTS, torch.from_numpy(g))
    if align_floor:
        rest = skeleton.rest_positions.detach().cpu().double()
        pos, _ = forward_kinematics(SMPL22_PARENTS, rest, local, torch.from_numpy(root))
        feet = [SMPL22.index("left_foot"), SMPL22.index("right_foot")]
        lower = pos[:, feet, 1].min(dim=1).values.numpy()
        shift = float(rest[feet, 1].mean()) - float(np.percentile(lower, FLOOR_PERCENTILE))
        log.debug("%s: floor alignment moves the motion %+.3f m vertically", clip.name, shift)
        root = root + np.array([0.0, shift, 0.0])
    quats = matrix_to_quaternion(local)
    motion = Motion(
        fps=float(clip.fps),
        skeleton=Skeleton(skeleton.names, skeleton.parents, skeleton.rest_positions.to(dtype)),
        local_rotations=quats.to(dtype),
        root_translation=torch.from_numpy(root).to(dtype),
    )
    return resample(motion, fps) if fps is not None and fps != clip.fps else motion


def resample(motion: Motion, fps: float) -> Motion:
    """``motion`` at ``fps``: rotations by slerp, translation linearly, contacts by the nearest
    frame.  Frame 0 stays at time 0; the last output frame is at or before the last input one."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t_in = motion.num_frames
    n_out = int(np.floor((t_in - 1) * fps / motion.fps + 1e-9)) + 1
    src_time = torch.arange(n_out, dtype=torch.float64) * (motion.fps / fps)
    i0 = src_time.floor().long().clamp(max=t_in - 1)
    i1 = (i0 + 1).clamp(max=t_in - 1)
    w = (src_time - i0.double()).to(motion.local_rotations.dtype)
    q = motion.local_rotations
    rot = quaternion_slerp(q[i0], q[i1], w[:, None, None])
    tr = motion.root_translation
    trans = tr[i0] + (tr[i1] - tr[i0]) * w[:, None].to(tr.dtype)
    contacts = None
    if motion.contacts is not None:
        contacts = motion.contacts[torch.where(w >= 0.5, i1, i0)]
    return replace(motion, fps=float(fps), local_rotations=rot, root_translation=trans, contacts=contacts)


# ---------------------------------------------------------------------- quality checks
@dataclass(frozen=True)
class RetargetQuality:
    """How closely a retargeted motion follows its source clip (same frames, same fps).

    Attributes:
        bone_cosine: per checked direction, the mean over frames of the cosine between the
            canonical posed direction and the source posed direction.  Keys are
            ``"parent->child"`` (SMPL names) for bones whose source bone has non-zero length
            (the pelvis's children excepted: the rigs place the hips differently), plus
            ``"hip_line"`` (right hip -> left hip) and ``"shoulder_line"``.
        matched: the keys whose direction the retarget matches (bones hanging from
            direction-matched joints, and the hip line); the others hang from
            rotation-transferred joints (spine, collars) and keep a fixed rest offset.
        mean_matched_cosine: mean of ``bone_cosine`` over ``matched``.
        mean_cosine: mean of ``bone_cosine`` over all keys.
        min_matched_cosine: the worst single frame over the matched directions.
        foot_height: ``[T]`` height of the lower SMPL foot (ball) joint per frame (metres).
        ankle_height: ``[T]`` height of the lower ankle joint per frame (metres).
    """

    bone_cosine: dict[str, float]
    matched: tuple[str, ...]
    mean_matched_cosine: float
    mean_cosine: float
    min_matched_cosine: float
    foot_height: np.ndarray
    ankle_height: np.ndarray


def retarget_quality(clip: MocapClip, motion: Motion, joint_map: JointMap | None = None) -> RetargetQuality:
    """Compare canonical FK of ``motion`` with the source clip's FK, frame by frame.

    ``motion`` must be ``retarget(clip)`` without resampling (the same frames)."""
    if motion.num_frames != clip.num_frames:
        raise ValueError(f"motion has {motion.num_frames} frames, clip {clip.num_frames}; compare before resampling")
    joint_map = joint_map or detect_joint_map(clip)
    src = [clip.index(n) for n in joint_map.source]
    pos_src, _ = clip.forward_kinematics()
    rest_src = clip.rest_positions()
    local = quaternion_to_matrix(motion.local_rotations.double())
    pos_can, _ = forward_kinematics(
        motion.skeleton.parents, motion.skeleton.rest_positions.double(), local, motion.root_translation.double()
    )
    pos_can = pos_can.numpy()
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    matched = []
    for j, p in enumerate(SMPL22_PARENTS):
        if p < 0 or SMPL22[p] in _MULTI:
            continue
        if np.linalg.norm(rest_src[src[j]] - rest_src[src[p]]) < DEGENERATE_M:
            continue
        key = f"{SMPL22[p]}->{SMPL22[j]}"
        pairs[key] = (pos_can[:, j] - pos_can[:, p], pos_src[:, src[j]] - pos_src[:, src[p]])
        if SMPL22[p] not in _ROTATION_TRANSFER:
            matched.append(key)
    for line, part in (("hip_line", "hip"), ("shoulder_line", "shoulder")):
        lj, rj = SMPL22.index(f"left_{part}"), SMPL22.index(f"right_{part}")
        pairs[line] = (pos_can[:, lj] - pos_can[:, rj], pos_src[:, src[lj]] - pos_src[:, src[rj]])
    matched.append("hip_line")
    cos = {k: np.sum(_unit(a) * _unit(b), axis=-1) for k, (a, b) in pairs.items()}
    bone_cosine = {k: float(v.mean()) for k, v in cos.items()}
    feet = [SMPL22.index("left_foot"), SMPL22.index("right_foot")]
    ankles = [SMPL22.index("left_ankle"), SMPL22.index("right_ankle")]
    return RetargetQuality(
        bone_cosine=bone_cosine,
        matched=tuple(matched),
        mean_matched_cosine=float(np.mean([bone_cosine[k] for k in matched])),
        mean_cosine=float(np.mean(list(bone_cosine.values()))),
        min_matched_cosine=float(min(cos[k].min() for k in matched)),
        foot_height=pos_can[:, feet, 1].min(axis=1),
        ankle_height=pos_can[:, ankles, 1].min(axis=1),
    )


# ---------------------------------------------------------------------- the CMU folder
@dataclass(frozen=True)
class CmuClipInfo:
    """One clip of the CMU folder (from its ``sources.tsv``).

    Attributes:
        file: file name (``05_01.bvh`` or ``08_04.amc``).
        variant: skeleton variant (mb1, mb2, mb2_resaved, max, cc_iclone, asfamc).
        path: full path of the motion file.
        usable: whether :func:`load_cmu_clip` accepts it.
        reason: why not, when not usable.
    """

    file: str
    variant: str
    path: Path
    usable: bool
    reason: str = ""


def cmu_clips(folder: str | Path) -> list[CmuClipInfo]:
    """Every clip listed in ``folder/sources.tsv``, with whether it is usable and why not."""
    folder = Path(folder)
    out = []
    with open(folder / "sources.tsv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            variant = row["variant"].strip()
            path = folder / row["file"].strip()
            if variant == "cc_iclone":
                reason = "Reallusion CC rig (cc_iclone): excluded, licence caution in the CMU README"
            elif variant not in SUPPORTED_VARIANTS:
                reason = f"unknown skeleton variant {variant!r}"
            elif not path.exists():
                reason = "file missing"
            else:
                reason = ""
            out.append(CmuClipInfo(file=path.name, variant=variant, path=path, usable=not reason, reason=reason))
    return out


def _variant_from_sources(path: Path) -> str | None:
    sources = path.parent / "sources.tsv"
    if not sources.exists():
        return None
    for info in cmu_clips(path.parent):
        if info.file == path.name:
            return info.variant
    return None


def load_cmu_clip(path: str | Path, *, variant: str | None = None) -> MocapClip:
    """Read one CMU clip (``.bvh``, or ``.amc`` with its subject's ``.asf`` beside it).

    The skeleton variant comes from ``variant``, else the folder's ``sources.tsv``, else the
    file itself: mb1/mb2 drop their T-pose frame 0 (detected when the variant is unknown);
    cc_iclone files are refused (UnsupportedClipError).  Lengths are CMU units (0.0564 m),
    converted to metres; the rate is the file's, except for subjects in
    :data:`CMU_FPS_OVERRIDES`.
    """
    path = Path(path)
    variant = variant or _variant_from_sources(path)
    if variant == "cc_iclone":
        raise UnsupportedClipError(f"{path.name}: cc_iclone clips (Reallusion rig) must not be used (licence caution)")
    subject = path.stem.split("_")[0]
    fps = CMU_FPS_OVERRIDES.get(subject)
    if path.suffix.lower() == ".amc":
        asf = path.with_name(f"{subject}.asf")
        if not asf.exists():
            raise FileNotFoundError(f"{path.name} needs its skeleton {asf.name} beside it")
        return read_asf_amc(asf, path, fps=fps or DEFAULT_AMC_FPS)
    drop = None if variant is None else variant in TPOSE_VARIANTS
    clip = read_bvh(path, metres_per_unit=CMU_UNIT_M, drop_tpose=drop, fps=fps)
    if variant is None:
        detect_joint_map(clip)  # refuses foreign rigs early
    return clip
