"""Staged body fitting to one photo (SMPLify-X style), through our differentiable rasteriser.

World frame of a fit: Y up, the camera at the origin looking along world -Z
(``R = FRONT_CAMERA_ROTATION``, ``t = 0``), so a person facing the camera has a near-identity
``global_orient``.  Stages:

A. facing and depth: for each facing candidate (front, and the 180-degree flip), an analytic
   pose from the detector's 3D landmarks, a closed-form translation from the 2D keypoints
   (linear least squares), then a short joint optimisation of orientation, translation and
   pose on the keypoints; the candidate with the lower loss wins (front/back ambiguity).
B. body: pose, shape, orientation and translation on robust confidence-weighted 2D keypoints,
   the person mask (soft silhouette through ``ops.antialias`` on a crop around the person),
   3D landmark directions, a pose prior learned from mocap, and shape and upright priors.
C. hands (body models with ``hand_keypoints``, e.g. Anny): finger and wrist rotations on the
   detector's 21 landmarks per seen hand, robust and confidence-weighted, with the rest of the
   body held and a small prior keeping ambiguous fingers relaxed.
D. head: neck and head rotations on the face keypoints (nose, eyes, ears), measured against the
   face's own size in the photo, the rest held.

With an encoder :class:`~avatar3d.core.BodyPrior` (``fit_body(..., body_prior=...)``), stage A
starts from the prior's shape, pose and orientation (plus the flipped facing only when the
prior is unsure of it) and from its 3D keypoints, which replace the detector's landmarks in the
direction term (the encoder read those landmarks and corrects them); the shape prior becomes
the encoder's (weighted by its sigmas), and both stages run the ``FitConfig.prior_*_iterations``
schedule.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from avatar3d.body.base import BodyModel, identity_params
from avatar3d.core import BodyOutput, BodyParams, BodyPrior, Camera, FitResult, Observations
from avatar3d.core.frames import FRONT_CAMERA_ROTATION, frame_matrix
from avatar3d.core.joints import COCO17, HAND21, SMPL22
from avatar3d.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle, rotation_about_axis
from avatar3d.fitting import terms
from avatar3d.fitting.initialise import pose_from_landmarks
from avatar3d.render import rasterize_world, soft_silhouette
from avatar3d.render.crop import person_crop
from avatar3d.core.geometry import vertex_normals

log = logging.getLogger(__name__)

#: A pose prior: ``[B, 21, 3, 3]`` local rotations of SMPL joints 1..21 -> ``[B]`` penalty.
PosePriorFn = Callable[[torch.Tensor], torch.Tensor]

#: At most this many mask-contour points in the cover term (cost: points x contour vertices).
MAX_CONTOUR_POINTS = 800
#: Vertices with |normal . view| below this lie on the body's contour generator.
CONTOUR_COS = 0.3
#: Relative weight of the 3D direction of a bone the detector did not see (its guess).
OCCLUDED_DIRECTION_WEIGHT = 0.3
#: Detector 3D bones used by the direction term (COCO names).
DIRECTION_BONES = (
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_hip", "left_hip"),
    ("right_shoulder", "left_shoulder"),
)


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit_body` (weights are relative; keypoint errors are normalised by the
    person's bbox diagonal, so they do not depend on the photo's resolution)."""

    orient_iterations: int = 30
    body_iterations: int = 90
    learning_rate: float = 0.03
    #: Side of the square crop around the person the silhouette is compared on: about the
    #: person's size in a typical photo, so the mask is used at its own resolution (synth_dev,
    #: 24 photos: 128 px -> IoU 0.848, 256 -> 0.873, 384 -> 0.883, 512 -> 0.891 at the same
    #: fitting time - the rasteriser's cost is in the triangles, not the pixels).
    silhouette_size: int = 512
    keypoint_weight: float = 1.0
    #: With the ramp below, 0.15 -> 1.2 moved synth_dev (24 photos, 512 px) from PA-MPJPE
    #: 56.1 mm / IoU 0.891 to 55.0 mm / 0.916.
    silhouette_weight: float = 1.2
    #: Fraction of the body stage over which the silhouette term's weight grows linearly from 0
    #: to ``silhouette_weight``: at full strength from the start it pulls limbs the keypoints
    #: have not placed yet into wrong local minima (an arm stuck over the torso, crossed legs;
    #: weight 0.6 without a ramp: 58.7 mm / 0.895, with 0.5: 55.4 mm / 0.912).
    silhouette_ramp: float = 0.5
    #: Weight of mask pixels the body does not cover, relative to body pixels outside the mask
    #: (clothes and hair make the mask bigger than the body).
    uncovered_weight: float = 0.5
    #: Long-range mask terms (in units of the person's size): vertices inside the mask, and the
    #: body's contour reaching the mask's contour.
    inside_weight: float = 2.0
    cover_weight: float = 1.0
    #: Weight of the 3D bone-direction term: with the detector's landmarks, and with the
    #: encoder's 3D keypoints (which replace them when a BodyPrior carries them; they are
    #: closer to the truth - PA-MPJPE 57 vs 68 mm on synth_dev - so they may steer harder).
    direction_weight: float = 0.1
    encoder_direction_weight: float = 1.0
    pose_prior_weight: float = 0.0005
    #: rad^2 added to the mocap prior's covariances (see PosePrior.load).
    pose_prior_covariance_floor: float = 0.05
    angle_prior_weight: float = 0.002
    shape_prior_weight: float = 0.002
    upright_weight: float = 0.01
    robust_sigma: float = 0.5
    min_confidence: float = 0.3
    try_both_facings: bool = True
    #: With an encoder :class:`~avatar3d.core.BodyPrior` these iterations replace
    #: ``orient_iterations`` / ``body_iterations``.  The default keeps the full schedule: the
    #: short one (10 / 40, configs/create/fast.yaml) fits ~2x faster at a slightly higher error
    #: (synth_dev, 24 photos: PA-MPJPE 56.6 vs 54.8 mm, IoU 0.89 vs 0.91), and (measured with
    #: an earlier encoder) put a wrist 50-80 px off on the bundled sample in 2 of 6 trials
    #: under 1 px keypoint noise.
    prior_orient_iterations: int = 30
    prior_body_iterations: int = 90
    #: Weights of the encoder prior terms: squared deviations in units of the encoder's sigmas,
    #: means over values - of the shape (phenotypes), and of the pose (joint and orientation
    #: angles).  The pose term is off by default: on synth_dev the encoder's pose alone is
    #: ~95 mm PA-MPJPE, worse than what the keypoints give, and holding the fit near it cost
    #: accuracy; the encoder's pose and orientation only start the fit.
    encoder_prior_weight: float = 0.002
    encoder_pose_weight: float = 0.0
    #: Weight of the body's standing height against the prior's ``height_m`` in units of its
    #: ``height_sigma`` (metres), on top of the shape term above: every phenotype moves the
    #: stature (age, gender and proportions too, not only ``height``), so this term holds the
    #: height itself.  With a height the description states ("176 cm", sigma ~2 cm) it keeps
    #: the fit there against the silhouette; the photo's own estimate (sigma ~7 cm) pulls ~12x
    #: less.  synth_dev, short schedule: height error with a true description 2.77 cm (3.55
    #: without this term; 6.64 with no description); 0.01 and 0.05 scored alike.
    encoder_height_weight: float = 0.05
    #: Floor of ``height_sigma`` in that term, metres.
    encoder_height_sigma_floor: float = 0.01
    #: Also start candidates from the detector's 3D landmarks (both facings); the orientation
    #: stage keeps the best of them and the encoder's own start.
    encoder_landmark_candidates: bool = True
    #: Start a candidate from the encoder's own pose and orientation (False: only its shape is
    #: used, with the landmark candidates).
    encoder_pose_start: bool = True
    #: Floors of the encoder's sigmas (phenotype units; radians): a confident encoder never
    #: freezes a value the photo says otherwise about.
    encoder_shape_sigma_floor: float = 0.03
    encoder_pose_sigma_floor: float = 0.15
    encoder_orient_sigma_floor: float = 0.1
    #: Above this orientation sigma (radians) the flipped facing is tried as well.
    encoder_flip_sigma: float = 0.6
    #: Stage C (hands), for body models with hand keypoints: finger and wrist rotations on the
    #: detector's 21 hand landmarks per hand (0 iterations: fingers stay at rest).
    hand_iterations: int = 40
    hand_learning_rate: float = 0.05
    #: Robust scale of the hand term as a fraction of the hand's size in the photo (wrist to
    #: middle-finger knuckle).
    hand_robust_sigma: float = 0.5
    #: Weights of the finger and the wrist-correction rotations' squared angles (rad^2): hold
    #: fingers the landmarks leave ambiguous (depth, occlusion) near the relaxed rest pose.
    finger_prior_weight: float = 0.02
    wrist_prior_weight: float = 0.005
    #: Head stage: neck and head rotations on the face keypoints (nose, eyes, ears), measured
    #: against the face's size in the photo (0 iterations: the body stage's head is kept).
    head_iterations: int = 30
    head_learning_rate: float = 0.03
    head_robust_sigma: float = 0.3
    #: Weight of the corrections' squared angles (rad^2).  synth_dev (24 photos), mean head
    #: rotation error: 17.8 deg without the stage; weight 0.01: 15.3, 0.05: 14.1, 0.2: 12.5,
    #: 1.0: 14.6 (detected face points are noisy at the face's scale: small turns only).
    head_prior_weight: float = 0.2


