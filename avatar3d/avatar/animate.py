"""Drive an :class:`~avatar3d.avatar.build.Avatar` with a canonical SMPL-22 :class:`core.Motion`.

Two steps, both in the canonical convention of :mod:`avatar3d.core.kinematics` (so no axis
conversion anywhere), world frame of DESIGN.md (metres, Y up, facing +Z):

1. :func:`retarget_to_avatar` - canonical motion -> a motion on **the avatar's own SMPL-22
   skeleton** (its rest joints, e.g. a taller body's):

   * local rotations are copied joint for joint;
   * the path is **scaled by leg length**: ``s = avatar hip height / canonical hip height``
     (midpoint of the SMPL hips at rest, above the floor), and the root is placed so the
     avatar's hip midpoint follows ``s`` x the canonical hip midpoint (the pelvis then follows
     ``s * root_translation`` up to the avatar's own pelvis-to-hip offset).  Anchoring at the hips
     rather than at the pelvis joint keeps ``s`` right on rigs whose pelvis bone sits elsewhere
     (Mixamo's Hips is 2.7 cm off Anny's root, which would otherwise shrink every stride by 3 %);
   * **foot locking**: a body with other proportions (Anny's height phenotype changes the leg,
     torso and foot ratios, not just the size) slides its planted feet by a few cm/s under the
     same rotations, so the motion's contacts are re-locked on the avatar's skeleton with the same
     two-bone IK the synthesis uses (:func:`avatar3d.motion.cleanup.cleanup_track`, smoothing and
     contact detection off, the motion's own contacts as the lock windows).  On the canonical
     body this changes nothing.
2. :func:`motion_to_params` - avatar-skeleton motion -> per-frame :class:`BodyParams`: SMPL joint
   j's local rotation goes on ``model.smpl22_pose_slots[j - 1]`` (for Anny: the bone whose head
   *is* joint j, so the SMPL joints are reproduced exactly); bones between SMPL joints (Anny's
   spine05/spine03, neck02, ...) and the hands keep their rest rotation; on rigs whose SMPL foot
   bone has toe siblings (the ``anny`` rig: ``toe1-1`` ... ``toe5-1`` under ``foot``) the foot
   rotation also goes on them, so all five toes bend together; the root rotation becomes
   ``global_orient`` (about the SMPL pelvis) and ``transl`` puts the pelvis on the root path, plus
   a floor correction that puts the avatar's lowest rest-pose vertex (clothing included) on y = 0.

Distances *as judged on the canonical joints* (``motion.npz``) are exact metres; the avatar (GLB,
MP4) walks ``s`` times them.  :func:`animate_avatar` runs both steps and the body model (in
batches of at most :data:`MAX_BATCH_FRAMES` frames) and returns skinning transforms for the GLB and
posed vertices for rendering.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from avatar3d.avatar.build import Avatar
from avatar3d.body.base import BodyModel, identity_params
from avatar3d.core import BodyParams, Motion, Skeleton, SkinWeights
from avatar3d.core.checks import check_shape
from avatar3d.core.kinematics import linear_blend_skinning, skin_matrix
from avatar3d.core.joints import SMPL22, SMPL22_PARENTS
from avatar3d.core.rotations import quaternion_to_matrix
from avatar3d.motion.cleanup import CleanupConfig, cleanup_track

log = logging.getLogger(__name__)

#: Most frames posed by one body-model call (memory stays ~100 MB for Anny).
MAX_BATCH_FRAMES = 64
#: Name fragment of toe bones that follow the SMPL foot joint's rotation (anny rig: toe1-1.L ...).
TOE_BONE_KEY = "toe"
#: Foot locking on the avatar's skeleton: the motion's contacts only (detection disabled by an
#: impossible speed threshold), no smoothing; the rest as the synthesis cleanup.
LOCK_CONFIG = CleanupConfig(smooth_sigma_frames=0.0, contact_speed_m_s=-1.0, contact_speed_rel=0.0)


@dataclass(frozen=True)
class AnimateConfig:
    """Settings of :func:`animate_avatar`.

    Attributes:
        batch_frames: frames per body-model call (1..64).
        scale_root: scale the path by the avatar's hip height over the canonical one (False:
            the avatar's hips follow the canonical path in exact metres, and its feet skate when
            it is much taller or shorter than the canonical body).
        lock_feet: re-lock the motion's foot contacts on the avatar's skeleton (two-bone IK).
        all_toes: put the SMPL foot rotation on every toe bone that is a sibling of the SMPL foot
            bone (Anny's anny rig), not only on the one that carries the SMPL joint.
        floor_correction: lift/lower the whole motion so the avatar's lowest rest-pose vertex
            (clothing offsets included) is on y = 0, like the canonical body's.
    """

    batch_frames: int = MAX_BATCH_FRAMES
    scale_root: bool = True
    lock_feet: bool = True
    all_toes: bool = True
    floor_correction: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.batch_frames <= MAX_BATCH_FRAMES:
            raise ValueError(f"batch_frames must be in [1, {MAX_BATCH_FRAMES}], got {self.batch_frames}")


@dataclass(frozen=True)
class AvatarAnimation:
    """An avatar posed by a motion, frame by frame.

    Attributes:
        fps: frames per second (the motion's).
        transforms: ``[T, J, 4, 4]`` float32 skinning transforms taking the avatar's bind mesh
            (``avatar.data.mesh``, world frame) to the posed body of each frame, on
            ``avatar.data.skeleton`` (for ``SkeletalAnimation.from_transforms``).
        params: the body-model parameters of the T frames (batch T).
        motion: the retargeted motion on the avatar's own SMPL-22 skeleton (metres of the avatar).
        root_scale: ``s``, the factor applied to the motion's path (of the hips; 1 = exact metres).
        floor_offset_m: vertical offset added to every frame (metres) by the floor correction.
    """

    fps: float
    transforms: torch.Tensor
    params: BodyParams
    motion: Motion
    root_scale: float
    floor_offset_m: float

    @property
    def num_frames(self) -> int:
        return self.transforms.shape[0]

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def vertices(self, avatar: Avatar, batch_frames: int = MAX_BATCH_FRAMES) -> torch.Tensor:
        """``[T, V, 3]`` float32 posed avatar vertices (world, metres), for rendering."""
        return skin_vertices(avatar.data.mesh.vertices, avatar.data.skin, self.transforms, batch_frames)


def skin_vertices(vertices: torch.Tensor, skin: SkinWeights, transforms: torch.Tensor,
                  batch_frames: int = MAX_BATCH_FRAMES) -> torch.Tensor:
    """Linear blend skinning: ``[V, 3]`` bind vertices, ``[T, J, 4, 4]`` transforms ->
    ``[T, V, 3]`` float32 posed vertices (same frame as the transforms' output, metres).

    Skinned by :func:`~avatar3d.core.kinematics.linear_blend_skinning`, B frames per call.
    """
    check_shape("vertices", vertices, ("V", 3))
    check_shape("transforms", transforms, ("T", None, 4, 4))
    check_shape("skin.indices", skin.indices, (vertices.shape[0], None))
    t, j = transforms.shape[:2]
    weights = skin_matrix(skin.indices, skin.weights.detach(), j, torch.float32)
    v = vertices.detach().to(torch.float32)[None]
    out = torch.empty(t, v.shape[1], 3, dtype=torch.float32)
    with torch.no_grad():
        for a in range(0, t, batch_frames):
            out[a:a + batch_frames] = linear_blend_skinning(v, transforms[a:a + batch_frames].detach().to(torch.float32), weights)
    return out


def toe_slots(model: BodyModel) -> dict[int, tuple[int, ...]]:
    """``{smpl joint index: extra pose slots}``: for the SMPL feet (joints 10, 11), the pose slots
    of the toe bones that share the SMPL foot bone's parent (Anny's anny rig); empty for other
    models/rigs."""
    names = getattr(model, "bone_names", None)
    parents = getattr(model, "bone_parents", None)
    if names is None or parents is None:
        return {}
    pose_names = tuple(model.pose_joint_names)
    extra: dict[int, tuple[int, ...]] = {}
    for joint in ("left_foot", "right_foot"):
        j = SMPL22.index(joint)
        bone = names.index(pose_names[model.smpl22_pose_slots[j - 1]])
        siblings = [n for i, n in enumerate(names)
                    if i != bone and parents[i] == parents[bone] and TOE_BONE_KEY in n.lower()]
        extra[j] = tuple(pose_names.index(n) for n in siblings if n in pose_names)
    return extra


@torch.no_grad()
def avatar_skeleton(model: BodyModel, avatar: Avatar) -> Skeleton:
    """The avatar's SMPL-22 skeleton at rest (world frame as the body model places it: lowest
    vertex on y = 0, pelvis over the origin), float64."""
    out = model.forward(identity_params(1, len(model.pose_joint_names), avatar.shape.to(model.dtype)))
    return Skeleton(names=SMPL22, parents=SMPL22_PARENTS, rest_positions=out.smpl22[0].detach().to(torch.float64))


def _hip_mid(joints: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    return 0.5 * (joints[..., names.index("left_hip"), :] + joints[..., names.index("right_hip"), :])


def _check_motion(motion: Motion) -> None:
    if not isinstance(motion, Motion):
        raise ValueError(f"motion must be a core.Motion, got {type(motion).__name__}")
    missing = [n for n in SMPL22 if n not in motion.skeleton.names]
    if missing:
        raise ValueError(f"motion skeleton lacks SMPL-22 joints {missing}; retarget it to the canonical skeleton first")


def root_scale(motion: Motion, target: Skeleton) -> float:
    """``s`` = ``target``'s hip height / the motion skeleton's hip height (midpoint of the SMPL
    hips, both at rest, above the floor at y = 0): the leg-length ratio strides scale with."""
    canonical = float(_hip_mid(motion.skeleton.rest_positions.to(torch.float64), motion.skeleton.names)[1])
    if not canonical > 0:
        raise ValueError(f"the motion skeleton's rest hips must be above the floor, got y = {canonical:.4g}")
    return float(_hip_mid(target.rest_positions.to(torch.float64), target.names)[1]) / canonical


def retarget_to_avatar(motion: Motion, target: Skeleton, scale: float = 1.0, lock_feet: bool = True) -> Motion:
    """``motion`` (any skeleton with the SMPL-22 names, canonical convention) on the SMPL-22
    ``target`` skeleton: rotations copied, the hip-midpoint path scaled by ``scale``, the
    motion's foot contacts re-locked by IK when ``lock_feet`` (see the module docstring).
    Returns a float32 :class:`core.Motion` on ``target`` with the same fps and contacts."""
    _check_motion(motion)
    names = motion.skeleton.names
    order = [names.index(n) for n in SMPL22]
    q = motion.local_rotations.detach().to(torch.float64)[:, order]  # [T, 22, 4] in SMPL22 order
    root_rot = quaternion_to_matrix(q[:, 0])
    rest_c = motion.skeleton.rest_positions.detach().to(torch.float64)
    hips_c = motion.root_translation.detach().to(torch.float64) + root_rot @ (
        _hip_mid(rest_c, names) - rest_c[names.index("pelvis")])
    rest_a = target.rest_positions.detach().to(torch.float64)
    root = scale * hips_c - root_rot @ (_hip_mid(rest_a, SMPL22) - rest_a[0])
    contacts = None if motion.contacts is None else motion.contacts.detach().cpu().numpy().astype(bool)
    q_np, root_np = q.cpu().numpy(), root.cpu().numpy()
    if lock_feet and contacts is not None and contacts.any():
        q_np, root_np, _ = cleanup_track(q_np, root_np, rest_a.cpu().numpy(), float(motion.fps), LOCK_CONFIG,
                                         contact_hint=contacts)
    return Motion(fps=float(motion.fps), skeleton=Skeleton(SMPL22, SMPL22_PARENTS, rest_a.to(torch.float32)),
                  local_rotations=torch.as_tensor(np.asarray(q_np), dtype=torch.float32),
                  root_translation=torch.as_tensor(np.asarray(root_np), dtype=torch.float32),
                  contacts=None if contacts is None else torch.as_tensor(contacts))


def motion_to_params(motion: Motion, model: BodyModel, avatar: Avatar, floor_offset_m: float = 0.0,
                     all_toes: bool = True) -> BodyParams:
    """Per-frame :class:`BodyParams` (batch T, the avatar's shape) reproducing ``motion``, a motion
    on the avatar's SMPL-22 skeleton (:func:`retarget_to_avatar`): its pelvis follows
    ``root_translation`` (plus ``floor_offset_m`` in height), its SMPL joints the rotations.

    Args:
        motion: ``local_rotations`` ``[T, 22, 4]`` quaternions (w, x, y, z); ``root_translation``
            ``[T, 3]`` metres, world frame; skeleton with the SMPL-22 names.
        all_toes: see :class:`AnimateConfig`.
    """
    _check_motion(motion)
    names = motion.skeleton.names
    t = motion.num_frames
    dtype = model.dtype
    rot = quaternion_to_matrix(motion.local_rotations.detach().to(torch.float64)).to(dtype)  # [T, J, 3, 3]
    params = identity_params(t, len(model.pose_joint_names), avatar.shape.expand(t, -1).to(dtype))
    pose = params.pose
    extra = toe_slots(model) if all_toes else {}
    for j in range(1, len(SMPL22)):
        src = rot[:, names.index(SMPL22[j])]
        pose[:, model.smpl22_pose_slots[j - 1]] = src
        for slot in extra.get(j, ()):
            pose[:, slot] = src
    # with zero transl the model's pelvis is at its rest position (over the origin)
    rest_pelvis = avatar_skeleton(model, avatar).rest_positions[0]
    transl = (motion.root_translation.detach().to(torch.float64) - rest_pelvis
              + torch.tensor([0.0, floor_offset_m, 0.0], dtype=torch.float64))
    return BodyParams(shape=params.shape, pose=pose, global_orient=rot[:, names.index("pelvis")].clone(),
                      transl=transl.to(dtype))


@torch.no_grad()
def floor_offset(model: BodyModel, avatar: Avatar) -> float:
    """Metres to raise the avatar so its lowest vertex at rest (clothing included) is on y = 0."""
    transforms = avatar.skinning_transforms(model, avatar.params(model, 1))
    posed = skin_vertices(avatar.data.mesh.vertices, avatar.data.skin, transforms)
    return -float(posed[0, :, 1].min())


@torch.no_grad()
def animate_avatar(avatar: Avatar, model: BodyModel, motion: Motion,
                   config: AnimateConfig = AnimateConfig()) -> AvatarAnimation:
    """Pose ``avatar`` (built on ``model``'s rig) by the canonical ``motion``, frame by frame.

    Returns an :class:`AvatarAnimation`: skinning transforms ``[T, J, 4, 4]`` for the GLB
    (``SkeletalAnimation.from_transforms(avatar.data.skeleton, anim.transforms, anim.fps)``) and
    ``anim.vertices(avatar)`` ``[T, V, 3]`` for rendering.  The body model is evaluated in
    batches of at most ``config.batch_frames`` frames.
    """
    _check_motion(motion)
    target = avatar_skeleton(model, avatar)
    scale = root_scale(motion, target) if config.scale_root else 1.0
    retargeted = retarget_to_avatar(motion, target, scale, config.lock_feet)
    offset = floor_offset(model, avatar) if config.floor_correction else 0.0
    params = motion_to_params(retargeted, model, avatar, offset, config.all_toes)
    t = motion.num_frames
    chunks = []
    for a in range(0, t, config.batch_frames):
        b = slice(a, min(t, a + config.batch_frames))
        part = BodyParams(shape=params.shape[b], pose=params.pose[b], global_orient=params.global_orient[b],
                          transl=params.transl[b])
        chunks.append(avatar.skinning_transforms(model, part).to(torch.float32))
    transforms = torch.cat(chunks)
    log.info("animated the avatar: %d frames at %.1f fps, path scale %.3f, floor offset %.4f m",
             t, motion.fps, scale, offset)
    return AvatarAnimation(fps=float(motion.fps), transforms=transforms, params=params, motion=retargeted,
                           root_scale=scale, floor_offset_m=offset)
