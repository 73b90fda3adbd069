"""Typed structures that cross stage boundaries (DESIGN.md sections 1 and 5).

Frames and units follow :mod:`avatar3d.core.frames`: world = metres, Y up, facing +Z, left +X;
camera = OpenCV.  Rotations are 3x3 matrices unless a field says quaternion (w, x, y, z).
Leading ``B`` is the batch size, ``V`` vertices, ``F`` triangles, ``J`` joints, ``T`` frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from avatar3d.core.checks import check_shape


@dataclass(frozen=True)
class Skeleton:
    """A joint hierarchy with its rest pose.

    Attributes:
        names: J joint names, parents before children.
        parents: J parent indices, -1 for the root.
        rest_positions: ``[J, 3]`` rest-pose joint positions in the world frame (metres).
        rest_orientations: ``[J, 3, 3]`` optional rest-pose joint orientations (world frame;
            identity for a skeleton whose local axes follow the world axes, as SMPL's).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_positions: torch.Tensor
    rest_orientations: torch.Tensor | None = None

    def __post_init__(self) -> None:
        j = len(self.names)
        if len(self.parents) != j:
            raise ValueError(f"parents must have {j} entries (one per name), got {len(self.parents)}")
        for i, p in enumerate(self.parents):
            if not (p == -1 if i == 0 else 0 <= p < i):
                raise ValueError(f"parents[{i}] = {p}: the root must come first (-1) and parents before children")
        check_shape("rest_positions", self.rest_positions, (j, 3))
        if self.rest_orientations is not None:
            check_shape("rest_orientations", self.rest_orientations, (j, 3, 3))

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"joint {name!r} is not in this skeleton; joints: {list(self.names)}") from None

    def rest_offsets(self) -> torch.Tensor:
        """``[J, 3]`` each joint's rest position relative to its parent (the root's is absolute)."""
        parents = torch.tensor([max(p, 0) for p in self.parents])
        offsets = self.rest_positions - self.rest_positions[parents]
        offsets[0] = self.rest_positions[0]
        return offsets


@dataclass(frozen=True)
class SkinWeights:
    """Linear-blend-skinning weights, sparse: each vertex's K strongest joints.

    Attributes:
        indices: ``[V, K]`` int64 joint indices into a Skeleton.
        weights: ``[V, K]`` float weights, each row summing to 1; unused slots have weight 0.
    """

    indices: torch.Tensor
    weights: torch.Tensor

    def __post_init__(self) -> None:
        check_shape("indices", self.indices, ("V", "K"))
        check_shape("weights", self.weights, ("V", "K"))
        if self.indices.shape != self.weights.shape:
            raise ValueError(
                f"indices and weights must have the same shape, got {list(self.indices.shape)} "
                f"and {list(self.weights.shape)}"
            )

    def limited(self, max_influences: int = 4) -> SkinWeights:
        """The ``max_influences`` strongest influences per vertex, renormalised to sum to 1;
        zero-weight slots get joint index 0 (the glTF convention)."""
        k = min(max_influences, self.weights.shape[1])
        w, order = self.weights.topk(k, dim=1)
        idx = torch.gather(self.indices, 1, order)
        w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
        idx = torch.where(w > 0, idx, torch.zeros_like(idx))
        if k < max_influences:
            pad = max_influences - k
            w = torch.cat((w, w.new_zeros(w.shape[0], pad)), 1)
            idx = torch.cat((idx, idx.new_zeros(idx.shape[0], pad)), 1)
        return SkinWeights(indices=idx, weights=w)


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh, optionally UV-mapped and textured.

    Attributes:
        vertices: ``[V, 3]`` positions (frame given by the producer; world unless named otherwise).
        faces: ``[F, 3]`` int64 vertex indices, counter-clockwise seen from outside.
        uvs: ``[Vt, 2]`` optional texture coordinates in [0, 1], v pointing *down* the image
            (glTF convention: (0, 0) = top-left of the texture).
        face_uvs: ``[F, 3]`` int64 optional indices into ``uvs`` per face corner.
        texture: ``[Ht, Wt, 3]`` optional uint8 RGB texture image.
        vertex_colors: ``[V, 3]`` optional float RGB in [0, 1].
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor | None = None
    face_uvs: torch.Tensor | None = None
    texture: torch.Tensor | None = None
    vertex_colors: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_shape("vertices", self.vertices, (None, 3))
        check_shape("faces", self.faces, (None, 3))
        if (self.uvs is None) != (self.face_uvs is None):
            raise ValueError("uvs and face_uvs must be given together")
        if self.uvs is not None:
            check_shape("uvs", self.uvs, (None, 2))
            check_shape("face_uvs", self.face_uvs, (self.faces.shape[0], 3))
        if self.texture is not None:
            check_shape("texture", self.texture, (None, None, 3))
        if self.vertex_colors is not None:
            check_shape("vertex_colors", self.vertex_colors, (self.vertices.shape[0], 3))
        if self.faces.numel() and (int(self.faces.min()) < 0 or int(self.faces.max()) >= self.vertices.shape[0]):
            raise ValueError(
                f"faces index vertices 0..{self.vertices.shape[0] - 1}, got indices in "
                f"[{int(self.faces.min())}, {int(self.faces.max())}]"
            )

    def with_vertices(self, vertices: torch.Tensor) -> Mesh:
        return replace(self, vertices=vertices)

    def vertex_normals(self) -> torch.Tensor:
        """``[V, 3]`` area-weighted unit vertex normals."""
        from avatar3d.core.geometry import vertex_normals

        return vertex_normals(self.vertices, self.faces)