@dataclass
class _Variables:
    """The optimiser's variables for a batch of candidates."""

    shape_raw: torch.Tensor  # [B, S] (Anny: logits of the phenotypes; SMPL-X: betas)
    body: torch.Tensor  # [B, 21, 3] axis-angle of SMPL joints 1..21
    orient_base: torch.Tensor  # [B, 3, 3] fixed
    orient_delta: torch.Tensor  # [B, 3] axis-angle applied after orient_base
    transl: torch.Tensor  # [B, 3] world metres

    def trainable(self) -> list[torch.Tensor]:
        return [self.shape_raw, self.body, self.orient_delta, self.transl]

    def select(self, index: int) -> "_Variables":
        pick = lambda t: t[index:index + 1].detach().clone()  # noqa: E731
        return _Variables(*(pick(getattr(self, f.name)) for f in dataclasses.fields(self)))


class _Problem:
    """Binds a body model to one photo's observations: builds params and evaluates the loss."""

    def __init__(self, model: BodyModel, obs: Observations, camera: Camera, config: FitConfig,
                 pose_prior: PosePriorFn | None, body_prior: BodyPrior | None = None) -> None:
        self.model, self.obs, self.camera, self.config, self.pose_prior = model, obs, camera, config, pose_prior
        self.body_prior = body_prior
        self.dtype = model.dtype
        model_names = tuple(getattr(model, "surface_keypoint_names", COCO17))
        pairs = [(i, model_names.index(n)) for i, n in enumerate(obs.keypoint_names) if n in model_names]
        self.obs_index = torch.tensor([p[0] for p in pairs])
        self.model_index = torch.tensor([p[1] for p in pairs])
        self.model_names = model_names
        conf = obs.confidence[self.obs_index].to(self.dtype)
        self.confidence = torch.where(conf >= config.min_confidence, conf, torch.zeros_like(conf))
        self.observed = obs.keypoints[self.obs_index].to(self.dtype)
        u0, v0, u1, v1 = obs.bbox
        self.scale_px = max(math.hypot(u1 - u0, v1 - v0), 1.0)
        self._setup_silhouette()
        self._setup_directions()
        self.stature_offset = _stature_offset(model, body_prior) if config.encoder_height_weight > 0 else None

    def _setup_silhouette(self) -> None:
        crop = person_crop(self.camera, self.obs.mask, self.obs.bbox, self.config.silhouette_size, self.dtype)
        self.crop_camera, self.crop_mask, self.valid = crop.camera, crop.mask, crop.valid
        # long-range mask terms: distance outside the mask, and points on the mask's contour
        from scipy.ndimage import binary_erosion, distance_transform_edt

        mask = self.obs.mask.detach().cpu().numpy() > 0.5
        self.outside_distance = torch.as_tensor(distance_transform_edt(~mask), dtype=self.dtype)
        edge = mask & ~binary_erosion(mask)
        # contour points where the photo ends are not the person's outline
        edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = False
        rows, cols = edge.nonzero()
        points = torch.from_numpy(np.stack((cols + 0.5, rows + 0.5), axis=1)).to(self.dtype)
        if len(points) > MAX_CONTOUR_POINTS:
            points = points[torch.linspace(0, len(points) - 1, MAX_CONTOUR_POINTS).long()]
        self.mask_contour = points

    def _setup_directions(self) -> None:
        wl = self.obs.world_landmarks
        self.direction_targets = None
        self.directions_from_encoder = self.body_prior is not None and self.body_prior.keypoints3d is not None
        if wl is None:
            return
        names = self.obs.keypoint_names
        bones, weights = [], []
        for a, b in DIRECTION_BONES:
            if a in names and b in names and a in self.model_names and b in self.model_names:
                ia, ib = names.index(a), names.index(b)
                c = float(min(self.obs.confidence[ia], self.obs.confidence[ib]))
                # occluded bones keep a floor weight: the detector's 3D guess is still informative
                bones.append((self.model_names.index(a), self.model_names.index(b)))
                weights.append(max(c, OCCLUDED_DIRECTION_WEIGHT))
        if not bones:
            return
        # detector landmarks are in camera-aligned axes: rotate them into the fit's world frame
        R = self.camera.R.to(self.dtype)
        targets = torch.zeros(len(self.model_names), 3, dtype=self.dtype)
        for k, n in enumerate(self.model_names):
            if n in names:
                targets[k] = R.T @ wl[names.index(n)].to(self.dtype)
        self.direction_targets = targets
        self.direction_bones = torch.tensor(bones)
        self.direction_weights = torch.tensor(weights, dtype=self.dtype)

    # ------------------------------------------------------------------ params
    def shape_of(self, v: _Variables) -> torch.Tensor:
        return torch.sigmoid(v.shape_raw) if self.model.name == "anny" else v.shape_raw

    def params_of(self, v: _Variables) -> BodyParams:
        b = v.body.shape[0]
        local = axis_angle_to_matrix(v.body)
        pose = torch.eye(3, dtype=self.dtype).expand(b, len(self.model.pose_joint_names), 3, 3).clone()
        pose[:, list(self.model.smpl22_pose_slots)] = local
        orient = v.orient_base @ axis_angle_to_matrix(v.orient_delta)
        return BodyParams(shape=self.shape_of(v), pose=pose, global_orient=orient, transl=v.transl)

    def keypoints3d(self, out: BodyOutput) -> torch.Tensor:
        fn = getattr(self.model, "surface_keypoints", None)
        return fn(out.vertices) if fn is not None else out.coco17

    def project(self, points_world: torch.Tensor) -> torch.Tensor:
        return self.camera.project(self.camera.world_to_camera(points_world))

    # ------------------------------------------------------------------ loss
    def loss(self, v: _Variables, use_silhouette: bool, silhouette_scale: float = 1.0) -> tuple[torch.Tensor, BodyOutput]:
        cfg = self.config
        params = self.params_of(v)
        out = self.model.forward(params)
        keypoints = self.keypoints3d(out)
        total = cfg.keypoint_weight * terms.reprojection_loss(
            self.project(keypoints[:, self.model_index]), self.observed, self.confidence, cfg.robust_sigma * self.scale_px,
            self.scale_px)
        if self.direction_targets is not None:
            weight = cfg.encoder_direction_weight if self.directions_from_encoder else cfg.direction_weight
            total = total + weight * terms.direction_loss(
                keypoints, self.direction_targets, self.direction_bones, self.direction_weights)
        local = axis_angle_to_matrix(v.body)
        if self.pose_prior is not None:
            total = total + cfg.pose_prior_weight * self.pose_prior(local)
        total = total + cfg.angle_prior_weight * terms.angle_prior(v.body)
        if self.body_prior is not None:  # it also holds the shape, in place of the generic shape prior
            total = total + _encoder_prior_term(self, params, local, out.rest_vertices)
        elif self.model.name == "anny":
            total = total + cfg.shape_prior_weight * terms.shape_prior(params.shape)
        if self.model.name != "anny":
            total = total + cfg.shape_prior_weight * (params.shape ** 2).mean(-1)
        # people in photos mostly stand upright: the body's up axis near world up
        up = params.global_orient[:, :, 1]
        total = total + cfg.upright_weight * (1.0 - up[:, 1])
        if use_silhouette:
            sil = soft_silhouette(rasterize_world(out.vertices, self.model.faces, self.crop_camera))
            total = total + silhouette_scale * cfg.silhouette_weight * terms.silhouette_loss(sil, self.crop_mask, self.valid, cfg.uncovered_weight)
            projected = self.project(out.vertices)
            total = total + cfg.inside_weight * terms.inside_mask_loss(projected, self.outside_distance, self.scale_px)
            if len(self.mask_contour) and cfg.cover_weight > 0:
                normals = vertex_normals(out.vertices, self.model.faces)
                view = torch.nn.functional.normalize(self.camera.center.to(out.vertices) - out.vertices, dim=-1)
                contour = ((normals * view).sum(-1).abs() < CONTOUR_COS)[0].detach()
                total = total + cfg.cover_weight * terms.contour_cover_loss(projected[:, contour], self.mask_contour, self.scale_px)
        return total, out


