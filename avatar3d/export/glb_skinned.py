"""Skinned (and optionally animated) GLB: the ``avatar.glb`` contract of DESIGN.md section 4.

What the file holds, all in the world frame (metres, Y up, facing +Z = glTF's frame, so no
conversion):

* the bind mesh (``Mesh``; textured when it has UVs and a texture), split at UV seams, with
  ``JOINTS_0`` (uint8 when J <= 256, else uint16) and ``WEIGHTS_0`` (float32): at most 4
  influences per vertex, renormalised to sum to 1, joint index 0 in zero-weight slots;
* one node per skeleton joint, named exactly as the joint (Mixamo's ``mixamorig:LeftArm`` stays
  ``mixamorig:LeftArm`` so Mixamo clips retarget in Unity/Unreal).  Rest rotations are the
  identity (the canonical convention of :mod:`avatar3d.core.kinematics`); a node's translation
  is its rest offset from its parent, the root's is its rest position;
* a ``skin`` whose inverse bind matrices are translations by ``-rest_position`` (bind world
  transform of a joint = translation to its rest position) and whose ``skeleton`` is the root;
  the skinned mesh node sits at the scene root with no transform (glTF ignores it anyway);
* with a :class:`SkeletalAnimation`, one glTF animation: a LINEAR rotation channel per joint
  (glTF quaternions are x, y, z, w; ours are w, x, y, z; signs made continuous over time so
  interpolation takes the short arc) and a LINEAR translation channel on the root, keyframe
  times ``i / fps``.

Skinning in any glTF viewer then computes, for joint j at time t, the world matrix
``M_j = [G_j | p_j]`` from the node chain and the skinning matrix ``M_j @ IBM_j``, which maps a
bind point x to ``G_j (x - rest_j) + p_j``: exactly :func:`avatar3d.core.kinematics.skinning_transforms`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatar3d.core import Mesh, Motion, Skeleton, SkinWeights
from avatar3d.core.checks import check_finite, check_shape
from avatar3d.core.kinematics import forward_kinematics, local_from_global, skinning_transforms
from avatar3d.core.rotations import matrix_to_quaternion, quaternion_to_matrix
from avatar3d.export.mesh_files import GlbBuilder, add_mesh_primitive
from avatar3d.utils.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

#: glTF's limit for one JOINTS_n/WEIGHTS_n set (we write only set 0).
MAX_INFLUENCES = 4
#: Joints that fit an UNSIGNED_BYTE JOINTS_0 accessor.
UINT8_JOINT_LIMIT = 256
#: How far from orthonormal a transform's 3x3 block may be before it is refused (no scale/shear).
RIGID_TOLERANCE = 1e-3
#: Joint positions implied by a transform and by the rotation chain that differ by more than
#: this (metres) are logged: a glTF node hierarchy can only express hierarchy-consistent poses.
CHAIN_TOLERANCE_M = 1e-3


@dataclass(frozen=True)
class SkeletalAnimation:
    """A clip on a skeleton, in the canonical convention of :mod:`avatar3d.core.kinematics`.

    Attributes:
        fps: frames per second (> 0); keyframe i is at ``i / fps`` seconds.
        local_rotations: ``[T, J, 4]`` unit quaternions (w, x, y, z), each joint's rotation
            relative to its parent, in world-aligned axes (identity = rest pose).
        root_translation: ``[T, 3]`` world position of joint 0 (metres).
        joint_names: the J joint names the clip was made for, or None (then only the joint
            count is checked against the skeleton it is written with).
        name: the glTF animation name.
    """

    fps: float
    local_rotations: torch.Tensor
    root_translation: torch.Tensor
    joint_names: tuple[str, ...] | None = None
    name: str = "animation"

    def __post_init__(self) -> None:
        if not float(self.fps) > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        check_shape("local_rotations", self.local_rotations, ("T", "J", 4))
        check_shape("root_translation", self.root_translation, (self.local_rotations.shape[0], 3))
        if self.local_rotations.shape[0] < 1:
            raise ValueError("local_rotations must hold at least one frame, got 0")
        check_finite("local_rotations", self.local_rotations)
        check_finite("root_translation", self.root_translation)
        if self.joint_names is not None and len(self.joint_names) != self.local_rotations.shape[1]:
            raise ValueError(
                f"joint_names has {len(self.joint_names)} names but local_rotations has "
                f"{self.local_rotations.shape[1]} joints"
            )

    @property
    def num_frames(self) -> int:
        return self.local_rotations.shape[0]

    @property
    def num_joints(self) -> int:
        return self.local_rotations.shape[1]

    @property
    def duration_s(self) -> float:
        """Time of the last keyframe, ``(T - 1) / fps`` seconds."""
        return (self.num_frames - 1) / float(self.fps)

    @classmethod
    def from_transforms(
        cls, skeleton: Skeleton, transforms: torch.Tensor, fps: float, name: str = "animation"
    ) -> SkeletalAnimation:
        """From per-frame skinning transforms ``[T, J, 4, 4]`` (bind point -> posed point, world
        frame, metres; e.g. ``BodyOutput.joint_transforms`` of a batch of T poses) on
        ``skeleton`` (its rest positions = the bind joint positions).

        Local rotations are ``G_parent^T G`` of the transforms' rotation blocks; the root
        translation is the posed root position ``T_0 @ rest_0``.  Raises ValueError for
        non-rigid transforms (scale or shear cannot be expressed by rotation channels).
        """
        j = skeleton.num_joints
        check_shape("transforms", transforms, ("T", j, 4, 4))
        check_finite("transforms", transforms)
        t64 = transforms.detach().to(torch.float64).cpu()
        rot = t64[..., :3, :3]
        eye = torch.eye(3, dtype=torch.float64)
        off = (rot.transpose(-1, -2) @ rot - eye).abs().amax() if rot.numel() else torch.tensor(0.0)
        if float(off) > RIGID_TOLERANCE:
            raise ValueError(
                f"transforms must be rigid (rotation + translation); their 3x3 blocks are "
                f"{float(off):.3g} from orthonormal (tolerance {RIGID_TOLERANCE})"
            )
        rest = skeleton.rest_positions.detach().to(torch.float64).cpu()
        posed = torch.einsum("tjik,jk->tji", rot, rest) + t64[..., :3, 3]  # [T, J, 3]
        local = local_from_global(skeleton.parents, rot)
        quats = matrix_to_quaternion(local)
        chain_pos, _ = forward_kinematics(skeleton.parents, rest, quaternion_to_matrix(quats), posed[:, 0])
        gap = float((chain_pos - posed).norm(dim=-1).max()) if posed.numel() else 0.0
        if gap > CHAIN_TOLERANCE_M:
            log.warning(
                "skinning transforms are not hierarchy-consistent: joint positions differ by up to "
                "%.4f m from the rotation chain; the exported animation follows the chain", gap
            )
        return cls(fps=float(fps), local_rotations=quats, root_translation=posed[:, 0],
                   joint_names=tuple(skeleton.names), name=name)

    @classmethod
    def from_motion(cls, motion: Motion, name: str = "animation") -> SkeletalAnimation:
        """From a :class:`~avatar3d.core.Motion` (same convention); write it with a skeleton that
        has the motion skeleton's joint names (rest offsets may differ: rotations are copied)."""
        return cls(fps=float(motion.fps), local_rotations=motion.local_rotations.detach(),
                   root_translation=motion.root_translation.detach(),
                   joint_names=tuple(motion.skeleton.names), name=name)

    def skinning_transforms(self, skeleton: Skeleton) -> torch.Tensor:
        """``[T, J, 4, 4]`` bind point -> posed point transforms of this clip on ``skeleton``."""
        _check_animation(skeleton, self)
        rest = skeleton.rest_positions.detach().to(torch.float64).cpu()
        rot = quaternion_to_matrix(self.local_rotations.detach().to(torch.float64).cpu())
        pos, glob = forward_kinematics(skeleton.parents, rest, rot, self.root_translation.detach().to(torch.float64).cpu())
        return skinning_transforms(rest, pos, glob)