@dataclass(frozen=True)
class Camera:
    """A pinhole camera, OpenCV convention: ``x_cam = R @ x_world + t``; pixels (u, v) = K x_cam / z.

    Attributes:
        K: ``[3, 3]`` intrinsics in pixels (fx, fy, cx, cy; principal point in the corner-origin
            pixel frame of DESIGN.md).
        R: ``[3, 3]`` world -> camera rotation.
        t: ``[3]`` world -> camera translation (metres).
        width, height: image size in pixels.
    """

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        check_shape("K", self.K, (3, 3))
        check_shape("R", self.R, (3, 3))
        check_shape("t", self.t, (3,))
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera width and height must be positive, got {self.width}x{self.height}")

    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """``[..., 3]`` world points -> ``[..., 3]`` camera-frame points (metres)."""
        return points @ self.R.T.to(points) + self.t.to(points)

    def project(self, points_cam: torch.Tensor) -> torch.Tensor:
        """``[..., 3]`` camera-frame points -> ``[..., 2]`` pixel coordinates (u, v)."""
        uvw = points_cam @ self.K.T.to(points_cam)
        return uvw[..., :2] / uvw[..., 2:3].clamp_min(1e-9)

    @property
    def center(self) -> torch.Tensor:
        """``[3]`` camera centre in the world frame."""
        return -self.R.T @ self.t


@dataclass(frozen=True)
class BodyParams:
    """Parameters of a body model (any backend).

    Attributes:
        shape: ``[B, S]`` shape coefficients: Anny phenotypes in [0, 1] (gender, age, muscle,
            weight, height, proportions), or SMPL-X betas.
        pose: ``[B, J, 3, 3]`` local joint rotations relative to the rest pose, expressed in
            world-aligned axes (so the identity is the rest pose), for the backend's
            ``pose_joint_names`` (J of them, the root excluded).
        global_orient: ``[B, 3, 3]`` rotation of the whole body about its pelvis, world frame.
        transl: ``[B, 3]`` translation in metres added after the rotation.
    """

    shape: torch.Tensor
    pose: torch.Tensor
    global_orient: torch.Tensor
    transl: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.shape.shape[0]