@torch.no_grad()
def _stature_offset(model: BodyModel, prior: BodyPrior | None) -> float | None:
    """Metres from the top of the body's bind mesh (``BodyOutput.rest_vertices``, which every
    forward returns) to its standing height (the top of the head above the floor), at the
    prior's shape: the fitter's height term then reads the stature off the forward it already
    ran (a few mm apart, nearly constant over shapes; every phenotype moves the stature, and
    age does so non-linearly).  None for body models without ``standing_height``."""
    if prior is None or model.name != "anny" or not hasattr(model, "standing_height"):
        return None
    if prior.shape.shape[0] != len(getattr(model, "shape_names", ())):
        return None
    shape = prior.shape.to(model.dtype)[None]
    top = model.forward(identity_params(1, len(model.pose_joint_names), shape)).rest_vertices[0, :, 1].max()
    return float(model.standing_height(shape)[0] - top)


def _encoder_prior_term(problem: _Problem, params: BodyParams, local: torch.Tensor,
                        rest_vertices: torch.Tensor | None = None) -> torch.Tensor:
    """``[B]`` encoder prior: squared deviations from the :class:`BodyPrior` in units of its
    sigmas (floored by the config), weighted by the config: shape (Anny phenotypes), the 21 local
    joint rotations and the global orientation (squared angles from the chordal distance,
    ``|R - M|^2 / 2 ~ angle^2``); with ``rest_vertices`` (``BodyOutput.rest_vertices`` of
    ``params``) also the standing height against ``prior.height_m`` in units of its sigma."""
    cfg, prior, dtype = problem.config, problem.body_prior, problem.dtype
    total = params.shape.new_zeros(params.shape.shape[0])
    if problem.model.name == "anny" and prior.shape.shape[0] == params.shape.shape[1]:
        sigma = prior.shape_sigma.to(dtype).clamp_min(cfg.encoder_shape_sigma_floor)
        total = total + cfg.encoder_prior_weight * (((params.shape - prior.shape.to(dtype)) / sigma) ** 2).mean(-1)
        if problem.stature_offset is not None and rest_vertices is not None:
            height = rest_vertices[..., 1].max(-1).values + problem.stature_offset
            h_sigma = max(prior.height_sigma, cfg.encoder_height_sigma_floor)
            total = total + cfg.encoder_height_weight * ((height - prior.height_m) / h_sigma) ** 2
    if cfg.encoder_pose_weight == 0.0:  # the default: the encoder's pose only starts the fit
        return total
    pose_sigma = prior.pose_sigma.to(dtype).clamp_min(cfg.encoder_pose_sigma_floor)
    pose_sq = 0.5 * ((local - prior.body_pose.to(dtype)) ** 2).sum((-1, -2))
    orient_sigma = max(prior.orient_sigma, cfg.encoder_orient_sigma_floor)
    orient_sq = 0.5 * ((params.global_orient - prior.global_orient.to(dtype)) ** 2).sum((-1, -2))
    return total + cfg.encoder_pose_weight * ((pose_sq / pose_sigma ** 2).mean(-1) + orient_sq / orient_sigma ** 2)