def _check_animation(skeleton: Skeleton, animation: SkeletalAnimation) -> None:
    if animation.num_joints != skeleton.num_joints:
        raise ValueError(
            f"animation has {animation.num_joints} joints but the skeleton has {skeleton.num_joints}"
        )
    if animation.joint_names is not None and tuple(animation.joint_names) != tuple(skeleton.names):
        diff = [(a, b) for a, b in zip(animation.joint_names, skeleton.names, strict=True) if a != b][:5]
        raise ValueError(
            f"animation joint names do not match the skeleton's (first differences, animation vs "
            f"skeleton: {diff}); retarget the motion onto this skeleton first"
        )


def continuous_quaternions(quaternions: np.ndarray) -> np.ndarray:
    """``[T, ..., 4]`` quaternions with signs flipped so consecutive frames have dot >= 0
    (q and -q are the same rotation; LINEAR glTF interpolation would otherwise take the long arc)."""
    q = np.array(quaternions, dtype=np.float64, copy=True)
    if q.shape[0] < 2:
        return q
    dots = (q[1:] * q[:-1]).sum(-1)
    flips = np.where(dots < 0, -1.0, 1.0)
    signs = np.concatenate((np.ones_like(flips[:1]), np.cumprod(flips, axis=0)), axis=0)
    return q * signs[..., None]


