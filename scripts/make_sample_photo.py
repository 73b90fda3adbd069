"""Render the full-body sample photo ``assets/samples/person_fullbody.png`` (and its ground truth).

An Anny body (default phenotype) in a relaxed standing pose, painted with clothing colours by
skinning-bone groups and vertex position, Lambert-shaded, over a wall-and-floor background,
rasterised with ``avatar3d.ops`` at 2x and box-downsampled (anti-aliasing).  The camera is the
project's default camera for the image size (``default_intrinsics``: focal = image diagonal),
looking horizontally at the body from the front, so the sample doubles as a fitting fixture:
``person_fullbody.json`` holds K, R, t, the body parameters and the projected COCO-17 keypoints.

    ANNY_CACHE_DIR=/work/anny_cache python scripts/make_sample_photo.py [--out assets/samples]

Deterministic: the same code and Anny version give the same pixels.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar3d import ops  # noqa: E402
from avatar3d.body import create_body_model  # noqa: E402
from avatar3d.core import Mesh  # noqa: E402
from avatar3d.core.joints import COCO17, SMPL22  # noqa: E402
from avatar3d.utils.images import default_intrinsics  # noqa: E402

log = logging.getLogger("make_sample_photo")

WIDTH, HEIGHT = 512, 768
SUPERSAMPLE = 2
#: Fraction of the image height the standing body spans.
BODY_FILL = 0.84
NEAR_M, FAR_M = 0.1, 20.0
#: The wall behind the person (metres behind the body's centre) and the light direction
#: (world frame, pointing towards the light: front, above, from the person's right).
WALL_Z = -0.8
LIGHT_DIR = (-0.35, 0.55, 1.0)
AMBIENT = 0.38

COLOURS = {  # sRGB 0-255
    "skin": (224, 172, 140),
    "shirt": (40, 96, 170),
    "trousers": (58, 52, 48),
    "shoes": (92, 58, 40),
    "hair": (62, 40, 28),
    "eye_white": (236, 236, 230),
    "iris": (45, 35, 30),
    "brow": (70, 48, 34),
    "lips": (176, 92, 90),
}

#: Degrees; rotations in world-aligned axes relative to Anny's rest pose (an A-pose: upper
#: arms ~48 degrees below horizontal, forearms bent slightly forward, feet apart).  Arms a bit
#: lowered (~25 degrees from the body), feet a little closer.
POSE_DEG = {
    "upperarm01.L": ("z", -18.0), "upperarm01.R": ("z", 18.0),
    "upperleg01.L": ("z", -2.5), "upperleg01.R": ("z", 2.5),
}


def axis_rotation(axis: str, degrees: float) -> torch.Tensor:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    if axis == "x":
        return torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]])


#: Skinning-bone groups (by bone-name prefix) that the painting rules refer to; "other" =
#: neck, wrists, hands.
GROUPS = {
    "torso": ("spine", "clavicle", "shoulder01", "root", "pelvis"),
    "legs": ("upperleg", "lowerleg"),
    "feet": ("foot", "toe"),
    "head": ("head",),
    "eye": ("eye",),
    "arm": ("upperarm", "lowerarm"),
}
GROUP_NAMES = (*GROUPS, "other")


def bone_groups(model) -> torch.Tensor:
    """``[V, G]`` one-hot group of each vertex's dominant skinning bone (G = len(GROUP_NAMES))."""
    names = model.bone_names
    dominant = model.skin.indices.gather(1, model.skin.weights.argmax(1, keepdim=True))[:, 0]
    ids = []
    for i in dominant.tolist():
        bone = names[i]
        ids.append(next((g for g, (_, pre) in enumerate(GROUPS.items()) if bone.startswith(pre)), len(GROUPS)))
    return torch.nn.functional.one_hot(torch.tensor(ids), len(GROUP_NAMES)).float()