def _closed_form_translation(points_world: torch.Tensor, observed: torch.Tensor, confidence: torch.Tensor,
                             camera: Camera) -> torch.Tensor:
    """``[3]`` world translation t minimising the linearised reprojection error of
    ``points_world + t`` (DLT-style least squares in the camera frame)."""
    R, K = camera.R.to(points_world), camera.K.to(points_world)
    X = points_world @ R.T + camera.t.to(points_world)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    du, dv = observed[:, 0] - cx, observed[:, 1] - cy
    zero = torch.zeros_like(du)
    rows_u = torch.stack((fx.expand_as(du), zero, -du), 1)
    rows_v = torch.stack((zero, fy.expand_as(dv), -dv), 1)
    rhs_u = du * X[:, 2] - fx * X[:, 0]
    rhs_v = dv * X[:, 2] - fy * X[:, 1]
    w = confidence.sqrt()
    A = torch.cat((rows_u * w[:, None], rows_v * w[:, None]))
    b = torch.cat((rhs_u * w, rhs_v * w))
    # LAPACK's float32 least squares differs in the last bits from process to process (memory
    # alignment picks its SIMD path), and the fit amplified that into different avatars for the
    # same photo (synth_dev: up to 35 mm PA-MPJPE on one photo). float64, rounded to 1 um.
    t_cam = torch.linalg.lstsq(A.double(), b.double()[:, None]).solution[:, 0]
    t_cam = (torch.round(t_cam * 1e6) / 1e6).to(points_world.dtype)
    if float(t_cam[2]) + float(X[:, 2].mean()) <= 0.3:  # degenerate: put the body 3 m away
        t_cam = torch.tensor([0.0, 0.0, 3.0], dtype=points_world.dtype) - X.mean(0)
    return R.T @ t_cam