def skin_attributes(skin: SkinWeights, num_joints: int) -> tuple[np.ndarray, np.ndarray]:
    """``(joints [V, 4], weights [V, 4] float32)`` for glTF: duplicate joints of a vertex merged,
    the 4 strongest kept and renormalised (in float32, so each row sums to 1 in the stored
    precision), joint 0 in zero-weight slots; joints are uint8 when ``num_joints <= 256``."""
    idx = skin.indices.detach().cpu().long()
    w = skin.weights.detach().cpu().to(torch.float64)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_joints):
        raise ValueError(
            f"skin indices must lie in [0, {num_joints - 1}] (the skeleton's joints), got "
            f"[{int(idx.min())}, {int(idx.max())}]"
        )
    if bool((w < 0).any()):
        raise ValueError(f"skin weights must be >= 0, got a minimum of {float(w.min()):.4g}")
    check_finite("skin.weights", w)
    # Merge repeated joints within a vertex (glTF forbids a joint twice with non-zero weight).
    order = idx.argsort(dim=1)
    idx, w = torch.gather(idx, 1, order), torch.gather(w, 1, order)
    same = torch.zeros_like(idx, dtype=torch.bool)
    same[:, 1:] = idx[:, 1:] == idx[:, :-1]
    if bool(same.any()):
        for k in range(idx.shape[1] - 1, 0, -1):  # fold each repeat into the slot before it
            w[:, k - 1] += torch.where(same[:, k], w[:, k], torch.zeros_like(w[:, k]))
            w[:, k] = torch.where(same[:, k], torch.zeros_like(w[:, k]), w[:, k])
    empty = w.sum(dim=1) <= 0
    if bool(empty.any()):
        log.warning("%d vertices have no skin weight; binding them to joint 0", int(empty.sum()))
        w[empty, 0], idx[empty, 0] = 1.0, 0
    limited = SkinWeights(indices=idx, weights=w).limited(MAX_INFLUENCES)
    weights = limited.weights.numpy().astype(np.float32)
    joints = limited.indices.numpy()
    # Renormalise in float32 and put the rounding residual on the largest weight.
    weights = weights / weights.sum(axis=1, keepdims=True, dtype=np.float32)
    rows = np.arange(len(weights))
    top = weights.argmax(axis=1)
    weights[rows, top] += np.float32(1.0) - weights.sum(axis=1, dtype=np.float32)
    joints = np.where(weights > 0, joints, 0)
    dtype = np.uint8 if num_joints <= UINT8_JOINT_LIMIT else np.uint16
    return joints.astype(dtype), weights