@dataclass(frozen=True)
class BodyOutput:
    """What a body model computes, in the world frame (metres).

    Attributes:
        vertices: ``[B, V, 3]`` posed vertices.
        faces: ``[F, 3]`` int64 triangles (shared by the batch).
        joints: ``[B, J, 3]`` posed joint positions of the model's own skeleton.
        joint_transforms: ``[B, J, 4, 4]`` skinning transforms: rest-space point -> posed point.
        smpl22: ``[B, 22, 3]`` the SMPL-22 named joints (see core.joints.SMPL22).
        coco17: ``[B, 17, 3]`` the COCO-17 keypoints (surface landmarks).
        rest_vertices: ``[B, V, 3]`` the bind-pose mesh (same placement as the body at rest) that
            ``joint_transforms`` map to ``vertices``; for the mesh at identity pose, evaluate
            the model with identity pose.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    joints: torch.Tensor
    joint_transforms: torch.Tensor
    smpl22: torch.Tensor
    coco17: torch.Tensor
    rest_vertices: torch.Tensor


@dataclass(frozen=True)
class Observations:
    """What perception saw in one image.

    Attributes:
        image: ``[H, W, 3]`` uint8 RGB, EXIF orientation applied.
        keypoint_names: names of the K keypoints (COCO17, then hands/face where present).
        keypoints: ``[K, 2]`` pixel coordinates (u, v).
        confidence: ``[K]`` in [0, 1]; 0 = not seen.
        mask: ``[H, W]`` float person probability in [0, 1].
        bbox: (u_min, v_min, u_max, v_max) of the person in pixels.
        world_landmarks: ``[K, 3]`` optional metric 3D landmarks from the detector (camera-aligned).
        warnings: human-readable notes (low confidence, truncation, ...).
    """

    image: torch.Tensor
    keypoint_names: tuple[str, ...]
    keypoints: torch.Tensor
    confidence: torch.Tensor
    mask: torch.Tensor
    bbox: tuple[float, float, float, float]
    world_landmarks: torch.Tensor | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FitResult:
    """A body fitted to one image.

    Attributes:
        params: the fitted BodyParams (batch 1).
        output: the body evaluated at ``params`` (world frame).
        camera: the camera the fit used.
        keypoint_error_px: per-keypoint 2D residual in pixels.
        silhouette_iou: IoU of the rendered body and the person mask.
        warnings: human-readable notes.
    """

    params: BodyParams
    output: BodyOutput
    camera: Camera
    keypoint_error_px: dict[str, float] = field(default_factory=dict)
    silhouette_iou: float = 0.0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Motion:
    """A motion clip on a skeleton.

    Attributes:
        fps: frames per second.
        skeleton: the skeleton the rotations apply to (usually the canonical SMPL-22).
        local_rotations: ``[T, J, 4]`` unit quaternions (w, x, y, z), each joint's rotation
            relative to its rest orientation, in world-aligned axes.
        root_translation: ``[T, 3]`` root (pelvis) position in the world frame, metres.
        contacts: ``[T, 2]`` bool foot contacts (left, right), or None.
    """

    fps: float
    skeleton: Skeleton
    local_rotations: torch.Tensor
    root_translation: torch.Tensor
    contacts: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        check_shape("local_rotations", self.local_rotations, ("T", self.skeleton.num_joints, 4))
        check_shape("root_translation", self.root_translation, (self.local_rotations.shape[0], 3))
        if self.contacts is not None:
            check_shape("contacts", self.contacts, (self.local_rotations.shape[0], 2))

    @property
    def num_frames(self) -> int:
        return self.local_rotations.shape[0]

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps


@dataclass(frozen=True)
class AvatarData:
    """A rigged, textured avatar ready to pose and export.

    Attributes:
        mesh: the rest-pose mesh (world frame, feet on y = 0), with UVs and texture.
        skeleton: the rig (names per the chosen rig convention), rest pose matching ``mesh``.
        skin: skinning weights of ``mesh`` vertices onto ``skeleton`` joints.
        body_model: "anny" or "smplx".
        params: the body parameters that produced it.
    """

    mesh: Mesh
    skeleton: Skeleton
    skin: SkinWeights
    body_model: str
    params: BodyParams | None = None


@dataclass(frozen=True)
class DescriptionUnderstanding:
    """What a free-text description of a person was understood to mean (encoder input, echoed
    in result.json).  Every attribute is None when the text did not say it (or said it in a
    contradictory way, which adds a warning).

    Attributes:
        text: the description as given (possibly cut to a maximum length).
        language: "en", "ko", "mixed", "other" or "" (empty text).
        sex: "male" or "female".
        age_years: age in years (a decade's middle for "in his sixties" / "60대").
        height: "very short", "short", "average", "tall" or "very tall".
        height_m: an explicit standing height in metres ("180 cm", "5'11\"", "키 175").
        weight: "slim", "average" or "heavy".
        muscle: "low", "average" or "muscular".
        confidence: in [0, 1]; 0 = ignored (empty, nonsense, not understood), lower for
            partial understanding, contradictions or a match by embedding instead of by word.
        method: "keywords", "embedding" or "none".
        warnings: human-readable notes (contradictions, unknown language, cut text, ...).
    """

    text: str = ""
    language: str = ""
    sex: str | None = None
    age_years: float | None = None
    height: str | None = None
    height_m: float | None = None
    weight: str | None = None
    muscle: str | None = None
    confidence: float = 0.0
    method: str = "none"
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """The understood attributes and the confidence, for result.json (JSON-ready)."""
        out: dict = {"text": self.text, "language": self.language}
        for name in ("sex", "age_years", "height", "height_m", "weight", "muscle"):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 3) if isinstance(value, float) else value
        out["confidence"] = round(float(self.confidence), 3)
        out["method"] = self.method
        out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class BodyPrior:
    """What the multimodal encoder predicts for one person in one photo, each value with an
    uncertainty (one standard deviation); the fitter starts from it and keeps near it, weighted by
    the inverse variances.

    Frames: ``global_orient`` and ``root_position`` follow the fitter's world frame and camera
    (``avatar3d.fitting.fitter``: camera at the origin looking along world -Z,
    ``R = FRONT_CAMERA_ROTATION``, ``t = 0``); ``root_position`` is also given in the OpenCV
    camera frame of the photo as ``root_camera``.  Rotations are 3x3 matrices.

    Attributes:
        shape: ``[S]`` body-model shape values (Anny phenotypes in [0, 1], ``shape_names``).
        shape_sigma: ``[S]`` standard deviation of each shape value (same units).
        body_pose: ``[21, 3, 3]`` local rotations of SMPL-22 joints 1..21 (canonical convention
            of :mod:`avatar3d.core.kinematics`: relative to the parent, world-aligned axes,
            identity = rest pose).
        pose_sigma: ``[21]`` standard deviation of each joint's rotation angle (radians).
        global_orient: ``[3, 3]`` rotation of the body about its pelvis, fitter world frame.
        orient_sigma: standard deviation of the orientation's angle (radians).
        root_camera: ``[3]`` SMPL pelvis joint position in the OpenCV camera frame (metres).
        depth: pelvis depth ``root_camera[2]`` in metres (along the optical axis).
        depth_sigma: standard deviation of ``depth`` (metres).
        height_m: standing height of the body (metres).
        height_sigma: its standard deviation (metres).
        shape_names: names of the ``S`` shape values.
        description: what the text description was understood to mean, or None (no text).
        warnings: human-readable notes (description ignored or down-weighted, ...).
        keypoints3d: ``[K, 3]`` the person's 3D keypoints (``keypoint_names``), metres relative
            to the hip midpoint in camera-aligned axes (OpenCV: x right, y down, z away), or None.
        keypoints3d_sigma: ``[K]`` standard deviation of each keypoint's position (metres).
        keypoint_names: names of the ``K`` keypoints.
    """

    shape: torch.Tensor
    shape_sigma: torch.Tensor
    body_pose: torch.Tensor
    pose_sigma: torch.Tensor
    global_orient: torch.Tensor
    orient_sigma: float
    root_camera: torch.Tensor
    depth: float
    depth_sigma: float
    height_m: float
    height_sigma: float
    shape_names: tuple[str, ...] = ()
    description: DescriptionUnderstanding | None = None
    warnings: tuple[str, ...] = ()
    keypoints3d: torch.Tensor | None = None
    keypoints3d_sigma: torch.Tensor | None = None
    keypoint_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_shape("shape", self.shape, ("S",))
        if self.keypoints3d is not None:
            check_shape("keypoints3d", self.keypoints3d, (len(self.keypoint_names), 3))
            if self.keypoints3d_sigma is None:
                raise ValueError("keypoints3d needs keypoints3d_sigma")
            check_shape("keypoints3d_sigma", self.keypoints3d_sigma, (len(self.keypoint_names),))
        check_shape("shape_sigma", self.shape_sigma, (self.shape.shape[0],))
        check_shape("body_pose", self.body_pose, (21, 3, 3))
        check_shape("pose_sigma", self.pose_sigma, (21,))
        check_shape("global_orient", self.global_orient, (3, 3))
        check_shape("root_camera", self.root_camera, (3,))
        if self.shape_names and len(self.shape_names) != self.shape.shape[0]:
            raise ValueError(f"shape_names has {len(self.shape_names)} names for {self.shape.shape[0]} shape values")
        for name in ("orient_sigma", "depth_sigma", "height_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.depth > 0:
            raise ValueError(f"depth must be positive (in front of the camera), got {self.depth}")