def fit_camera(K: torch.Tensor, width: int, height: int) -> Camera:
    """The fit's camera: at the world origin, looking along world -Z (see module docstring)."""
    dtype = K.dtype
    return Camera(K=K, R=frame_matrix(FRONT_CAMERA_ROTATION).to(dtype), t=torch.zeros(3, dtype=dtype), width=width, height=height)


def _initial_variables(problem: _Problem, facings: list[float]) -> _Variables:
    model, obs, dtype = problem.model, problem.obs, problem.dtype
    shape0 = model.default_params(1).shape
    rest = model.forward(model.default_params(1)).smpl22[0].detach()
    names = obs.keypoint_names
    R = problem.camera.R.to(dtype)
    bodies, orients, transls = [], [], []
    for yaw in facings:
        targets: dict[str, torch.Tensor] = {}
        if obs.world_landmarks is not None:
            wl = obs.world_landmarks.to(dtype)
            hip = 0.5 * (wl[names.index("left_hip")] + wl[names.index("right_hip")]) if "left_hip" in names else wl.mean(0)
            for n in COCO17:
                # occluded landmarks too: the detector's 3D guess beats the rest pose
                if n in names and bool(torch.isfinite(wl[names.index(n)]).all()):
                    p = wl[names.index(n)] - hip
                    if yaw != 0.0:  # the mirrored-depth hypothesis: the person faces the other way
                        p = p * torch.tensor([1.0, 1.0, -1.0], dtype=dtype)
                    targets[n] = R.T @ p
        orient, body = pose_from_landmarks(rest, targets)
        if len(targets) < 4:
            orient = rotation_about_axis("y", torch.tensor(yaw, dtype=dtype)).to(dtype)
        bodies.append(body)
        orients.append(orient)
    b = len(facings)
    body = matrix_to_axis_angle(torch.stack(bodies))
    v = _Variables(
        shape_raw=torch.zeros_like(shape0).expand(b, -1).clone() if model.name == "anny" else shape0.expand(b, -1).clone(),
        body=body, orient_base=torch.stack(orients), orient_delta=torch.zeros(b, 3, dtype=dtype),
        transl=torch.zeros(b, 3, dtype=dtype))
    with torch.no_grad():
        out = model.forward(problem.params_of(v))
        kp3 = problem.keypoints3d(out)[:, problem.model_index]
        for i in range(b):
            transls.append(_closed_form_translation(kp3[i], problem.observed, problem.confidence, problem.camera))
    v.transl = torch.stack(transls)
    return v


@torch.no_grad()
def _with_height_target(model: BodyModel, prior: BodyPrior) -> BodyPrior:
    """The prior with its height phenotype (and sigma) set from its standing height
    ``height_m`` / ``height_sigma`` (which may carry a stated height the network's phenotypes
    do not): Anny's standing height is linear in the height phenotype, so two evaluations give
    the slope.  Other body models, or an Anny shape without a height phenotype: unchanged."""
    names = tuple(getattr(model, "shape_names", ()))
    if model.name != "anny" or "height" not in names or prior.shape.shape[0] != len(names) or not hasattr(model, "standing_height"):
        return prior
    k = names.index("height")
    mu, sigma = prior.shape.clone().to(model.dtype), prior.shape_sigma.clone()
    probe = mu[None].repeat(2, 1)
    probe[1, k] = mu[k] + (0.1 if float(mu[k]) < 0.9 else -0.1)
    h = model.standing_height(probe)
    slope = float((h[1] - h[0]) / (probe[1, k] - probe[0, k]))
    if not slope > 0.1:  # metres per unit phenotype; Anny's is ~1.1
        return prior
    mu[k] = (mu[k] + (prior.height_m - float(h[0])) / slope).clamp(0.0, 1.0)
    sigma[k] = prior.height_sigma / slope
    return dataclasses.replace(prior, shape=mu.to(prior.shape.dtype), shape_sigma=sigma)