def write_avatar_glb(
    path: str | Path,
    mesh: Mesh,
    skeleton: Skeleton,
    skin: SkinWeights,
    animation: SkeletalAnimation | None = None,
) -> Path:
    """Write a skinned (optionally animated) GLB atomically; returns ``path``.

    Args:
        path: output ``.glb`` file.
        mesh: the bind mesh, world frame (metres, Y up, feet on y = 0 by the caller's
            contract); ``[V, 3]`` vertices, optionally UVs + texture.
        skeleton: the bind skeleton (J joints, rest positions in the same frame as ``mesh``);
            its rest orientations, if any, are not written: rest rotations are the identity
            in the canonical convention.
        skin: ``[V, K]`` weights of ``mesh`` vertices onto ``skeleton`` joints (any K; written
            as the 4 strongest, renormalised).
        animation: optional clip on ``skeleton`` (same joint count, and names when it has them).

    Raises:
        ValueError: mismatched vertex or joint counts, bad indices, negative weights, or an
            animation made for another skeleton.
    """
    j = skeleton.num_joints
    v = mesh.vertices.shape[0]
    check_shape("skin.indices", skin.indices, (v, None))
    if len(set(skeleton.names)) != j:
        dupes = sorted({n for n in skeleton.names if skeleton.names.count(n) > 1})
        raise ValueError(f"skeleton joint names must be unique (glTF node names), repeated: {dupes}")
    if animation is not None:
        _check_animation(skeleton, animation)
    joints_attr, weights_attr = skin_attributes(skin, j)

    builder = GlbBuilder()
    g = builder.g
    mesh_index, source = add_mesh_primitive(builder, mesh)
    attributes = builder.gltf.meshes[mesh_index].primitives[0].attributes
    attributes.JOINTS_0 = builder.accessor(np.ascontiguousarray(joints_attr[source]), "VEC4", g.ARRAY_BUFFER)
    attributes.WEIGHTS_0 = builder.accessor(np.ascontiguousarray(weights_attr[source]), "VEC4", g.ARRAY_BUFFER)

    # Joint nodes 0..J-1 (same order as the skeleton), then the skinned mesh node.
    offsets = skeleton.rest_offsets().detach().cpu().to(torch.float64).numpy()
    children: list[list[int]] = [[] for _ in range(j)]
    for i, p in enumerate(skeleton.parents):
        if p >= 0:
            children[p].append(i)
    for i, name in enumerate(skeleton.names):
        node = g.Node(name=name, translation=[float(x) for x in offsets[i]])
        if children[i]:
            node.children = children[i]
        builder.gltf.nodes.append(node)
    rest = skeleton.rest_positions.detach().cpu().to(torch.float64).numpy()
    ibm = np.tile(np.eye(4), (j, 1, 1))
    ibm[:, :3, 3] = -rest
    # glTF matrices are column-major.
    ibm_accessor = builder.accessor(np.ascontiguousarray(ibm.transpose(0, 2, 1).reshape(j, 16)).astype(np.float32), "MAT4")
    builder.gltf.skins.append(g.Skin(name="skeleton", joints=list(range(j)), skeleton=0, inverseBindMatrices=ibm_accessor))
    builder.gltf.nodes.append(g.Node(name="body", mesh=mesh_index, skin=0))
    builder.gltf.scenes.append(g.Scene(name="avatar", nodes=[0, j]))

    if animation is not None:
        _add_animation(builder, animation)
    return atomic_write_bytes(path, builder.finish())


def _add_animation(builder: GlbBuilder, animation: SkeletalAnimation) -> None:
    g = builder.g
    t = animation.num_frames
    times = (np.arange(t, dtype=np.float64) / float(animation.fps)).astype(np.float32)
    time_accessor = builder.accessor(times, "SCALAR", minmax=True)
    q = animation.local_rotations.detach().cpu().to(torch.float64).numpy()
    q = q / np.linalg.norm(q, axis=-1, keepdims=True).clip(1e-12)
    q = continuous_quaternions(q)[..., [1, 2, 3, 0]]  # (w, x, y, z) -> glTF (x, y, z, w)
    samplers: list = []
    channels: list = []
    for joint in range(animation.num_joints):
        out = builder.accessor(np.ascontiguousarray(q[:, joint]).astype(np.float32), "VEC4")
        samplers.append(g.AnimationSampler(input=time_accessor, output=out, interpolation="LINEAR"))
        target = g.AnimationChannelTarget(node=joint, path="rotation")
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=target))
    root = animation.root_translation.detach().cpu().to(torch.float64).numpy().astype(np.float32)
    samplers.append(g.AnimationSampler(input=time_accessor, output=builder.accessor(root, "VEC3"), interpolation="LINEAR"))
    channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(node=0, path="translation")))
    builder.gltf.animations.append(g.Animation(name=animation.name, samplers=samplers, channels=channels))
