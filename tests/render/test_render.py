import torch

from avatar3d.core import Camera
from avatar3d.core.frames import FRONT_CAMERA_ROTATION, frame_matrix
from avatar3d.core.joints import COCO17
from avatar3d.render import camera_points_to_clip, intrinsics_from_fov, rasterize_world, render_textured, soft_silhouette
from avatar3d.render.camera import look_at_front


def test_clip_space_reproduces_pinhole_projection():
    K = torch.tensor([[600.0, 0.0, 310.0], [0.0, 590.0, 250.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    cam = Camera(K=K, R=torch.eye(3, dtype=torch.float64), t=torch.zeros(3, dtype=torch.float64), width=640, height=480)
    pts = torch.tensor([[0.1, -0.2, 2.0], [-0.5, 0.3, 4.0]], dtype=torch.float64)
    clip = camera_points_to_clip(pts, cam)
    u = (clip[:, 0] / clip[:, 3] + 1) * 640 / 2
    v = (clip[:, 1] / clip[:, 3] + 1) * 480 / 2
    assert torch.allclose(torch.stack((u, v), -1), cam.project(pts), atol=1e-9)
    depth = clip[:, 2] / clip[:, 3]
    assert bool((depth > -1).all() and (depth < 1).all()) and depth[0] < depth[1]  # nearer is smaller


def test_look_at_front_matches_the_front_camera_convention():
    K = intrinsics_from_fov(256, 256, 50.0)
    cam = look_at_front(torch.tensor([0.0, 1.0, 0.0]), 3.0, K, 256, 256)
    assert torch.allclose(cam.R, frame_matrix(FRONT_CAMERA_ROTATION))
    assert torch.allclose(cam.world_to_camera(torch.tensor([0.0, 1.0, 0.0])), torch.tensor([0.0, 0.0, 3.0]))
    tilted = look_at_front(torch.tensor([0.0, 1.0, 0.0]), 3.0, K, 256, 256, elevation_m=1.0)
    assert torch.allclose(tilted.R @ tilted.R.T, torch.eye(3), atol=1e-6) and torch.det(tilted.R) > 0
    assert tilted.world_to_camera(torch.tensor([0.0, 1.0, 0.0]))[:2].abs().max() < 1e-5  # target centred


def front_view(anny_body, size=256):
    out = anny_body.forward(anny_body.default_params(1))
    K = intrinsics_from_fov(size, size, 40.0)
    cam = look_at_front(torch.tensor([0.0, 0.85, 0.0]), 3.2, K, size, size)
    return out, cam


def test_body_silhouette_and_keypoints_agree(anny_body):
    out, cam = front_view(anny_body)
    frags = rasterize_world(out.vertices.detach(), anny_body.faces, cam)
    mask = frags.coverage[0]
    assert 0.03 < float(mask.mean()) < 0.5
    uv = cam.project(cam.world_to_camera(out.coco17[0].detach()))
    for name in ("nose", "left_shoulder", "right_hip", "left_knee"):
        u, v = uv[COCO17.index(name)]
        assert mask[int(v), int(u)] == 1, name  # pixel rows are v, columns u
    lw, rw = uv[COCO17.index("left_wrist")], uv[COCO17.index("right_wrist")]
    assert lw[0] > rw[0]  # facing the camera: the person's left is on the image's right
    assert uv[COCO17.index("nose")][1] < uv[COCO17.index("left_ankle")][1]  # head above feet


def test_soft_silhouette_has_gradients_to_vertices(anny_body):
    out, cam = front_view(anny_body, 128)
    verts = out.vertices.detach().clone().requires_grad_(True)
    sil = soft_silhouette(rasterize_world(verts, anny_body.faces, cam))
    target = torch.zeros_like(sil)
    ((sil - target) ** 2).sum().backward()
    assert verts.grad is not None and float(verts.grad.abs().sum()) > 0
    # only silhouette vertices get a gradient from a mask loss: far fewer than all of them
    moved = (verts.grad.abs().sum(-1) > 0).sum()
    assert 0 < int(moved) < verts.shape[1] // 2


def test_textured_render_shows_the_texture(anny_body):
    out, cam = front_view(anny_body, 128)
    tex = torch.zeros(64, 64, 3)
    tex[:, :32, 0] = 1.0  # left half of the UV map red
    tex[:, 32:, 2] = 1.0  # right half blue
    rgb, alpha = render_textured(out.vertices.detach(), anny_body.faces, anny_body.uvs, anny_body.face_uvs, tex, cam)
    covered = alpha[0] > 0
    colours = rgb[0][covered]
    assert float(colours[:, 0].max()) > 0.3 and float(colours[:, 2].max()) > 0.3
    assert float(colours[:, 1].max()) < 0.05  # no green anywhere in the texture, none in the render
    # background stays black away from the antialiased silhouette edge
    near_edge = torch.nn.functional.max_pool2d(alpha[None], 3, stride=1, padding=1)[0, 0] > 0
    assert float(rgb[0][~near_edge].abs().max()) == 0.0