def _with_encoder_landmarks(obs: Observations, prior: BodyPrior) -> Observations:
    """``obs`` with the encoder's 3D keypoints in place of the detector's world landmarks for
    the names the encoder predicts (it read the detector's landmarks and refined them; on
    synth_dev its limb keypoints are ~12 mm closer to the truth, PA-MPJPE 57 vs 69 mm).  Both
    are hip-centred, camera-aligned metres; other names keep the detector's values (or NaN)."""
    if prior.keypoints3d is None:
        return obs
    names = obs.keypoint_names
    if obs.world_landmarks is not None:
        landmarks = obs.world_landmarks.clone()
    else:
        landmarks = torch.full((len(names), 3), float("nan"), dtype=prior.keypoints3d.dtype)
    for k, name in enumerate(prior.keypoint_names):
        if name in names:
            landmarks[names.index(name)] = prior.keypoints3d[k].to(landmarks.dtype)
    return dataclasses.replace(obs, world_landmarks=landmarks)


def _prior_variables(problem: _Problem, facings: list[float]) -> _Variables:
    """Initial variables from the encoder's :class:`BodyPrior` (one candidate per facing: the
    prior's orientation, and turned by ``yaw`` about world up), translation in closed form."""
    model, prior, dtype = problem.model, problem.body_prior, problem.dtype
    b = len(facings)
    shape0 = model.default_params(1).shape
    if model.name == "anny" and prior.shape.shape[0] == shape0.shape[1]:
        p = prior.shape.to(dtype).clamp(0.02, 0.98)
        shape_raw = torch.log(p / (1.0 - p))[None].expand(b, -1).clone()
    else:
        shape_raw = torch.zeros_like(shape0).expand(b, -1).clone() if model.name == "anny" else shape0.expand(b, -1).clone()
    orient = prior.global_orient.to(dtype)
    orients = [orient if yaw == 0.0 else rotation_about_axis("y", torch.tensor(yaw, dtype=dtype)).to(dtype) @ orient
               for yaw in facings]
    body = matrix_to_axis_angle(prior.body_pose.to(dtype))[None].expand(b, -1, -1).clone()
    v = _Variables(shape_raw=shape_raw, body=body, orient_base=torch.stack(orients),
                   orient_delta=torch.zeros(b, 3, dtype=dtype), transl=torch.zeros(b, 3, dtype=dtype))
    with torch.no_grad():
        out = model.forward(problem.params_of(v))
        kp3 = problem.keypoints3d(out)[:, problem.model_index]
        v.transl = torch.stack([_closed_form_translation(kp3[i], problem.observed, problem.confidence, problem.camera)
                                for i in range(b)])
    landmarks = problem.config.encoder_landmark_candidates and problem.obs.world_landmarks is not None
    if landmarks or not problem.config.encoder_pose_start:
        lm = _initial_variables(problem, [0.0, math.pi])
        lm.shape_raw = shape_raw[:1].expand(lm.shape_raw.shape[0], -1).clone()
        if not problem.config.encoder_pose_start:
            return lm
        v = _Variables(*(torch.cat((getattr(v, f.name), getattr(lm, f.name))) for f in dataclasses.fields(v)))
    return v


