"""SMPL-X backend: the user's own SMPL-X model files, loaded by the `smplx` package.

The SMPL-X files are licence-restricted and cannot ship; :func:`find_smplx_file` says where to
get them and where to put them (:class:`SMPLXFilesMissing`).  The file is loaded by the real
``smplx.SMPLXLayer`` (all checks and array layouts are smplx's own); the forward pass is the
smplx linear-blend-skinning functions (``blend_shapes``, ``vertices2joints``,
``batch_rigid_transform``) called directly, so that the skinning transforms come out too.

Frames: SMPL-X is already in the world frame of DESIGN.md (Y up, facing +Z, left +X), so no
rotation is applied; the body is only placed: with identity pose and ``global_orient`` and zero
``transl`` its lowest vertex (of the rest mesh of that shape) is on y = 0 and its pelvis
(SMPL-X joint 0) at (0, h, 0); ``global_orient`` rotates about the pelvis.

Parameters (``BodyParams``):

* ``shape``: ``[B, num_betas]`` SMPL-X betas, unit-variance PCA coefficients; valid range
  ``SMPLX_SHAPE_RANGE`` = [-5, 5] (about +-3 already gives extreme bodies; the limit keeps
  optimisers out of degenerate regions).  Expressions are fixed at zero (neutral face).
* ``pose``: ``[B, 54, 3, 3]`` rotation matrices for ``SMPLX_JOINT_NAMES[1:]`` (21 body joints,
  jaw, two eyes, 15 left-hand and 15 right-hand joints, smplx's order).  SMPL-X's local joint
  frames are aligned with the world axes, so these are exactly SMPL-X's own pose rotations
  (passed as matrices, no axis-angle round trip).  Identity = the template pose: T-pose with
  *flat* hands (SMPL-X's "relaxed" mean hand pose is not added, as in ``smplx.SMPLXLayer``).

Named outputs:

* ``smpl22``: SMPL-X joints 0..21, which are the SMPL-22 joints in the same order.
* ``coco17``: nose, eyes and ears are the SMPL-X mesh vertices ``smplx.vertex_ids['smplx']``
  uses for them; shoulders, elbows, wrists, hips, knees and ankles are the SMPL-X joints of the
  same name.  COCO's hips and ankles are surface keypoints, so these joint-based ones are an
  approximation (SMPL hip joints sit a few cm lower/inside of annotated COCO hips).
* ``rest_vertices``: the shaped template *plus the pose-corrective offsets of this pose*
  (what SMPL-X's skinning transforms act on), placed like the body at rest.

UVs: ``uvs``/``face_uvs`` are None unless the ``.npz`` carries ``vt``/``ft`` arrays (the
official SMPL-X npz files do not; their UV map ships separately).
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from avatar3d.body.base import (
    SMPLX_DIR_ENV,
    BodyConfig,
    check_params,
    identity_params,
    place_in_world,
    world_placement_matrix,
)
from avatar3d.core import BodyOutput, BodyParams, Skeleton, SkinWeights
from avatar3d.core.checks import check_choice, check_shape
from avatar3d.core.joints import COCO17, SMPL22, SMPL22_PARENTS

log = logging.getLogger(__name__)

#: Where to register and download the model files.
SMPLX_URL = "https://smpl-x.is.tue.mpg.de"
#: Range of every beta accepted by the backend (betas are unit-variance PCA coefficients).
SMPLX_SHAPE_RANGE = (-5.0, 5.0)
DEFAULT_NUM_BETAS = 10
#: Max skinning influences kept in ``SMPLXBody.skin`` (the glTF limit; dense weights are used
#: for the forward pass itself).
MAX_INFLUENCES = 4

# fmt: off
#: The 55 SMPL-X skeleton joints (smplx.joint_names.JOINT_NAMES[:55]); the first 22 are SMPL22.
SMPLX_JOINT_NAMES: tuple[str, ...] = SMPL22 + (
    "jaw", "left_eye_smplhf", "right_eye_smplhf",
    *(f"left_{finger}{k}" for finger in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)),
    *(f"right_{finger}{k}" for finger in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)),
)
# fmt: on
NUM_SMPLX_JOINTS = len(SMPLX_JOINT_NAMES)
#: COCO face keypoint -> key of ``smplx.vertex_ids['smplx']``.
COCO_FACE_VERTEX_KEYS = {"nose": "nose", "left_eye": "leye", "right_eye": "reye", "left_ear": "lear", "right_ear": "rear"}


class SMPLXFilesMissing(ValueError):
    """The SMPL-X model files are not where avatar3d looked (the message says where and how)."""


def _missing_message(looked_at: list[Path], source: str, gender: str) -> str:
    stem = f"SMPLX_{gender.upper()}"
    where = (
        "Looked for " + " and ".join(f"{p}.npz/.pkl" for p in looked_at) + f" ({source})."
        if looked_at
        else f"No folder was given: neither BodyConfig.smplx_dir (--smplx-dir) nor ${SMPLX_DIR_ENV} is set."
    )
    return (
        f"SMPL-X model file {stem}.npz not found. {where}\n"
        f"The SMPL-X files are licence-restricted and cannot ship with avatar3d. To use SMPL-X:\n"
        f"  1. register at {SMPLX_URL} and download \"SMPL-X v1.1 (NPZ+PKL)\";\n"
        f"  2. put SMPLX_NEUTRAL.npz (and/or SMPLX_MALE.npz, SMPLX_FEMALE.npz) in a folder;\n"
        f"  3. point ${SMPLX_DIR_ENV} at that folder, or pass --smplx-dir FOLDER.\n"
        f"Or use the default body, Anny, which needs no download."
    )


def find_smplx_file(directory: Path | None, gender: str = "neutral", source: str = "") -> Path:
    """The model file ``SMPLX_{GENDER}.npz`` (preferred) or ``.pkl`` in ``directory`` or in its
    ``smplx/`` subfolder (the ``smplx.create`` layout); :class:`SMPLXFilesMissing` otherwise."""
    check_choice("smplx_gender", gender, ("neutral", "male", "female"))
    stem = f"SMPLX_{gender.upper()}"
    looked_at: list[Path] = []
    if directory is not None:
        directory = Path(directory).expanduser()
        if directory.is_file() and directory.suffix in (".npz", ".pkl"):
            return directory
        for folder in (directory, directory / "smplx"):
            looked_at.append(folder / stem)
            for ext in (".npz", ".pkl"):
                if (folder / (stem + ext)).is_file():
                    return folder / (stem + ext)
    raise SMPLXFilesMissing(_missing_message(looked_at, source, gender))


def smplx_skinning(
    betas: torch.Tensor,
    rotations: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor,
    j_regressor: torch.Tensor,
    parents: torch.Tensor,
    lbs_weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """SMPL-X linear blend skinning in the model's own frame (smplx ``lbs`` with ``pose2rot=False``,
    also returning the transforms).

    Args:
        betas: ``[B, N]``; rotations: ``[B, J, 3, 3]`` local rotations, joint 0 the root;
        v_template ``[V, 3]``, shapedirs ``[V, 3, N]``, posedirs ``[(J-1)*9, V*3]``,
        j_regressor ``[J, V]``, parents ``[J]``, lbs_weights ``[V, J]``: the smplx buffers.

    Returns:
        vertices ``[B, V, 3]`` posed, joints ``[B, J, 3]`` posed, transforms ``[B, J, 4, 4]``
        (``v_posed`` -> posed point), v_shaped ``[B, V, 3]`` (rest mesh of the shape), v_posed
        ``[B, V, 3]`` (v_shaped + pose correctives).
    """
    from smplx.lbs import batch_rigid_transform, blend_shapes, vertices2joints

    b, j = rotations.shape[:2]
    v_shaped = v_template + blend_shapes(betas, shapedirs)
    rest_joints = vertices2joints(j_regressor, v_shaped)
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    pose_feature = (rotations[:, 1:] - eye).reshape(b, -1)
    v_posed = v_shaped + (pose_feature @ posedirs).view(b, -1, 3)
    joints, transforms = batch_rigid_transform(rotations, rest_joints, parents, dtype=rotations.dtype)
    per_vertex = (lbs_weights @ transforms.reshape(b, j, 16)).view(b, -1, 4, 4)
    vertices = (per_vertex[..., :3, :3] @ v_posed[..., None]).squeeze(-1) + per_vertex[..., :3, 3]
    return vertices, joints, transforms, v_shaped, v_posed


class SMPLXBody(torch.nn.Module):
    """The SMPL-X body in the world frame (see module docstring), behind ``BodyModel``.

    Args:
        config: ``model="smplx"``; ``smplx_dir`` (else ``$AVATAR3D_SMPLX_DIR``), ``smplx_gender``
            and ``dtype`` are used; ``rig`` must be the default (SMPL-X has its own skeleton).
        num_betas: number of shape coefficients (<= what the file holds: 10 for SMPL-X v1.0
            files, 300 for v1.1).

    Raises:
        SMPLXFilesMissing: no model file where we looked (message: where to get/put it).
        ValueError: a bad config, or a file that is not a loadable SMPL-X model.
    """

    name = "smplx"
    shape_range = SMPLX_SHAPE_RANGE

    def __init__(self, config: BodyConfig | None = None, num_betas: int | None = None) -> None:
        super().__init__()
        config = config or BodyConfig(model="smplx")
        num_betas = config.smplx_num_betas if num_betas is None else num_betas
        if config.rig != BodyConfig.rig:
            raise ValueError(
                f"rig must be {BodyConfig.rig!r} (the default) for the smplx body, which has its own "
                f"fixed {NUM_SMPLX_JOINTS}-joint skeleton; got rig={config.rig!r} (an Anny rig)"
            )
        if not isinstance(num_betas, int) or num_betas < 1:
            raise ValueError(f"num_betas must be a positive int, got {num_betas!r}")
        self.config = config
        source = "from BodyConfig.smplx_dir / --smplx-dir" if config.smplx_dir else f"from ${SMPLX_DIR_ENV}"
        self.path = find_smplx_file(config.resolved_smplx_dir(), config.smplx_gender, source)
        model = self._load(self.path, num_betas)
        self.model = model
        self.pose_joint_names = SMPLX_JOINT_NAMES[1:]
        #: Index into pose_joint_names of each non-root SMPL-22 joint (SMPL-X's first 21).
        self.smpl22_pose_slots = tuple(range(21))
        self.shape_names = tuple(f"beta{i}" for i in range(num_betas))
        self.parents: tuple[int, ...] = (-1, *(int(p) for p in model.parents[1:]))
        self.faces = model.faces_tensor
        self.uvs, self.face_uvs = self._read_uvs(self.path, len(self.faces))
        weights = model.lbs_weights
        dense = SkinWeights(indices=torch.arange(NUM_SMPLX_JOINTS).expand(weights.shape[0], -1).contiguous(), weights=weights)
        self.skin = dense.limited(MAX_INFLUENCES)

        from smplx.vertex_ids import vertex_ids

        ids = vertex_ids["smplx"]
        num_vertices = model.v_template.shape[0]
        coco_index = []
        for name in COCO17:
            if name in COCO_FACE_VERTEX_KEYS:
                coco_index.append(NUM_SMPLX_JOINTS + ids[COCO_FACE_VERTEX_KEYS[name]])
            else:
                coco_index.append(SMPLX_JOINT_NAMES.index(name))
        if max(coco_index) - NUM_SMPLX_JOINTS >= num_vertices:
            raise ValueError(
                f"{self.path} is not an SMPL-X model: it has {num_vertices} vertices, fewer than the SMPL-X "
                "keypoint vertex ids need"
            )
        # Index into cat(joints, vertices) along dim 1.
        self.register_buffer("coco_index", torch.tensor(coco_index), persistent=False)

    def _load(self, path: Path, num_betas: int) -> torch.nn.Module:
        import smplx

        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):  # smplx prints its warnings
                model = smplx.SMPLXLayer(
                    model_path=str(path), ext=path.suffix[1:], gender=self.config.smplx_gender,
                    num_betas=num_betas, use_pca=False, dtype=self.config.torch_dtype,
                )
        except ModuleNotFoundError as exc:
            raise ValueError(f"could not load the SMPL-X model {path}: {exc} (use the .npz file instead)") from exc
        except (AttributeError, KeyError, OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
            raise ValueError(f"could not load the SMPL-X model {path}: not a valid SMPL-X file ({type(exc).__name__}: {exc})") from exc
        for line in printed.getvalue().splitlines():
            log.debug("smplx: %s", line)
        if model.num_betas < num_betas:
            raise ValueError(
                f"num_betas must be at most {model.num_betas} for {path} (it holds {model.num_betas} shape "
                f"components), got {num_betas}"
            )
        num_joints = model.J_regressor.shape[0]
        parents = tuple(int(p) for p in model.parents[: len(SMPL22_PARENTS)])
        if num_joints != NUM_SMPLX_JOINTS or parents != SMPL22_PARENTS:
            raise ValueError(
                f"{path} is not an SMPL-X model: expected {NUM_SMPLX_JOINTS} joints with the SMPL body tree, "
                f"got {num_joints} joints with parents {parents}"
            )
        log.info("loaded SMPL-X model %s (%d vertices, %d betas)", path, model.v_template.shape[0], num_betas)
        return model

    def _read_uvs(self, path: Path, num_faces: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``vt``/``ft`` from an npz (OBJ convention, v up) as glTF UVs (v down), else None."""
        if path.suffix != ".npz":
            return None, None
        with np.load(path, allow_pickle=False) as data:
            if "vt" not in data.files or "ft" not in data.files:
                return None, None
            vt, ft = data["vt"], data["ft"]
        if vt.ndim != 2 or vt.shape[1] != 2 or ft.shape != (num_faces, 3):
            log.warning("ignoring UVs in %s: vt %s / ft %s do not match %d faces", path, vt.shape, ft.shape, num_faces)
            return None, None
        uvs = torch.tensor(vt, dtype=self.config.torch_dtype)
        uvs = torch.stack((uvs[:, 0], 1.0 - uvs[:, 1]), dim=-1)
        return uvs, torch.tensor(ft.astype(np.int64))

    @property
    def dtype(self) -> torch.dtype:
        return self.config.torch_dtype

    def default_params(self, batch_size: int = 1) -> BodyParams:
        """Mean shape (all betas 0), template pose, standing at the origin."""
        shape = torch.zeros(batch_size, len(self.shape_names), dtype=self.dtype, device=self.model.v_template.device)
        return identity_params(batch_size, len(self.pose_joint_names), shape)

    def forward(self, params: BodyParams) -> BodyOutput:
        """Pose and shape the body. See :class:`~avatar3d.core.BodyOutput` for the fields
        (``joints``/``joint_transforms`` over the 55 ``SMPLX_JOINT_NAMES``)."""
        b = check_params(params, len(self.pose_joint_names), len(self.shape_names), SMPLX_SHAPE_RANGE)
        m, dtype = self.model, self.dtype
        pose = params.pose.to(dtype)
        # The root stays unrotated here; global_orient is applied about the pelvis by the placement.
        root = torch.eye(3, dtype=dtype, device=pose.device).expand(b, 1, 3, 3)
        vertices, joints, transforms, v_shaped, v_posed = smplx_skinning(
            params.shape.to(dtype), torch.cat((root, pose), dim=1), m.v_template,
            m.shapedirs[..., : len(self.shape_names)], m.posedirs, m.J_regressor, m.parents, m.lbs_weights,
        )
        pelvis = joints[:, 0]  # == the rest pelvis: the root is not rotated
        floor = v_shaped[..., 1].min(dim=1).values
        height = pelvis[:, 1] - floor
        place = (pelvis, height, params.global_orient.to(dtype), params.transl.to(dtype))
        vertices = place_in_world(vertices, *place)
        joints = place_in_world(joints, *place)
        # Bind mesh placed like the rest body: v_posed - pelvis + (0, h, 0).
        lift = torch.stack((torch.zeros_like(height), height, torch.zeros_like(height)), -1)
        to_model = torch.eye(4, dtype=dtype, device=pose.device).repeat(b, 1, 1)
        to_model[:, :3, 3] = pelvis - lift
        joint_transforms = world_placement_matrix(*place)[:, None] @ transforms @ to_model[:, None]
        keypoints = torch.cat((joints, vertices), dim=1)
        return BodyOutput(
            vertices=vertices,
            faces=self.faces,
            joints=joints,
            joint_transforms=joint_transforms,
            smpl22=joints[:, : len(SMPL22)],
            coco17=keypoints[:, self.coco_index],
            rest_vertices=v_posed - (pelvis - lift)[:, None],
        )

    def _rest(self, shape: torch.Tensor) -> BodyOutput:
        check_shape("shape", shape, (1, len(self.shape_names)))
        params = identity_params(1, len(self.pose_joint_names), shape.to(self.dtype))
        with torch.no_grad():
            return self.forward(params)

    def rest_skeleton(self, shape: torch.Tensor) -> Skeleton:
        """The 55-joint SMPL-X skeleton at rest (world frame, feet on y = 0) for one ``[1, N]``
        shape; local joint axes follow the world axes (identity rest orientations)."""
        joints = self._rest(shape).joints[0]
        eye = torch.eye(3, dtype=joints.dtype, device=joints.device).expand(NUM_SMPLX_JOINTS, 3, 3).clone()
        return Skeleton(names=SMPLX_JOINT_NAMES, parents=self.parents, rest_positions=joints, rest_orientations=eye)

    def smpl22_skeleton(self, shape: torch.Tensor) -> Skeleton:
        """The canonical SMPL-22 skeleton of this body at rest (world frame)."""
        return Skeleton(names=SMPL22, parents=SMPL22_PARENTS, rest_positions=self._rest(shape).smpl22[0])