def paint(points: np.ndarray, group: np.ndarray, rest: np.ndarray, rest_group: np.ndarray, rest_joints: dict) -> np.ndarray:
    """``[N, 3]`` float RGB in [0, 1] for surface points given by their rest-pose position
    ``points`` ``[N, 3]`` and bone group ``group`` ``[N]`` (indices into GROUP_NAMES); ``rest``
    / ``rest_group`` are the whole mesh's, for landmarks (eye height, head front)."""
    g = {name: group == i for i, name in enumerate(GROUP_NAMES)}
    vg = {name: rest_group == i for i, name in enumerate(GROUP_NAMES)}
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    labels = np.full(len(points), "skin", dtype=object)
    waist_y = float(rest_joints["pelvis"][1]) + 0.09
    neckline_y = float(rest_joints["left_collar"][1]) + 0.035 - 0.25 * np.clip(z - 0.02, 0, None)
    ankle_y = 0.085
    body = g["torso"] | g["legs"]
    labels[body] = "shirt"
    labels[body & (y < waist_y)] = "trousers"
    labels[g["torso"] & (y > neckline_y)] = "skin"
    for side, shoulder in ((1, rest_joints["left_shoulder"]), (-1, rest_joints["right_shoulder"])):
        near_shoulder = np.linalg.norm(points - np.asarray(shoulder), axis=1) < 0.14
        labels[(g["arm"] | g["torso"]) & (np.sign(x) == side) & near_shoulder & (y <= neckline_y)] = "shirt"
    labels[(g["feet"] | g["legs"]) & (y < ankle_y)] = "shoes"
    labels[g["feet"]] = "shoes"
    # head: hair on top and at the back, eyes, brows, lips
    head_v, eye_v = rest[vg["head"] | vg["eye"]], rest[vg["eye"]]
    eye_y = float(eye_v[:, 1].mean())
    head_z = float(head_v[:, 2].mean())
    head_top = float(head_v[:, 1].max())
    front_z = float(head_v[:, 2].max())
    head = g["head"]
    hair = head & ((y > eye_y + 0.045) | ((z < head_z - 0.005) & (y > eye_y - 0.09)) | (y > head_top - 0.04))
    labels[hair] = "hair"
    labels[g["eye"]] = "eye_white"
    for side in (1, -1):
        one = eye_v[np.sign(eye_v[:, 0]) == side]
        cx, cy, front = one[:, 0].mean(), one[:, 1].mean(), one[:, 2].max()
        iris = g["eye"] & (np.sign(x) == side) & (np.hypot(x - cx, y - cy) < 0.0062) & (z > front - 0.006)
        labels[iris] = "iris"
    brow = head & (np.abs(y - (eye_y + 0.022)) < 0.005) & (np.abs(x) > 0.012) & (np.abs(x) < 0.05) & (z > front_z - 0.04)
    labels[brow] = "brow"
    lips = head & (np.abs(y - (eye_y - 0.072)) < 0.0065) & (np.abs(x) < 0.024) & (z > front_z - 0.03)
    labels[lips] = "lips"
    return np.array([COLOURS[name] for name in labels], dtype=np.float32).reshape(-1, 3) / 255.0


