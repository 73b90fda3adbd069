"""The whole flow in one place: the only module that wires stages together (DESIGN.md section 1).

The CLI and the demo call these functions; each stage takes and returns ``avatar3d.core`` types.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from avatar3d.body import create_body_model
from avatar3d.body.anny_backend import ANNY_PHENOTYPES
from avatar3d.body.base import identity_params
from avatar3d.config import BodyExportConfig, CreateConfig
from avatar3d.core import Mesh
from avatar3d.export.mesh_files import MESH_FORMATS, write_mesh
from avatar3d.utils.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BodyExportResult:
    """What `export_body` wrote: the file, the mesh size and the body's standing height."""

    path: Path
    num_vertices: int
    num_faces: int
    height_m: float
    shape: tuple[float, ...]


def export_body(config: BodyExportConfig, output: str | Path) -> BodyExportResult:
    """Write the rest-pose body described by ``config`` to ``output`` (.glb, .obj or .ply)."""
    output = Path(output)
    if output.suffix.lower().lstrip(".") not in MESH_FORMATS:
        raise UserError(
            f"unsupported output format {output.suffix or '(none)'!r} for {output}",
            f"name the output file with one of: {', '.join('.' + f for f in MESH_FORMATS)}",
        )
    if config.body.model != "anny" and (config.height_m is not None):
        raise UserError("--height is only supported for the Anny body", "drop --height or use --model anny")
    model = create_body_model(config.body)
    values = {"gender": config.gender, "age": config.age, "muscle": config.muscle, "weight": config.weight,
              "proportions": config.proportions, "height": 0.5}
    if config.body.model == "anny":
        for name, value in values.items():
            if not 0.0 <= value <= 1.0:
                raise UserError(f"{name} must be in [0, 1], got {value}", "phenotypes are fractions: 0 = least, 1 = most")
        shape = torch.tensor([[values[n] for n in ANNY_PHENOTYPES]], dtype=model.dtype)
        if config.height_m is not None:
            try:
                shape = model.shape_for_height(config.height_m, shape)
            except ValueError as error:
                raise UserError(str(error), "choose a height in that range or change age/gender") from None
    else:
        shape = model.default_params(1).shape
    params = identity_params(1, len(model.pose_joint_names), shape)
    with torch.no_grad():
        body = model.forward(params)
    mesh = Mesh(vertices=body.vertices[0], faces=model.faces, uvs=model.uvs, face_uvs=model.face_uvs)
    write_mesh(mesh, output)
    height = float(body.vertices[0, :, 1].max())
    log.info("wrote %s (%d vertices, height %.3f m)", output, mesh.vertices.shape[0], height)
    return BodyExportResult(output, mesh.vertices.shape[0], mesh.faces.shape[0], height, tuple(float(v) for v in shape[0]))


# --------------------------------------------------------------------------------------- create
#: Files `create` writes (DESIGN.md section 4).
CREATE_OUTPUTS = ("avatar.glb", "result.json", "body_cam.ply", "overlay.png")
OVERLAY_COLOUR = (0.55, 0.75, 1.0)
OVERLAY_OPACITY = 0.6


@dataclass(frozen=True)
class CreateResult:
    """What `create` made: the output folder, the report written to result.json, and the avatar."""

    output_dir: Path
    report: dict
    avatar: object


def _head_and_hands(model) -> tuple[torch.Tensor, torch.Tensor]:
    """``[V]`` bool masks of head and hand vertices (by skin weight), for appearance rules."""
    names = [n.lower() for n in model.bone_names] if hasattr(model, "bone_names") else []
    dense = torch.zeros(model.skin.indices.shape[0], max(len(names), 1), dtype=torch.float32)
    dense.scatter_add_(1, model.skin.indices, model.skin.weights.float())
    def weight_of(keys: tuple[str, ...]) -> torch.Tensor:
        cols = [i for i, n in enumerate(names) if any(k in n for k in keys)]
        return dense[:, cols].sum(1) if cols else torch.zeros(dense.shape[0])
    head = weight_of(("head", "neck", "eye", "jaw", "tongue")) > 0.5
    hands = weight_of(("wrist", "finger", "metacarpal", "hand", "thumb", "index", "middle", "ring", "pinky")) > 0.5
    return head, hands