def _optimise(problem: _Problem, v: _Variables, iterations: int, use_silhouette: bool, lr: float) -> torch.Tensor:
    for t in v.trainable():
        t.requires_grad_(True)
    optimiser = torch.optim.Adam(v.trainable(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(iterations, 1), eta_min=lr * 0.1)
    loss = None
    ramp = problem.config.silhouette_ramp * iterations
    for step in range(iterations):
        optimiser.zero_grad(set_to_none=True)
        loss, _ = problem.loss(v, use_silhouette, min(1.0, (step + 1) / ramp) if ramp > 0 else 1.0)
        loss.sum().backward()
        optimiser.step()
        scheduler.step()
    with torch.no_grad():
        loss, _ = problem.loss(v, use_silhouette)
    for t in v.trainable():
        t.requires_grad_(False)
    return loss


@dataclass
class _JointTurns:
    """Rotations ``[1, N, 3]`` (axis-angle) composed after a pose's rotations at ``slots`` (pose
    slots of the body model): the variables of the hand and head stages.  Finger slots are at
    rest after the body stage, so there a turn is the finger's whole rotation."""

    slots: tuple[int, ...]
    turns: torch.Tensor

    def apply(self, params: BodyParams) -> BodyParams:
        pose = params.pose.clone()
        slots = list(self.slots)
        pose[:, slots] = pose[:, slots] @ axis_angle_to_matrix(self.turns).to(pose)
        return dataclasses.replace(params, pose=pose)


def _smpl_slots(model: BodyModel, joints: tuple[str, ...]) -> tuple[int, ...]:
    """Pose slots of the bones driven by these SMPL-22 joints (not the pelvis)."""
    return tuple(model.smpl22_pose_slots[SMPL22.index(j) - 1] for j in joints)


def _hand_slots(model: BodyModel) -> tuple[int, ...]:
    """The hand stage's slots: the finger bones, then the left and right wrists."""
    return tuple(model.hand_pose_slots) + _smpl_slots(model, ("left_wrist", "right_wrist"))


def _refine_turns(problem: _Problem, base: BodyParams, slots: tuple[int, ...], prior: torch.Tensor,
                  points: Callable[[BodyOutput], torch.Tensor], observed: torch.Tensor, confidence: torch.Tensor,
                  groups: list[tuple[slice | list[int], float]], robust_sigma: float, iterations: int,
                  learning_rate: float) -> _JointTurns:
    """Turns at ``slots`` of ``base`` fitted to 2D keypoints, the rest of the body held.

    ``points(out)`` gives the model's ``[B, K, 3]`` keypoints, matched to ``observed [K, 2]``
    pixels with ``confidence [K]``; each group (rows, size in pixels) is one robust
    reprojection term measured against its own size (a hand, the face), so a small part is
    fitted at its own scale.  ``prior [N]`` weighs each turn's squared angle (rad^2)."""
    turns = _JointTurns(slots, torch.zeros(1, len(slots), 3, dtype=problem.dtype, requires_grad=True))
    optimiser = torch.optim.Adam([turns.turns], lr=learning_rate)
    for _ in range(iterations):
        optimiser.zero_grad(set_to_none=True)
        projected = problem.project(points(problem.model.forward(turns.apply(base))))
        loss = (prior * turns.turns.square().sum(-1)).sum(-1)
        for rows, size in groups:
            loss = loss + terms.reprojection_loss(projected[:, rows], observed[rows], confidence[rows],
                                                  robust_sigma * size, size)
        loss.sum().backward()
        optimiser.step()
    return _JointTurns(slots, turns.turns.detach())


#: The pose model's coarse hand points (always detected with the body), standing in for a
#: hand the hand model did not find: they still orient the palm.
COARSE_HAND_POINTS = {"wrist": "wrist", "index_mcp": "index", "pinky_mcp": "pinky", "thumb_mcp": "thumb"}
#: A hand with fewer confident points than this is left as the body stage posed it.
MIN_HAND_POINTS = 3


def _hand_targets(problem: _Problem) -> tuple[torch.Tensor, torch.Tensor, list[float]] | None:
    """Observed ``[42, 2]`` hand landmarks, their confidences ``[42]`` and each hand's size in
    pixels; None when the model has no hand keypoints or no hand was seen.  A hand the hand
    model missed gets the pose model's wrist, index, pinky and thumb points."""
    names = getattr(problem.model, "hand_keypoint_names", None)
    obs, cfg = problem.obs, problem.config
    if not names or cfg.hand_iterations <= 0:
        return None
    per_hand = len(names) // 2
    observed = torch.zeros(len(names), 2, dtype=problem.dtype)
    confidence = torch.zeros(len(names), dtype=problem.dtype)
    def take(k: int, name: str) -> None:
        if name in obs.keypoint_names:
            r = obs.keypoint_names.index(name)
            observed[k] = obs.keypoints[r].to(problem.dtype)
            confidence[k] = float(obs.confidence[r]) if float(obs.confidence[r]) >= cfg.min_confidence else 0.0
    for k, name in enumerate(names):
        take(k, name)
    sizes = []
    for h in range(2):
        part = slice(h * per_hand, (h + 1) * per_hand)
        if float(confidence[part].sum()) == 0.0:
            side = names[h * per_hand].split("_hand_")[0]
            for joint, coarse in COARSE_HAND_POINTS.items():
                take(names.index(f"{side}_hand_{joint}"), f"{side}_{coarse}")
        if int((confidence[part] > 0).sum()) < MIN_HAND_POINTS:  # too few to orient a hand
            confidence[part] = 0.0
        knuckles = [HAND21.index(n) for n in ("index_mcp", "middle_mcp", "pinky_mcp")]
        reach = [float((observed[h * per_hand + k] - observed[h * per_hand]).norm()) for k in knuckles
                 if confidence[h * per_hand + k] > 0 and confidence[h * per_hand] > 0]
        sizes.append(max(reach + [0.01 * problem.scale_px]))
    if float(confidence.sum()) <= 0.0:
        return None
    return observed, confidence, sizes


def _fit_hands(problem: _Problem, base: BodyParams) -> _JointTurns | None:
    """Stage C: finger and wrist turns (:func:`_hand_slots`) on the 2D hand landmarks, each
    hand at its own size; None when there is nothing to fit."""
    targets = _hand_targets(problem)
    if targets is None:
        return None
    observed, confidence, sizes = targets
    cfg, model = problem.config, problem.model
    fingers = len(model.hand_pose_slots)
    prior = torch.cat((torch.full((fingers,), cfg.finger_prior_weight / fingers),
                       torch.full((2,), cfg.wrist_prior_weight / 2))).to(problem.dtype)
    per_hand = observed.shape[0] // 2
    hands = [(slice(h * per_hand, (h + 1) * per_hand), size) for h, size in enumerate(sizes)
             if float(confidence[h * per_hand:(h + 1) * per_hand].sum()) > 0.0]
    return _refine_turns(problem, base, _hand_slots(model), prior, model.hand_keypoints, observed, confidence,
                         hands, cfg.hand_robust_sigma, cfg.hand_iterations, cfg.hand_learning_rate)


#: The face keypoints of the head stage, and the SMPL joints it turns.
FACE_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
HEAD_JOINTS = ("neck", "head")


def _fit_head(problem: _Problem, base: BodyParams) -> _JointTurns | None:
    """Stage D: neck and head turns on the face keypoints, measured against the face's own size
    in the photo (in the body stage they count like any keypoint, relative to the whole person,
    so the head's turn is loose); None without three confident face points."""
    cfg = problem.config
    if cfg.head_iterations <= 0:
        return None
    names = [problem.model_names[int(m)] for m in problem.model_index]
    rows = [names.index(n) for n in FACE_POINTS if n in names]
    confidence = problem.confidence[rows]
    if int((confidence > 0).sum()) < 3:
        return None
    observed = problem.observed[rows]
    seen = observed[confidence > 0]
    size = max(float(torch.cdist(seen, seen).max()), 0.01 * problem.scale_px)
    model_rows = problem.model_index[rows]
    prior = torch.full((len(HEAD_JOINTS),), cfg.head_prior_weight / len(HEAD_JOINTS), dtype=problem.dtype)
    return _refine_turns(problem, base, _smpl_slots(problem.model, HEAD_JOINTS), prior,
                         lambda out: problem.keypoints3d(out)[:, model_rows], observed, confidence,
                         [(slice(None), size)], cfg.head_robust_sigma, cfg.head_iterations, cfg.head_learning_rate)


def fit_body(model: BodyModel, obs: Observations, K: torch.Tensor, config: FitConfig | None = None,
             pose_prior: PosePriorFn | None = None, body_prior: BodyPrior | None = None) -> tuple[FitResult, dict[str, float]]:
    """Fit ``model`` to one photo's observations. Returns the result and per-stage seconds.

    With ``body_prior`` (the encoder's prediction for this photo and ``K``), the fit starts from
    its shape, pose and orientation (the flipped facing too when its orientation is uncertain),
    keeps near it through a term weighted by its sigmas, and runs the shorter
    ``prior_*_iterations`` schedule.
    """
    config = config or FitConfig()
    timings: dict[str, float] = {}
    h, w = obs.mask.shape
    camera = fit_camera(K.to(model.dtype), w, h)
    if body_prior is not None:
        body_prior = _with_height_target(model, body_prior)
        obs = _with_encoder_landmarks(obs, body_prior)
    problem = _Problem(model, obs, camera, config, pose_prior, body_prior)
    if float(problem.confidence.sum()) < 1.0:
        raise ValueError("too few confident keypoints to fit a body")
    start = time.perf_counter()
    orient_iterations, body_iterations = config.orient_iterations, config.body_iterations
    if body_prior is not None:
        flip = config.try_both_facings and body_prior.orient_sigma > config.encoder_flip_sigma
        facings = [0.0, math.pi] if flip else [0.0]
        v = _prior_variables(problem, facings)
        orient_iterations, body_iterations = config.prior_orient_iterations, config.prior_body_iterations
    else:
        facings = [0.0, math.pi] if config.try_both_facings else [0.0]
        v = _initial_variables(problem, facings)
    losses = _optimise(problem, v, orient_iterations, use_silhouette=False, lr=config.learning_rate)
    best = int(torch.argmin(losses))
    v = v.select(best)
    timings["fit_orient"] = time.perf_counter() - start
    start = time.perf_counter()
    _optimise(problem, v, body_iterations, use_silhouette=True, lr=config.learning_rate)
    timings["fit_body"] = time.perf_counter() - start
    with torch.no_grad():
        params = problem.params_of(v)
    for stage, refine in (("fit_hands", _fit_hands), ("fit_head", _fit_head)):
        start = time.perf_counter()
        turns = refine(problem, params)
        if turns is not None:
            with torch.no_grad():
                params = turns.apply(params)
            timings[stage] = time.perf_counter() - start
    with torch.no_grad():
        out = model.forward(params)
        # the camera looks along world -Z: a body facing it has its forward (+Z) axis towards +Z
        flipped = best == 1 if body_prior is None else bool(params.global_orient[0, 2, 2] < 0)
        result = _report(problem, params, out, facing_flipped=flipped)
    return result, timings


def _report(problem: _Problem, params: BodyParams, out: BodyOutput, facing_flipped: bool) -> FitResult:
    obs, camera = problem.obs, problem.camera
    kp = problem.keypoints3d(out)[0, problem.model_index]
    err = (problem.project(kp) - problem.observed).norm(dim=-1)
    errors = {problem.model_names[int(m)]: float(e) for m, e, c in zip(problem.model_index, err, problem.confidence) if c > 0}
    full = rasterize_world(out.vertices, problem.model.faces, camera)
    iou = terms.hard_iou(full.coverage[0], obs.mask)
    warnings = list(obs.warnings)
    if iou < 0.75:
        warnings.append(f"poor silhouette fit (IoU {iou:.2f}): clothing, hair or occlusion may hide the body shape")
    if errors:
        mean_err = sum(errors.values()) / len(errors)
        if mean_err > 0.05 * problem.scale_px:
            warnings.append(f"poor keypoint fit: mean error {mean_err:.1f} px ({100 * mean_err / problem.scale_px:.0f}% of the person's size)")
    low = [problem.model_names[int(m)] for m, c in zip(problem.model_index, problem.confidence) if float(c) == 0.0 and problem.model_names[int(m)] in COCO17]
    if low:
        warnings.append(f"not seen or low confidence: {', '.join(low)} (guessed from the pose prior)")
    if facing_flipped:
        warnings.append("the person appears to face away from the camera")
    return FitResult(params=params, output=out, camera=camera, keypoint_error_px=errors, silhouette_iou=iou, warnings=tuple(warnings))


__all__ = ["FitConfig", "PosePriorFn", "fit_body", "fit_camera"]