def clip_from_camera(points_cam: torch.Tensor, K: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``[V, 4]`` clip coordinates (NDC y down, z/w in [-1, 1]) of camera-frame points."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x, y, z = points_cam.unbind(-1)
    a = (FAR_M + NEAR_M) / (FAR_M - NEAR_M)
    b = -2 * FAR_M * NEAR_M / (FAR_M - NEAR_M)
    return torch.stack(
        (2 * fx / width * x + (2 * cx / width - 1) * z, 2 * fy / height * y + (2 * cy / height - 1) * z, a * z + b, z), -1
    )


def background(width: int, height: int, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` float wall (vertical gradient) and floor (y = 0), with the wall/floor line."""
    rows = (np.arange(height) + 0.5)[:, None]
    cols = (np.arange(width) + 0.5)[None, :]
    wall = np.empty((height, width, 3), np.float32)
    top, bottom = np.array([214, 216, 222]) / 255.0, np.array([184, 188, 196]) / 255.0
    ramp = (rows / height)[..., None]
    wall[:] = top * (1 - ramp) + bottom * ramp
    # floor: rows below where the wall meets the floor (world y = 0, z = WALL_Z)
    corner = K @ (R @ np.array([0.0, 0.0, WALL_Z]) + t)
    floor_v = corner[1] / corner[2]
    floor = (rows >= floor_v) & np.ones_like(cols, dtype=bool)
    depth = np.clip((rows - floor_v) / max(height - floor_v, 1.0), 0, 1)[..., None]
    floor_rgb = (np.array([168, 150, 128]) / 255.0) * (0.92 + 0.08 * depth)
    out = np.where(floor[..., None], floor_rgb, wall)
    return out.astype(np.float32)


def contact_shadow(image: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, feet_x: float, feet_z: float) -> np.ndarray:
    """Darken an ellipse of floor under the feet (soft)."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    centre = K @ (R @ np.array([feet_x, 0.0, feet_z]) + t)
    cu, cv = centre[:2] / centre[2]
    edge = K @ (R @ np.array([feet_x + 0.32, 0.0, feet_z]) + t)
    ru = abs(edge[0] / edge[2] - cu)
    rv = ru * 0.16
    d = ((xs - cu) / ru) ** 2 + ((ys - cv) / rv) ** 2
    shade = 1.0 - 0.35 * np.exp(-2.0 * d)
    return image * shade[..., None]


def render(out_dir: Path) -> dict:
    model = create_body_model()
    params = model.default_params()
    pose = params.pose.clone()
    for bone_name, (axis, deg) in POSE_DEG.items():
        pose[0, model.pose_joint_names.index(bone_name)] = axis_rotation(axis, deg)
    params = type(params)(shape=params.shape, pose=pose, global_orient=params.global_orient, transl=params.transl)
    with torch.no_grad():
        out = model.forward(params)
        rest_out = model.forward(model.default_params())
    verts = out.vertices[0].double()
    faces = out.faces
    rest_joints = {n: rest_out.smpl22[0, i].numpy() for i, n in enumerate(SMPL22)}

    # camera: horizontal, in front (+Z) of the body, looking at it (-Z); OpenCV axes
    W, H = WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE
    K = default_intrinsics(WIDTH, HEIGHT, dtype=torch.float64)
    top, bottom = float(verts[:, 1].max()), float(verts[:, 1].min())
    body_h = top - bottom
    distance = float(K[1, 1]) * body_h / (BODY_FILL * HEIGHT)
    centre_y = (top + bottom) / 2
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    cam_centre = torch.tensor([0.0, centre_y, float(verts[:, 2].mean()) + distance], dtype=torch.float64)
    t = -R @ cam_centre
    cam_pts = verts @ R.T + t
    Ks = K.clone()
    Ks[:2] *= SUPERSAMPLE
    pos_clip = clip_from_camera(cam_pts, Ks, W, H).float().contiguous()
    faces32 = faces.to(torch.int32).contiguous()
    rast = ops.rasterize(pos_clip, faces32, (H, W))

    normals = Mesh(vertices=verts, faces=faces).vertex_normals().float()
    groups = bone_groups(model)
    rest_v = rest_out.vertices[0].float()
    attrs = torch.cat((groups, rest_v, normals), 1).contiguous()
    pix = ops.interpolate(attrs, rast, faces32)[0]
    covered = (rast[0, ..., 3] > 0).numpy()
    ng = len(GROUP_NAMES)
    pix_group = pix[..., :ng].argmax(-1).numpy()[covered]
    pix_rest = pix[..., ng:ng + 3].numpy()[covered]
    albedo = np.zeros((H, W, 3), np.float32)
    albedo[covered] = paint(pix_rest, pix_group, rest_v.numpy(), groups.argmax(1).numpy(), rest_joints)
    n = torch.nn.functional.normalize(pix[..., ng + 3:], dim=-1).numpy()
    light = np.array(LIGHT_DIR) / np.linalg.norm(LIGHT_DIR)
    lambert = np.clip(n @ light, 0.0, 1.0)
    shaded = albedo * (AMBIENT + (1 - AMBIENT) * lambert)[..., None]

    Kn, Rn, tn = Ks.numpy(), R.numpy(), t.numpy()
    bg = background(W, H, Kn, Rn, tn)
    bg = contact_shadow(bg, Kn, Rn, tn, 0.0, float(verts[verts[:, 1] < 0.05][:, 2].mean()))
    img = np.where(covered[..., None], shaded, bg)
    img8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    photo = Image.fromarray(img8).reduce(SUPERSAMPLE)
    out_dir.mkdir(parents=True, exist_ok=True)
    photo.save(out_dir / "person_fullbody.png", optimize=True)

    coco_cam = out.coco17[0].double() @ R.T + t
    uv = (coco_cam @ K.T)[:, :2] / (coco_cam @ K.T)[:, 2:3]
    truth = {
        "image": {"width": WIDTH, "height": HEIGHT},
        "made_by": "scripts/make_sample_photo.py",
        "body_model": "anny",
        "camera": {"K": K.tolist(), "R": R.tolist(), "t": t.tolist()},
        "params": {
            "shape": params.shape[0].tolist(),
            "shape_names": list(model.shape_names),
            "pose_deg": {k: list(v) for k, v in POSE_DEG.items()},
        },
        "keypoints2d": {name: [round(float(a), 2) for a in uv[i]] for i, name in enumerate(COCO17)},
        "keypoints3d": {name: [round(float(a), 4) for a in coco_cam[i]] for i, name in enumerate(COCO17)},
    }
    (out_dir / "person_fullbody.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "samples")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    truth = render(args.out)
    log.info("wrote %s (body %.2f m in front of the camera)", args.out / "person_fullbody.png", truth["camera"]["t"][2])


if __name__ == "__main__":
    main()