def create(image_path: str | Path | None, output_dir: str | Path, config: CreateConfig | None = None,
           overwrite: bool = False, progress=None, prompt: str | None = None, seed: int = 0,
           describe: str | None = None, use_encoder: bool | None = None) -> CreateResult:
    """Photo -> fitted, textured, rigged avatar; writes the DESIGN.md section-4 outputs atomically.

    ``image_path`` None uses the bundled sample photo.  ``progress(stage: str)`` is called as
    each stage starts (for the CLI and the demo).  With ``prompt``, the avatar is also animated
    (the `animate` outputs land in the same folder and avatar.glb carries the animation).
    ``describe`` is an optional text about the person (English or Korean, e.g. "키가 작은 20대
    여성") read by the encoder; what it was understood to mean goes to result.json
    (``description``); bad text only adds a warning.  ``use_encoder`` (None: ``config.use_encoder``)
    starts the fit from the encoder's body prior.
    """
    import json
    import time

    import numpy as np

    from avatar3d.appearance.clothing import fit_clothing_offsets
    from avatar3d.appearance.texture import bake_texture
    from avatar3d.avatar import build_avatar
    from avatar3d.body import BodyConfig
    from avatar3d.core.joints import COCO17
    from avatar3d.export.glb_skinned import write_avatar_glb
    from avatar3d.export.mesh_files import write_ply
    from avatar3d.encoder.describe import default_reader
    from avatar3d.encoder.predict import BodyEncoder
    from avatar3d.fitting.fitter import fit_body
    from avatar3d.fitting.pose_prior import PosePrior
    from avatar3d.perception import detect_person
    from avatar3d.render import intrinsics_from_fov, rasterize_world, shade_lambert
    from avatar3d.render.renderer import overlay
    from avatar3d.utils.atomic import atomic_output_dir, check_output_dir
    from avatar3d.utils.images import load_image, sample_image

    config = config or CreateConfig()
    say = progress or (lambda stage: None)
    timings: dict[str, float] = {}
    output_dir = check_output_dir(output_dir, overwrite)  # fail now, not after the fit
    t0 = time.perf_counter()
    say("loading")
    path = Path(image_path) if image_path is not None else sample_image("astronaut")
    image = load_image(path)
    height, width = image.pixels.shape[:2]
    say("detecting")
    start = time.perf_counter()
    obs = detect_person(image, config.perception)
    timings["perception"] = time.perf_counter() - start
    if config.fov_deg is not None:
        K = intrinsics_from_fov(width, height, config.fov_deg)
    else:
        K = image.intrinsics()
    say("fitting")
    fit_model = create_body_model(BodyConfig(model=config.body.model, rig="anny", smplx_dir=config.body.smplx_dir,
                                             smplx_gender=config.body.smplx_gender, smplx_num_betas=config.body.smplx_num_betas))
    prior = None
    try:
        prior = PosePrior.load(covariance_floor=config.fit.pose_prior_covariance_floor)
    except (UserError, ValueError, FileNotFoundError) as error:
        obs = dataclasses.replace(obs, warnings=obs.warnings + (f"fitted without the mocap pose prior: {error}",))
    body_prior, encoder_report = None, {"used": False}
    if config.use_encoder if use_encoder is None else use_encoder:
        say("encoding")
        start = time.perf_counter()
        try:
            body_prior = BodyEncoder.load(config.encoder_checkpoint).predict(obs, K, describe, reader=default_reader())
            obs = dataclasses.replace(obs, warnings=obs.warnings + body_prior.warnings)
            encoder_report = {"used": True, "height_m": round(body_prior.height_m, 3),
                              "height_sigma_m": round(body_prior.height_sigma, 3), "depth_m": round(body_prior.depth, 3),
                              "shape": dict(zip(body_prior.shape_names, [round(float(x), 3) for x in body_prior.shape]))}
        except UserError as error:
            obs = dataclasses.replace(obs, warnings=obs.warnings + (f"fitted without the encoder: {error}",))
        timings["encoder"] = time.perf_counter() - start
    elif describe is not None:
        obs = dataclasses.replace(obs, warnings=obs.warnings + ("description ignored: the encoder is off (--no-encoder)",))
    say("fitting")
    fit, fit_times = fit_body(fit_model, obs, K, config.fit, pose_prior=prior, body_prior=body_prior)
    timings.update(fit_times)
    posed = fit.output.vertices[0].detach()
    head, hands = _head_and_hands(fit_model)
    offsets = None
    if config.clothing_enabled:
        say("clothing")
        start = time.perf_counter()
        offsets, iou_body, iou_clothed = fit_clothing_offsets(posed, fit_model.faces, fit.camera, obs.mask, obs.bbox,
                                                              protected=head | hands, config=config.clothing)
        timings["clothing"] = time.perf_counter() - start
    say("texturing")
    start = time.perf_counter()
    photo = torch.from_numpy(image.pixels.copy()).to(torch.float32) / 255.0
    rest = fit_model.forward(identity_params(1, len(fit_model.pose_joint_names), fit.params.shape)).vertices[0].detach()
    baked = None
    if fit_model.uvs is not None:
        baked = bake_texture(photo, obs.mask, posed, fit_model.faces, fit_model.uvs, fit_model.face_uvs, fit.camera, rest,
                             head_vertices=head, config=config.texture)
    timings["texture"] = time.perf_counter() - start
    say("exporting")
    start = time.perf_counter()
    export_model = fit_model if config.body.rig == "anny" or config.body.model != "anny" else create_body_model(config.body)
    texture_u8 = None if baked is None else (baked.image * 255).round().to(torch.uint8)
    avatar = build_avatar(export_model, fit.params.shape, texture=texture_u8, offsets=offsets)
    camera = fit.camera
    kp3_world = fit_model.surface_keypoints(fit.output.vertices)[0, :17] if hasattr(fit_model, "surface_keypoints") else fit.output.coco17[0]
    kp3_cam = camera.world_to_camera(kp3_world.detach())
    kp2 = camera.project(kp3_cam)
    body_cam = camera.world_to_camera(posed)
    frags = rasterize_world(fit.output.vertices.detach(), fit_model.faces, camera)
    albedo = torch.tensor(OVERLAY_COLOUR).expand(1, height, width, 3)
    shaded = shade_lambert(frags, fit.output.vertices.detach(), albedo)[0]
    over = overlay(photo, shaded, frags.coverage[0], OVERLAY_OPACITY)
    shape = fit.params.shape[0].tolist()
    report = {
        "image": {"file": str(path), "width": width, "height": height},
        "body_model": config.body.model,
        "rig": config.body.rig,
        "camera": {"K": K.tolist(), "R_world_to_camera": camera.R.tolist(), "t_world_to_camera": camera.t.tolist(),
                   "focal_source": "exif" if (image.exif_focal_35mm and config.fov_deg is None) else "default_fov"},
        "keypoints3d": {n: [float(x) for x in kp3_cam[i]] for i, n in enumerate(COCO17)},
        "keypoints2d": {n: [float(x) for x in kp2[i]] for i, n in enumerate(COCO17)},
        "params": {
            "shape": dict(zip(fit_model.shape_names, shape)),
            "height_m": float(rest[:, 1].max() - rest[:, 1].min()),
            "global_orient": fit.params.global_orient[0].tolist(),
            "transl": fit.params.transl[0].tolist(),
        },
        "fit": {
            "keypoint_error_px": fit.keypoint_error_px,
            "silhouette_iou": fit.silhouette_iou,
            "texture_seen_fraction": None if baked is None else baked.seen_fraction,
            "warnings": list(fit.warnings),
        },
        "timings_s": {},
    }
    report["encoder"] = encoder_report
    if body_prior is not None and body_prior.description is not None:
        report["description"] = body_prior.description.as_dict()
    elif describe is not None:
        report["description"] = {"text": str(describe)[:300], "confidence": 0.0, "method": "none",
                                 "warnings": ["not read: the encoder is off or unavailable"]}
    from PIL import Image

    if prompt is not None and not prompt.strip():
        raise UserError("the prompt is empty", "describe a motion, e.g. 'walk forward 2 meters and wave', or leave --prompt out")
    with atomic_output_dir(output_dir, overwrite=overwrite) as staging:
        write_avatar_glb(staging / "avatar.glb", avatar.data.mesh, avatar.data.skeleton, avatar.data.skin)
        _save_avatar_state(staging / AVATAR_STATE, export_model.name, config.body.rig, fit.params.shape, offsets)
        if prompt is not None:
            report["plan"] = _write_animation(staging, prompt, avatar, export_model, seed, say, timings)
        write_ply(Mesh(vertices=body_cam, faces=fit_model.faces), staging / "body_cam.ply")
        Image.fromarray((over.clamp(0, 1).numpy() * 255).round().astype(np.uint8)).save(staging / "overlay.png")
        timings["export"] = time.perf_counter() - start
        timings["total"] = time.perf_counter() - t0
        report["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
        (staging / "result.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    log.info("created avatar in %s (%.1f s)", output_dir, timings["total"])
    return CreateResult(output_dir=output_dir, report=report, avatar=avatar)


# -------------------------------------------------------------------------------------- animate
#: Files `animate` writes (DESIGN.md section 4).
ANIMATE_OUTPUTS = ("motion.npz", "plan.json", "motion.bvh", "animation.mp4", "avatar.glb")
#: The avatar's state beside a `create` output, so `animate --avatar DIR` re-animates it
#: without refitting (shape, clothing offsets, rig; the texture is read from avatar.glb).
AVATAR_STATE = "avatar.npz"


@dataclass(frozen=True)
class AnimateResult:
    """What `animate` made: the folder, the plan as written to plan.json, the clip length."""

    output_dir: Path
    plan: dict
    duration_s: float
    timings_s: dict


def _save_avatar_state(path: Path, model_name: str, rig: str, shape: torch.Tensor, offsets: torch.Tensor | None) -> None:
    import numpy as np

    np.savez_compressed(path, body_model=np.array(model_name), rig=np.array(rig), shape=shape.detach().cpu().numpy(),
                        offsets=np.zeros(0) if offsets is None else offsets.detach().cpu().numpy().astype(np.float32))


def _load_avatar(avatar_dir: Path, rig: str | None):
    """Rebuild the avatar made by `create` in ``avatar_dir`` (no refitting)."""
    import io

    import numpy as np
    import pygltflib
    from PIL import Image

    from avatar3d.avatar import build_avatar
    from avatar3d.body import BodyConfig

    state_path = avatar_dir / AVATAR_STATE
    if not state_path.is_file():
        raise UserError(f"{avatar_dir} is not an avatar folder made by `avatar3d create` (no {AVATAR_STATE})",
                        "run `avatar3d create PHOTO -o DIR` first, then `avatar3d animate --avatar DIR ...`")
    state = np.load(state_path)
    body = BodyConfig(model=str(state["body_model"]), rig=rig or str(state["rig"]))
    model = create_body_model(body)
    offsets = torch.from_numpy(state["offsets"]) if state["offsets"].size else None
    texture = None
    glb = avatar_dir / "avatar.glb"
    if glb.is_file():
        gltf = pygltflib.GLTF2.load(str(glb))
        if gltf.images:
            view = gltf.bufferViews[gltf.images[0].bufferView]
            data = gltf.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength]
            texture = torch.from_numpy(np.array(Image.open(io.BytesIO(data)).convert("RGB")))
    return build_avatar(model, torch.from_numpy(state["shape"]).to(model.dtype), texture=texture, offsets=offsets), model


def _write_animation(staging: Path, prompt: str, avatar, model, seed: int, say, timings: dict) -> dict:
    """Plan, synthesise, retarget, render and export one prompt into ``staging``."""
    import json
    import time

    from avatar3d.avatar.animate import animate_avatar
    from avatar3d.export.bvh_writer import write_motion_bvh
    from avatar3d.export.glb_skinned import SkeletalAnimation, write_avatar_glb
    from avatar3d.motion.io import save_motion_npz
    from avatar3d.motion.parser import parse_prompt
    from avatar3d.motion.synthesis import synthesize
    from avatar3d.render.video import iter_render_animation, write_mp4

    say("planning")
    start = time.perf_counter()
    plan = parse_prompt(prompt)
    result = synthesize(plan, seed=seed)
    timings["motion"] = time.perf_counter() - start
    say("animating")
    start = time.perf_counter()
    animation = animate_avatar(avatar, model, result.motion)
    timings["retarget"] = time.perf_counter() - start
    plan_json = plan.to_json()
    plan_json["seed"] = seed
    plan_json["duration_s"] = result.duration_s
    plan_json["segments"] = [dataclasses.asdict(s) for s in result.segments]
    plan_json["warnings"] = list(plan_json.get("warnings", [])) + list(result.warnings)
    save_motion_npz(result.motion, staging / "motion.npz")
    (staging / "plan.json").write_text(json.dumps(plan_json, indent=1, ensure_ascii=False), encoding="utf-8")
    write_motion_bvh(staging / "motion.bvh", result.motion)
    say("rendering")
    start = time.perf_counter()
    mesh = avatar.data.mesh
    texture = None if mesh.texture is None else mesh.texture.to(torch.float32) / 255.0
    frames = iter_render_animation(animation.vertices(avatar), mesh.faces, mesh.uvs, mesh.face_uvs, texture, fps=animation.fps)
    write_mp4(frames, animation.fps, staging / "animation.mp4")
    timings["render"] = time.perf_counter() - start
    clip = SkeletalAnimation.from_transforms(avatar.data.skeleton, animation.transforms, animation.fps)
    write_avatar_glb(staging / "avatar.glb", mesh, avatar.data.skeleton, avatar.data.skin, clip)
    return plan_json


def animate(prompt: str, output_dir: str | Path, avatar_dir: str | Path | None = None, seed: int = 0,
            overwrite: bool = False, progress=None, rig: str | None = None) -> AnimateResult:
    """Text -> motion on an avatar made by `create` (``avatar_dir``) or the default body.

    Writes motion.npz, plan.json, motion.bvh, animation.mp4 and an animated avatar.glb
    (DESIGN.md section 4) atomically into ``output_dir``.
    """
    import time

    from avatar3d.avatar import build_avatar
    from avatar3d.body import BodyConfig
    from avatar3d.utils.atomic import atomic_output_dir, check_output_dir

    say = progress or (lambda stage: None)
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError("the prompt is empty", "describe a motion, e.g. 'walk forward 2 meters and wave'")
    output_dir = check_output_dir(output_dir, overwrite)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if avatar_dir is not None:
        avatar, model = _load_avatar(Path(avatar_dir), rig)
    else:
        model = create_body_model(BodyConfig(rig=rig or "anny"))
        avatar = build_avatar(model, model.default_params(1).shape)
    with atomic_output_dir(output_dir, overwrite=overwrite) as staging:
        plan_json = _write_animation(staging, prompt, avatar, model, seed, say, timings)
        timings["total"] = time.perf_counter() - t0
    return AnimateResult(output_dir=output_dir, plan=plan_json, duration_s=float(plan_json["duration_s"]),
                         timings_s={k: round(v, 3) for k, v in timings.items()})
